package router

import (
	"fmt"
	"testing"
	"time"
)

func newBenchShard() *shard {
	return newShard(func([]Delivery) {}, defaultCacheSize, defaultTopicSlots, time.Now())
}

// BenchmarkShardPublish is one shard's work for a publish, on the calling
// goroutine: no queue, no other goroutine, so that it measures what a
// shard spends per message with less of the scheduler's noise than
// BenchmarkPublishMatch. hit: 2,000 topics, all in the match cache; miss:
// 100,000 topics, more than the cache holds.
func BenchmarkShardPublish(b *testing.B) {
	for _, c := range []struct {
		name   string
		topics int
	}{{"hit", 2000}, {"miss", 100000}} {
		b.Run(c.name, func(b *testing.B) {
			s := newBenchShard()
			msgs := make([]*Message, c.topics)
			for i := range msgs {
				topic := fmt.Sprintf("site%d/dev%d/data", i%100, i)
				s.subscribe(&op{kind: opSubscribe, client: newClient(fmt.Sprint("d", i)), filter: topic, opts: SubOptions{QoS: 1}})
				msgs[i] = msg(topic, "payload")
			}
			s.subscribe(&op{kind: opSubscribe, client: newClient("all"), filter: "+/+/data"})
			s.flush()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s.publish(msgs[(i*7919)%len(msgs)])
				if len(s.out) >= flushAt {
					s.flush()
				}
			}
		})
	}
}
