package main

import "testing"

func TestSourcesSet(t *testing.T) {
	tests := []struct {
		n       int
		addr    string
		wantN   int
		wantErr bool
	}{
		{1, "127.0.0.1:1883", 0, false},
		{0, "[::1]:1883", 0, false}, // one address: nothing to check
		{8, "127.0.0.1:1883", 8, false},
		{8, "[::1]:1883", 0, true},
		{255, "127.0.0.1:1883", 0, true},
	}
	for _, tt := range tests {
		var s sources
		err := s.set(tt.n, tt.addr)
		if (err != nil) != tt.wantErr || (err == nil && s.n != tt.wantN) {
			t.Errorf("set(%d, %q): n %d err %v; want n %d, error %v", tt.n, tt.addr, s.n, err, tt.wantN, tt.wantErr)
		}
	}
}

func TestSourcesRotate(t *testing.T) {
	var s sources
	if s.local() != nil {
		t.Fatal("unset sources chose an address")
	}
	if err := s.set(3, "127.0.0.1:1883"); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for range 30 {
		a := s.local()
		if !a.IP.IsLoopback() || a.Port != 0 {
			t.Fatalf("source %v: want a loopback address with port 0", a)
		}
		seen[a.IP.String()]++
	}
	for _, ip := range []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"} {
		if seen[ip] != 10 {
			t.Errorf("%s used %d times of 30, want 10 (%v)", ip, seen[ip], seen)
		}
	}
}
