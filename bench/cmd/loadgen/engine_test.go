package main

import (
	"errors"
	"sync/atomic"
	"testing"
)

func TestTrafficExpected(t *testing.T) {
	tests := []struct {
		name      string
		subs      []string
		pubs      []string
		perPub    int
		wantTotal int64
	}{
		{"fanout 3 subs", []string{"a", "a", "a"}, []string{"a"}, 10, 30},
		{"pubsub own topics", []string{"a", "b"}, []string{"a", "b"}, 10, 20},
		{"publisher nobody hears", []string{"a"}, []string{"a", "z"}, 5, 5},
		{"two publishers one topic", []string{"a", "a"}, []string{"a", "a"}, 4, 16},
		{"nothing", nil, nil, 10, 0},
	}
	for _, tt := range tests {
		tr := traffic{subTopics: tt.subs, pubTopics: tt.pubs, perPub: tt.perPub}
		if got := tr.expected(); got != tt.wantTotal {
			t.Errorf("%s: expected() = %d, want %d", tt.name, got, tt.wantTotal)
		}
	}
}

func TestParallel(t *testing.T) {
	var calls atomic.Int64
	seen := make([]atomic.Bool, 1000)
	if err := parallel(1000, 7, func(i int) error {
		calls.Add(1)
		if seen[i].Swap(true) {
			t.Errorf("index %d called twice", i)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 1000 {
		t.Fatalf("%d calls, want 1000", calls.Load())
	}

	// After a failure no new call starts; with one worker that makes the
	// count exact.
	calls.Store(0)
	boom := errors.New("boom")
	err := parallel(1000, 1, func(i int) error {
		calls.Add(1)
		if i == 10 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	if calls.Load() != 11 {
		t.Fatalf("%d calls after a failure at index 10", calls.Load())
	}

	if err := parallel(0, 4, func(int) error { t.Error("called for n=0"); return nil }); err != nil {
		t.Fatal(err)
	}
}
