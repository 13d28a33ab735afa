package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/pprof"
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

func TestReadGoroutines(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "goroutine profile: total 42\n7 @ 0x1 0x2\n")
	})
	mux.HandleFunc("/other", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "heap profile: 1: 2 [3: 4] @ heap/1048576\n")
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	n, err := readGoroutines(srv.URL + "/ok")
	if err != nil || n != 42 {
		t.Fatalf("got %d, %v; want 42", n, err)
	}
	if _, err := readGoroutines(srv.URL + "/other"); err == nil {
		t.Error("a heap profile read as a goroutine count")
	}
	if _, err := readGoroutines(srv.URL + "/missing"); err == nil {
		t.Error("a 404 read as a goroutine count")
	}
}

// A real Go program's profile, read the way the storm reads Loom's.
func TestReadGoroutinesLive(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/goroutine", func(w http.ResponseWriter, r *http.Request) {
		pprof.Handler("goroutine").ServeHTTP(w, r)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	n, err := readGoroutines(srv.URL + "/debug/pprof/goroutine?debug=1")
	if err != nil || n < 1 {
		t.Fatalf("got %d, %v", n, err)
	}
}
