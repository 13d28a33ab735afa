package main

import "testing"

func TestCheckLoopback(t *testing.T) {
	tests := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:1884", true},
		{"127.1.2.3:20000", true},
		{"[::1]:8883", true},
		{"localhost:1884", false}, // names are not resolved
		{"10.0.0.1:1884", false},
		{"0.0.0.0:1884", false}, // unspecified reaches every interface
		{"[::]:1884", false},
		{"192.168.1.1:1884", false},
		{"8.8.8.8:53", false},
		{"127.0.0.1:0", false},
		{"127.0.0.1:65536", false},
		{"127.0.0.1:x", false},
		{"127.0.0.1", false},
		{"", false},
	}
	for _, tt := range tests {
		err := checkLoopback(tt.addr)
		if (err == nil) != tt.ok {
			t.Errorf("checkLoopback(%q) = %v, want ok=%v", tt.addr, err, tt.ok)
		}
	}
}
