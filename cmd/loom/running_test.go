package main

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// running is the binary started by a test, its log read as it comes.
type running struct {
	t     *testing.T
	cmd   *exec.Cmd
	mu    sync.Mutex
	cond  *sync.Cond
	lines []string
	eof   bool
	done  chan error
}

// startLoom runs the binary with args and reads its log (standard error).
func startLoom(t *testing.T, args ...string) *running {
	t.Helper()
	r := &running{t: t, cmd: exec.Command(buildLoom(t), args...), done: make(chan error, 1)}
	r.cond = sync.NewCond(&r.mu)
	stderr, err := r.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, r.cmd.Start())
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			r.mu.Lock()
			r.lines = append(r.lines, sc.Text())
			r.cond.Broadcast()
			r.mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, stderr)
		r.mu.Lock()
		r.eof = true
		r.cond.Broadcast()
		r.mu.Unlock()
		r.done <- r.cmd.Wait()
	}()
	t.Cleanup(func() {
		if r.cmd.ProcessState == nil {
			_ = r.cmd.Process.Kill()
			<-r.done
		}
	})
	return r
}

// waitLine waits for a log line from the from-th on that matches re, and
// returns its number and its submatches.
func (r *running) waitLine(from int, re string) (int, []string) {
	r.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(20 * time.Second)
	timer := time.AfterFunc(20*time.Second, func() { r.mu.Lock(); r.cond.Broadcast(); r.mu.Unlock() })
	defer timer.Stop()
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := from; ; {
		for ; i < len(r.lines); i++ {
			if m := rx.FindStringSubmatch(r.lines[i]); m != nil {
				return i, m
			}
		}
		if r.eof || time.Now().After(deadline) {
			r.t.Fatalf("no log line matches %q; the log:\n%s", re, strings.Join(r.lines, "\n"))
		}
		r.cond.Wait()
	}
}

// log is the log so far, and its number of lines.
func (r *running) log() (string, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.lines, "\n"), len(r.lines)
}

// addrs are the addresses the broker said it listens on, in order.
func (r *running) addrs(n int) []string {
	r.t.Helper()
	var out []string
	at := 0
	for len(out) < n {
		i, m := r.waitLine(at, `msg=listening addr=(\S+)`)
		out, at = append(out, m[1]), i+1
	}
	return out
}

// signal sends s to the broker.
func (r *running) signal(s syscall.Signal) {
	r.t.Helper()
	require.NoError(r.t, r.cmd.Process.Signal(s))
}

// exit waits for the broker to exit, at most d, and returns its status
// and how long it took.
func (r *running) exit(d time.Duration) (int, time.Duration) {
	r.t.Helper()
	start := time.Now()
	select {
	case <-r.done:
		return r.cmd.ProcessState.ExitCode(), time.Since(start)
	case <-time.After(d):
		log, _ := r.log()
		r.t.Fatalf("the broker did not exit within %v; the log:\n%s", d, log)
	}
	return 0, 0
}

// writeFile writes a file of the test's, failing it on error.
func writeFile(t *testing.T, name, text string) {
	t.Helper()
	require.NoError(t, os.WriteFile(name, []byte(text), 0o600))
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	require.NoError(t, err)
	writeFile(t, to, string(b))
}
