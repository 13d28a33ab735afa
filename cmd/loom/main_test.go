package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/proto"
)

// TestBinaryServesAndStopsOnSignal builds cmd/loom, runs it on a free
// port, completes a CONNECT against it, and stops it with SIGTERM: the
// exit must be clean (status 0).
func TestBinaryServesAndStopsOnSignal(t *testing.T) {
	bin := buildLoom(t)

	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		cmd := exec.Command(bin, "-listen", "127.0.0.1:0", "-data-dir", filepath.Join(t.TempDir(), "data"))
		stderr, err := cmd.StderrPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())

		addrs := make(chan string, 1)
		go func() {
			re := regexp.MustCompile(`msg=listening addr=(\S+)`)
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				if m := re.FindStringSubmatch(sc.Text()); m != nil {
					addrs <- m[1]
				}
			}
		}()
		var addr string
		select {
		case addr = <-addrs:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatal("broker did not say where it listens")
		}

		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		_, err = c.Write((&proto.Connect{Version: proto.V311, CleanStart: true, ClientID: []byte("bin")}).Append(nil, proto.V311))
		require.NoError(t, err)
		require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
		ack := make([]byte, 4)
		_, err = io.ReadFull(c, ack)
		require.NoError(t, err)
		require.Equal(t, []byte{0x20, 0x02, 0x00, 0x00}, ack) // CONNACK accepted
		_ = c.Close()

		require.NoError(t, cmd.Process.Signal(sig))
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			require.NoError(t, err, "exit after %v", sig)
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("broker did not exit after %v", sig)
		}
	}
}

// TestBinarySecondBrokerOnTheSameFolder starts a broker, then a second on
// the same data folder: the second exits 1 saying the folder is locked by
// the first, with its pid, and what to do.
func TestBinarySecondBrokerOnTheSameFolder(t *testing.T) {
	bin := buildLoom(t)
	data := filepath.Join(t.TempDir(), "data")
	first := exec.Command(bin, "-listen", "127.0.0.1:0", "-data-dir", data)
	stderr, err := first.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, first.Start())
	defer func() {
		_ = first.Process.Signal(syscall.SIGTERM)
		_ = first.Wait()
	}()
	listening := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "msg=listening") {
				close(listening)
				break
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	select {
	case <-listening:
	case <-time.After(20 * time.Second):
		t.Fatal("the first broker did not start")
	}

	out, err := exec.Command(bin, "-listen", "127.0.0.1:0", "-data-dir", data).CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, string(out))
	require.Equal(t, 1, exit.ExitCode(), string(out))
	require.Contains(t, string(out), fmt.Sprintf("the data folder %s is locked by another running broker (pid %d)", data, first.Process.Pid))
	require.Contains(t, string(out), `hint="stop that broker first, or give this one another folder with -data-dir"`)
	require.NotContains(t, string(out), "resource temporarily unavailable")
}

// TestBinaryVersion: -version's line has its shape, and the commit, when
// the build stamped one (a build from a git checkout), is the checkout's.
func TestBinaryVersion(t *testing.T) {
	out, err := exec.Command(buildLoom(t), "-version").Output()
	require.NoError(t, err)
	line := strings.TrimSuffix(string(out), "\n")
	m := versionRE.FindStringSubmatch(line)
	require.NotNil(t, m, line)
	if m[1] == "unknown" {
		t.Logf("%s (no commit stamped: not a plain git checkout, or GOFLAGS=-buildvcs=false)", line)
		return
	}
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(head), strings.TrimSuffix(m[1], "+dirty")), "%s, HEAD %s", line, head)
}

// Safe by default: the real binary, asked to listen on every interface
// with nobody authenticating clients, exits non-zero before it binds,
// naming the flags; -allow-anonymous accepts the risk.
func TestBinaryRefusesAnExposedListenerWithoutAuth(t *testing.T) {
	bin := buildLoom(t)
	cmd := exec.Command(bin, "-memory", "-listen", "0.0.0.0:0")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	require.Equal(t, 2, exit.ExitCode())
	require.Contains(t, string(out), "reachable from the network")
	require.Contains(t, string(out), "-allow-anonymous")

	// Accepted with the flag: it starts (and is stopped at once).
	cmd = exec.Command(bin, "-memory", "-listen", "0.0.0.0:0", "-allow-anonymous", "-log-level", "info")
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "listening") {
			break
		}
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, cmd.Wait())
}
