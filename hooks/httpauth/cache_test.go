package httpauth

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The shard's bound and recency order, which the hook's tests cannot
// reach: which shard a client lands in depends on a random seed.
func TestShardLRU(t *testing.T) {
	c := newCache(2 * numShards) // two entries a shard
	s := &c.shards[0]
	now := time.Now()
	later := now.Add(time.Minute)
	k := func(topic string) key { return key{acl: true, clientID: "c", topic: topic} }

	s.put(k("a"), true, later)
	s.put(k("b"), false, later)
	_, ok := s.get(k("a"), now) // a is now more recent than b
	require.True(t, ok)
	s.put(k("c"), true, later) // evicts b
	require.Len(t, s.entries, 2)
	_, ok = s.get(k("b"), now)
	require.False(t, ok, "the least recently used went")
	allow, ok := s.get(k("a"), now)
	require.True(t, ok)
	require.True(t, allow)
	allow, ok = s.get(k("c"), now)
	require.True(t, ok)
	require.True(t, allow)

	// Storing again replaces the answer and the expiry.
	s.put(k("c"), false, later)
	allow, ok = s.get(k("c"), now)
	require.True(t, ok)
	require.False(t, allow)
	require.Len(t, s.entries, 2)

	// An expired entry is gone once looked at.
	s.put(k("d"), true, now.Add(time.Millisecond))
	_, ok = s.get(k("d"), now.Add(time.Millisecond))
	require.False(t, ok)
	require.Len(t, s.entries, 1)

	c.purge()
	require.Empty(t, s.entries)
	require.Equal(t, &s.lru, s.lru.next)
	s.put(k("e"), true, later)
	_, ok = s.get(k("e"), now)
	require.True(t, ok, "usable after a purge")
}

func TestSizeBound(t *testing.T) {
	for _, tc := range []struct{ size, per int }{{-1, 0}, {1, 1}, {numShards, 1}, {numShards + 1, 2}, {10000, 313}} {
		c := newCache(tc.size)
		require.Equal(t, tc.per, c.shards[numShards-1].max, "size %d", tc.size)
	}
	c := newCache(-1)
	s := &c.shards[0]
	s.put(key{clientID: "c"}, true, time.Now().Add(time.Minute))
	require.Empty(t, s.entries, "no cache")
}

func TestHost(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7:53211": "192.0.2.7", "[2001:db8::1]:1883": "2001:db8::1",
		"": "", "/tmp/loom.sock": "/tmp/loom.sock", "@": "@",
	} {
		require.Equal(t, want, host(in), in)
	}
}
