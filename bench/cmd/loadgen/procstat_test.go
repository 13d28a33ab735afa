package main

import (
	"os"
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
