package router

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTopKExactWithinSlots(t *testing.T) {
	k := newTopK(8)
	for i, n := range []uint64{5, 1, 9, 3, 7} {
		for range n {
			k.add(fmt.Sprint("t", i), 1)
		}
	}
	k.add("t1", 10) // a weighted add, as a cache entry's fold makes
	require.Equal(t, []TopicCount{{"t1", 11}, {"t2", 9}, {"t4", 7}, {"t0", 5}, {"t3", 3}}, k.ranked(nil))
}

func TestTopKTiesRankByTopic(t *testing.T) {
	k := newTopK(4)
	for _, topic := range []string{"c", "a", "b"} {
		k.add(topic, 2)
	}
	require.Equal(t, []TopicCount{{"a", 2}, {"b", 2}, {"c", 2}}, k.ranked(nil))
}

// Heavy topics among 20,000 topics published once each: memory stays at
// the slots; every topic with more than total/slots of the messages (here
// 26,000/64, about 400) keeps a slot, ranked right; and a count reported is
// never more than the topic had.
func TestTopKBoundedAndRanksHeavyHitters(t *testing.T) {
	const slots = 64
	k := newTopK(slots)
	heavy := map[string]uint64{"h/a": 3000, "h/b": 2000, "h/c": 1000}
	var stream []string
	for topic, n := range heavy {
		for range n {
			stream = append(stream, topic)
		}
	}
	for i := range 20000 {
		stream = append(stream, fmt.Sprint("cold/", i))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(stream), func(i, j int) { stream[i], stream[j] = stream[j], stream[i] })
	for _, topic := range stream {
		k.add(topic, 1)
		if len(k.heap) > slots || len(k.index) > slots {
			t.Fatalf("holds %d entries, %d indexed: more than %d slots", len(k.heap), len(k.index), slots)
		}
	}
	got := k.ranked(nil)
	require.Len(t, got, slots)
	require.Equal(t, []string{"h/a", "h/b", "h/c"}, []string{got[0].Topic, got[1].Topic, got[2].Topic})
	for _, c := range got {
		want, ok := heavy[c.Topic]
		if !ok {
			want = 1
		}
		require.LessOrEqual(t, c.Messages, want, "%s: reported more than it had", c.Topic)
	}
	// A heavy topic's certain count is its count less what it took over,
	// at most total/slots.
	require.GreaterOrEqual(t, got[0].Messages, uint64(3000-26000/slots))
	require.GreaterOrEqual(t, got[2].Messages, uint64(1000-26000/slots))
	// The index and the positions match the heap after all the
	// replacements.
	for i, e := range k.heap {
		require.Equal(t, i, e.pos)
		require.Same(t, e, k.index[e.topic])
		if i > 0 {
			require.GreaterOrEqual(t, e.count, k.heap[(i-1)/2].count, "heap order")
		}
	}
	k.reset()
	require.Empty(t, k.ranked(nil))
	require.Empty(t, k.index)
}

func BenchmarkTopKAdd(b *testing.B) {
	k := newTopK(defaultTopicSlots)
	topics := make([]string, 1000)
	for i := range topics {
		topics[i] = fmt.Sprint("site/", i%37, "/dev/", i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k.add(topics[i%len(topics)], 1)
	}
}
