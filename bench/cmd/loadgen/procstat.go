package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// procStats is what the tool can see of a broker from outside: resident
// memory, open descriptors and threads. Goroutines are not visible from
// outside a Go process but through its pprof endpoint (readGoroutines).
type procStats struct {
	rss     int64 // bytes, VmRSS
	hwm     int64 // bytes, VmHWM: the peak RSS since start or the last resetPeakRSS
	fds     int64 // entries of /proc/PID/fd
	threads int64 // Threads line of /proc/PID/status
}

func readProcStats(pid int) (procStats, error) {
	var s procStats
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Bytes()
		if v, ok := vmRSSLine(line); ok {
			s.rss = v
		} else if v, ok := statusKB(line, "VmHWM:"); ok {
			s.hwm = v
		} else if v, ok := statusNumber(line, "Threads:"); ok {
			s.threads = v
		}
	}
	n, err := countFDs(pid)
	if err != nil {
		return s, err
	}
	s.fds = n
	return s, nil
}

// statusNumber parses a "Name:\t123" line of /proc/PID/status.
func statusNumber(line []byte, prefix string) (int64, bool) {
	rest, ok := bytes.CutPrefix(line, []byte(prefix))
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseInt(string(bytes.TrimSpace(rest)), 10, 64)
	return v, err == nil
}

// countFDs counts the open descriptors of pid. Reading another user's
// /proc/PID/fd needs the right to trace it (root here).
func countFDs(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var n int64
	for {
		names, err := f.Readdirnames(1024)
		n += int64(len(names))
		if err != nil || len(names) == 0 {
			break
		}
	}
	return n, nil
}

// alive reports whether process pid still exists (signal 0 checks without
// sending anything).
func alive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

// resetPeakRSS sets process pid's VmHWM back to its current RSS (writing 5
// to /proc/PID/clear_refs, Linux 4.0 on; another user's process needs root).
func resetPeakRSS(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// peakSampler keeps the highest RSS and descriptor count of a process while
// it runs. The RSS peak is the kernel's own (VmHWM, reset when sampling
// starts) where it could be reset: a sample every interval can miss a peak
// that lasts less than one.
type peakSampler struct {
	pid     int
	hwm     bool // VmHWM was reset at the start
	mu      sync.Mutex
	rss     int64
	fds     int64
	stop    chan struct{}
	stopped chan struct{}
}

// samplePeaks starts sampling pid; with pid 0 it samples nothing.
func samplePeaks(pid int, every time.Duration) *peakSampler {
	p := &peakSampler{pid: pid, stop: make(chan struct{}), stopped: make(chan struct{})}
	p.hwm = pid != 0 && resetPeakRSS(pid) == nil
	go func() {
		defer close(p.stopped)
		if pid == 0 {
			return
		}
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if s, err := readProcStats(pid); err == nil {
				p.mu.Lock()
				p.rss, p.fds = max(p.rss, s.rss), max(p.fds, s.fds)
				p.mu.Unlock()
			}
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
		}
	}()
	return p
}

// done stops the sampler and returns the peaks.
func (p *peakSampler) done() (rss, fds int64) {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.stopped
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.hwm {
		if s, err := readProcStats(p.pid); err == nil && s.hwm > 0 {
			p.rss = max(p.rss, s.hwm)
		}
	}
	return p.rss, p.fds
}

// readGoroutines reads the goroutine count from a Go program's goroutine
// profile in text form (net/http/pprof's /debug/pprof/goroutine?debug=1,
// whose first line is "goroutine profile: total N"). Each reading opens its
// own connection and closes it, so the server's goroutine for the previous
// one has gone by the next.
func readGoroutines(url string) (int64, error) {
	cl := http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := cl.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: %s", url, resp.Status)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil && line == "" {
		return 0, fmt.Errorf("%s: %w", url, err)
	}
	var n int64
	if _, err := fmt.Sscanf(line, "goroutine profile: total %d", &n); err != nil {
		return 0, fmt.Errorf("%s: not a goroutine profile: %q", url, strings.TrimSpace(line))
	}
	return n, nil
}
