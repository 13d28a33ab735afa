package persist

import (
	"strconv"
	"testing"

	"github.com/loom-mqtt/loom/router"
)

// BenchmarkPutRetained measures queued retained writes through commit, per
// sync policy: the final Flush is inside the timing, so ns/op is the
// store's sustained rate, not just the cost of queueing.
func BenchmarkPutRetained(b *testing.B) {
	topics := make([]string, 1000)
	for i := range topics {
		topics[i] = "sensors/" + strconv.Itoa(i) + "/temp"
	}
	payload := make([]byte, 64)
	for _, p := range []SyncPolicy{SyncAlways, SyncInterval, SyncNone} {
		b.Run(p.String(), func(b *testing.B) {
			s, err := Open(Options{Dir: b.TempDir(), Sync: p, Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			m := router.Message{Payload: payload, QoS: 1, Retain: true, Origin: "bench"}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				m.Topic = topics[i%len(topics)]
				s.PutRetained(&m)
			}
			if err := s.Flush(); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			b.ReportMetric(float64(s.commits.Load())/float64(b.N), "commits/op")
		})
	}
}

// BenchmarkPutRetainedFlushed waits for each write: the latency of one
// commit (and its fsync, where the policy syncs on Flush) with no batching.
func BenchmarkPutRetainedFlushed(b *testing.B) {
	payload := make([]byte, 64)
	for _, p := range []SyncPolicy{SyncAlways, SyncInterval, SyncNone} {
		b.Run(p.String(), func(b *testing.B) {
			s, err := Open(Options{Dir: b.TempDir(), Sync: p, Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			m := router.Message{Topic: "sensors/1/temp", Payload: payload, QoS: 1, Retain: true}
			for b.Loop() {
				s.PutRetained(&m)
				if err := s.Flush(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
