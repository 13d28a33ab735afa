package main

import (
	"os"
	"testing"
)

func TestVmRSSLine(t *testing.T) {
	tests := []struct {
		line string
		want int64
		ok   bool
	}{
		{"VmRSS:\t    5432 kB", 5432 * 1024, true},
		{"VmRSS: 0 kB", 0, true},
		{"VmHWM:\t    5432 kB", 0, false},
		{"VmRSS:\t    5432 MB", 0, false},
		{"VmRSS:", 0, false},
	}
	for _, tt := range tests {
		got, ok := vmRSSLine([]byte(tt.line))
		if got != tt.want || ok != tt.ok {
			t.Errorf("vmRSSLine(%q) = %d, %v; want %d, %v", tt.line, got, ok, tt.want, tt.ok)
		}
	}
}

func TestReadRSSOfSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc on this system")
	}
	rss, err := readRSS(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// A running Go test binary is at least a megabyte resident and not
	// tens of gigabytes; anything outside that is a parsing error.
	if rss < 1<<20 || rss > 32<<30 {
		t.Fatalf("readRSS(self) = %d bytes, implausible", rss)
	}
}
