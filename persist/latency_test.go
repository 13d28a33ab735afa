package persist

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLatencyBuckets(t *testing.T) {
	var l latency
	for _, d := range []time.Duration{
		10 * time.Microsecond,  // ≤ 50µs
		50 * time.Microsecond,  // ≤ 50µs: a bound is inclusive
		300 * time.Microsecond, // ≤ 500µs
		3 * time.Second,        // ≤ 5s
		time.Minute,            // past the last bound: +Inf only
	} {
		l.observe(d)
	}
	s := l.snapshot()
	require.Len(t, s.Counts, len(s.Bounds))
	at := func(b time.Duration) uint64 {
		for i, x := range s.Bounds {
			if x == b {
				return s.Counts[i]
			}
		}
		t.Fatalf("no bound %v", b)
		return 0
	}
	require.Equal(t, uint64(2), at(50*time.Microsecond))
	require.Equal(t, uint64(2), at(250*time.Microsecond))
	require.Equal(t, uint64(3), at(500*time.Microsecond))
	require.Equal(t, uint64(3), at(2500*time.Millisecond))
	require.Equal(t, uint64(4), at(5*time.Second))
	require.Equal(t, uint64(5), s.Count)
	require.Equal(t, 10*time.Microsecond+50*time.Microsecond+300*time.Microsecond+3*time.Second+time.Minute, s.Sum)
	s.Bounds[0] = 0 // a snapshot is the caller's
	require.Equal(t, 50*time.Microsecond, l.snapshot().Bounds[0])
}

// The writer times its commits, and under SyncInterval the fsyncs its
// timer makes apart from them.
func TestStoreTimesCommitsAndSyncs(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir(), Sync: SyncInterval, Interval: 5 * time.Millisecond})
	require.NoError(t, err)
	defer s.Close()
	require.Zero(t, s.CommitLatency().Count)
	s.PutInbound("c", 1)
	require.Eventually(t, func() bool { return s.CommitLatency().Count >= 1 }, 10*time.Second, time.Millisecond)
	require.Eventually(t, func() bool { return s.SyncLatency().Count >= 1 }, 10*time.Second, time.Millisecond,
		"the interval's fsync")
	c := s.CommitLatency()
	require.Positive(t, c.Sum)
	for i := 1; i < len(c.Counts); i++ {
		require.GreaterOrEqual(t, c.Counts[i], c.Counts[i-1], "cumulative")
	}
	require.LessOrEqual(t, c.Counts[len(c.Counts)-1], c.Count)
}
