package router

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// counts turns TopTopics' rates back into message counts over its window.
func counts(t *testing.T, r *Router, n int) map[string]uint64 {
	t.Helper()
	rates, window := r.TopTopics(n)
	out := make(map[string]uint64, len(rates))
	for i, x := range rates {
		if i > 0 {
			require.GreaterOrEqual(t, rates[i-1].PerSecond, x.PerSecond, "ranked highest first")
		}
		out[x.Topic] = uint64(math.Round(x.PerSecond * window.Seconds()))
	}
	return out
}

func publishN(r *Router, topic string, n int) {
	for range n {
		r.Publish(msg(topic, "x"))
	}
}

// Every message is counted whichever way its count travels: in a cache
// entry folded when the entry is evicted (a cache of 2), or invalidated by a
// subscription (literal or wildcard), or straight into the sketch without a
// cache.
func TestTopTopicsCountsEveryMessage(t *testing.T) {
	configs := append(shardConfigs, struct {
		name string
		opts Options
	}{"tinycache", Options{Shards: 2, MatchCacheSize: 2}})
	for _, tc := range configs {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			opts.TopicWindow = -1 // one window from the start
			r, _ := newTestRouter(t, opts)
			for round := range 10 {
				publishN(r, "a/x", 3)
				publishN(r, "b/y", 2)
				publishN(r, "c/z", 1)
				publishN(r, "$SYS/broker/uptime", 5) // the broker's own: not counted
				switch round {
				case 3:
					r.Subscribe(newClient("lit"), "b/y", SubOptions{}, false)
				case 6:
					r.Subscribe(newClient("wild"), "#", SubOptions{}, false)
				}
			}
			r.Barrier()
			require.Equal(t, map[string]uint64{"a/x": 30, "b/y": 20, "c/z": 10}, counts(t, r, 10))
			rates, _ := r.TopTopics(2)
			require.Len(t, rates, 2)
			require.Equal(t, "a/x", rates[0].Topic)
			require.Equal(t, "b/y", rates[1].Topic)
			rates, _ = r.TopTopics(0)
			require.Empty(t, rates)
		})
	}
}

// The answer is the last window that has ended, not the one in progress.
func TestTopTopicsLastWindow(t *testing.T) {
	r, _ := newTestRouter(t, Options{Shards: 3, TopicWindow: -1})
	publishN(r, "a", 7)
	publishN(r, "b", 4)
	r.rotateTopics()
	publishN(r, "b", 50) // the next window, in progress
	r.Barrier()
	require.Equal(t, map[string]uint64{"a": 7, "b": 4}, counts(t, r, 5))
	time.Sleep(10 * time.Millisecond)
	r.rotateTopics()
	r.Barrier()
	require.Equal(t, map[string]uint64{"b": 50}, counts(t, r, 5))
	_, window := r.TopTopics(5)
	require.GreaterOrEqual(t, window, 10*time.Millisecond)
	r.rotateTopics() // a window with nothing published: no topic has a rate
	r.Barrier()
	require.Empty(t, counts(t, r, 5))
}

// With a real window the timer ends windows by itself.
func TestTopTopicsWindowsRotate(t *testing.T) {
	const window = 40 * time.Millisecond
	r, _ := newTestRouter(t, Options{Shards: 2, TopicWindow: window})
	publishN(r, "busy/topic", 100)
	r.Barrier()
	deadline := time.Now().Add(5 * time.Second)
	seen := false
	for time.Now().Before(deadline) {
		rates, w := r.TopTopics(1)
		switch {
		case len(rates) == 1 && w >= window && w < 20*window:
			seen = true // the window holding the burst ended
		case seen && len(rates) == 0:
			return // and a later one without it followed
		}
		time.Sleep(window / 4)
	}
	t.Fatalf("windows did not rotate within 5s (burst window seen: %v)", seen)
}

func TestTopTopicsOff(t *testing.T) {
	r, _ := newTestRouter(t, Options{Shards: 2, TopicSlots: -1})
	require.Nil(t, r.stopTop, "no timer when topics are not counted")
	publishN(r, "a", 3)
	r.Barrier()
	rates, window := r.TopTopics(10)
	require.Empty(t, rates)
	require.Zero(t, window)
}
