package persist

import (
	"sync"
	"time"
)

// latencyBounds are the upper bounds of the buckets of the store's latency
// histograms, from a commit to the page cache (tens of microseconds) to an
// fsync on a slow SD card (a second or more).
var latencyBounds = [...]time.Duration{
	50 * time.Microsecond, 100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond,
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2500 * time.Millisecond, 5 * time.Second,
}

// Latency is a snapshot of a latency histogram: Counts[i] is the number of
// observations at most Bounds[i] (cumulative, as Prometheus has them);
// Count counts them all, those above the last bound included, and Sum is
// their total.
type Latency struct {
	Bounds []time.Duration
	Counts []uint64
	Count  uint64
	Sum    time.Duration
}

// latency is a histogram written by the store's one writer goroutine and
// read by the metrics: the lock is never contended by more than those two,
// and the writer takes it once per commit, not per change.
type latency struct {
	mu      sync.Mutex
	buckets [len(latencyBounds)]uint64 // per bucket, not cumulative
	count   uint64
	sum     time.Duration
}

// observe counts one operation that took d.
func (l *latency) observe(d time.Duration) {
	i := 0
	for i < len(latencyBounds) && d > latencyBounds[i] {
		i++
	}
	l.mu.Lock()
	if i < len(l.buckets) {
		l.buckets[i]++ // past the last bound: in count alone (+Inf)
	}
	l.count++
	l.sum += d
	l.mu.Unlock()
}

// snapshot is the histogram now, with cumulative counts.
func (l *latency) snapshot() Latency {
	// Copies: the snapshot is the caller's to keep or change.
	s := Latency{Bounds: append([]time.Duration(nil), latencyBounds[:]...), Counts: make([]uint64, len(latencyBounds))}
	l.mu.Lock()
	var n uint64
	for i, c := range l.buckets {
		n += c
		s.Counts[i] = n
	}
	s.Count, s.Sum = l.count, l.sum
	l.mu.Unlock()
	return s
}

// CommitLatency is the histogram of the time the writer's commits took,
// each a batch of changes written to the log, with its fsync when the
// policy syncs it then (SyncAlways, or a Flush or an acknowledgement
// waiting under SyncInterval).
func (s *Store) CommitLatency() Latency { return s.commitLat.snapshot() }

// SyncLatency is the histogram of the fsyncs of the log made apart from a
// commit: SyncInterval's timer, and a sync that a Flush asked for after
// the changes had been committed.
func (s *Store) SyncLatency() Latency { return s.syncLat.snapshot() }
