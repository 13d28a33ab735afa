package main

import (
	"os"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestStatusNumber(t *testing.T) {
	tests := []struct {
		line   string
		want   int64
		wantOK bool
	}{
		{"Threads:\t7", 7, true},
		{"Threads:   12 ", 12, true},
		{"Threads:\tx", 0, false},
		{"VmRSS:\t 10 kB", 0, false},
	}
	for _, tt := range tests {
		got, ok := statusNumber([]byte(tt.line), "Threads:")
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("statusNumber(%q) = %d, %v; want %d, %v", tt.line, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestReadProcStatsSelf(t *testing.T) {
	s, err := readProcStats(os.Getpid())
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	if s.rss <= 0 || s.fds < 3 || s.threads < 1 {
		t.Fatalf("implausible stats of this process: %+v", s)
	}
	p := samplePeaks(os.Getpid(), time.Millisecond)
	time.Sleep(5 * time.Millisecond)
	if rss, fds := p.done(); rss <= 0 || fds < 3 {
		t.Fatalf("sampler peaks rss %d fds %d", rss, fds)
	}
	if !alive(os.Getpid()) {
		t.Fatal("this process is not alive?")
	}
}

// A peak that comes and goes between two samples is still reported: the
// sampler takes the kernel's high-water mark at the end.
func TestPeakBetweenSamples(t *testing.T) {
	pid := os.Getpid()
	if resetPeakRSS(pid) != nil {
		t.Skip("cannot reset VmHWM here")
	}
	before, err := readRSS(pid)
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	p := samplePeaks(pid, time.Hour) // one sample, at the start
	time.Sleep(20 * time.Millisecond)
	b := make([]byte, 48<<20)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	runtime.KeepAlive(b)
	b = nil
	debug.FreeOSMemory()
	if now, _ := readRSS(pid); now > before+24<<20 {
		t.Skipf("the runtime kept the memory (RSS %d, before %d): nothing to test", now, before)
	}
	if rss, _ := p.done(); rss < before+40<<20 {
		t.Fatalf("peak RSS %d, want at least %d: the 48 MiB touched between samples was missed", rss, before+40<<20)
	}
}
