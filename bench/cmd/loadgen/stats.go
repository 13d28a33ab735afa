package main

import (
	"math"
	"slices"
	"time"

	"github.com/loom-mqtt/loom/bench/internal/runs"
)

// percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method: the smallest sample with at least p% of the samples at
// or below it. Nearest rank never invents a value between two samples, so a
// reported p99 is a latency some message really had. Zero for no samples.
func percentile(sorted []int64, p float64) int64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

// latencySummary sorts samples (nanoseconds) in place and returns p50, p99
// and the maximum.
func latencySummary(samples []int64) (p50, p99, maxv time.Duration) {
	if len(samples) == 0 {
		return 0, 0, 0
	}
	slices.Sort(samples)
	return time.Duration(percentile(samples, 50)), time.Duration(percentile(samples, 99)),
		time.Duration(samples[len(samples)-1])
}

// median of xs (not modified); the mean of the middle two for an even count;
// NaN for none.
func median(xs []float64) float64 { return runs.Median(xs) }

// rate is count per second over d; zero when d is not positive, so an empty
// window never prints as infinity.
func rate(count int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(count) / d.Seconds()
}
