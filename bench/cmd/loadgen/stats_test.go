package main

import (
	"math"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	hundred := make([]int64, 100)
	for i := range hundred {
		hundred[i] = int64(i + 1) // 1..100
	}
	tests := []struct {
		name   string
		sorted []int64
		p      float64
		want   int64
	}{
		{"empty", nil, 50, 0},
		{"one sample p50", []int64{7}, 50, 7},
		{"one sample p99", []int64{7}, 99, 7},
		{"two samples p50 is the lower", []int64{1, 9}, 50, 1},
		{"two samples p51 is the upper", []int64{1, 9}, 51, 9},
		{"1..100 p50", hundred, 50, 50},
		{"1..100 p99", hundred, 99, 99},
		{"1..100 p100", hundred, 100, 100},
		{"1..100 p0.5 clamps to first", hundred, 0.5, 1},
		{"1..100 p0 clamps to first", hundred, 0, 1},
		{"ten samples p99 is the max", []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 99, 10},
		{"ten samples p90", []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 90, 9},
	}
	for _, tt := range tests {
		if got := percentile(tt.sorted, tt.p); got != tt.want {
			t.Errorf("%s: percentile(p=%v) = %d, want %d", tt.name, tt.p, got, tt.want)
		}
	}
}

func TestLatencySummarySortsInPlace(t *testing.T) {
	s := []int64{50, 10, 40, 30, 20}
	p50, p99, maxv := latencySummary(s)
	if p50 != 30 || p99 != 50 || maxv != 50 {
		t.Fatalf("latencySummary = %v %v %v, want 30 50 50", p50, p99, maxv)
	}
	if s[0] != 10 || s[4] != 50 {
		t.Fatalf("samples not sorted: %v", s)
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		xs   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{10, 10, 1000}, 10}, // one outlier round does not move it
	}
	for _, tt := range tests {
		if got := median(tt.xs); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.xs, got, tt.want)
		}
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median(nil) should be NaN")
	}
	in := []float64{3, 1, 2}
	median(in)
	if in[0] != 3 {
		t.Error("median modified its input")
	}
}

func TestRate(t *testing.T) {
	if got := rate(500, 250*time.Millisecond); got != 2000 {
		t.Errorf("rate = %v, want 2000", got)
	}
	if got := rate(500, 0); got != 0 {
		t.Errorf("rate over an empty window = %v, want 0", got)
	}
}
