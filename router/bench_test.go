package router

import (
	"fmt"
	"testing"
)

// BenchmarkPublishMatch measures publishes through the router, from Publish
// to the Sink, with a Sink that does nothing. Messages are made before the
// timer starts: a steady-state publish should not allocate.
func BenchmarkPublishMatch(b *testing.B) {
	b.Run("1topic-1000subs", func(b *testing.B) {
		r := New(Options{Shards: 4}, func([]Delivery) {})
		defer r.Close()
		for i := 0; i < 1000; i++ {
			r.Subscribe(newClient(fmt.Sprint("c", i)), "bench/one/topic", SubOptions{QoS: 1}, false)
		}
		m := msg("bench/one/topic", "payload")
		r.Barrier()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			r.Publish(m)
		}
		r.Barrier()
	})
	b.Run("10000topics-wildcards", func(b *testing.B) {
		r := New(Options{Shards: 4}, func([]Delivery) {})
		defer r.Close()
		// 100 devices per site, 100 sites; each device listens to its own
		// commands, a few services watch sites and everything.
		for i := 0; i < 10000; i++ {
			r.Subscribe(newClient(fmt.Sprint("d", i)), fmt.Sprintf("site%d/dev%d/cmd", i/100, i%100), SubOptions{QoS: 1}, false)
		}
		for i := 0; i < 100; i++ {
			r.Subscribe(newClient(fmt.Sprint("site", i)), fmt.Sprintf("site%d/+/cmd", i), SubOptions{}, false)
		}
		r.Subscribe(newClient("audit"), "#", SubOptions{}, false)
		r.Subscribe(newClient("cmds"), "+/+/cmd", SubOptions{ID: 3}, false)
		msgs := make([]*Message, 10000)
		for i := range msgs {
			msgs[i] = msg(fmt.Sprintf("site%d/dev%d/cmd", i/100, i%100), "payload")
		}
		r.Barrier()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			r.Publish(msgs[i%len(msgs)])
		}
		r.Barrier()
	})
}

// BenchmarkPublishManyTopics: publishes spread over 100,000 topics, more
// than the match cache holds, each with one subscriber: the cache-miss path.
func BenchmarkPublishManyTopics(b *testing.B) {
	r := New(Options{Shards: 4}, func([]Delivery) {})
	defer r.Close()
	const n = 100000
	msgs := make([]*Message, n)
	for i := range msgs {
		topic := fmt.Sprintf("site%d/dev%d/data", i%100, i)
		r.Subscribe(newClient(fmt.Sprint("d", i)), topic, SubOptions{QoS: 1}, false)
		msgs[i] = msg(topic, "payload")
	}
	r.Barrier()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.Publish(msgs[(i*7919)%n])
	}
	r.Barrier()
}
