package ledger

import (
	"hash/maphash"
	"strings"
	"sync"
)

// decisions caches ACL answers per (client id, username, remote, write,
// topic). The publish path asks once per message; a client publishes to
// few topics, and a miss walks every rule. The cache is sharded (loops
// ask at once) and bounded: a full shard drops an entry to make room.
// A reload makes a new one, so no stale answer outlives its rules.
type decisions struct {
	seed   maphash.Seed
	shards [cacheShards]cacheShard
	max    int // entries a shard holds
}

const cacheShards = 64

type cacheShard struct {
	mu sync.Mutex
	m  map[uint64]cached
}

// cached is one answer, with the question it answers: two questions of
// one hash must not share an answer.
type cached struct {
	id, user, remote, topic string
	write, allow            bool
}

func newDecisions(size int) *decisions {
	d := &decisions{seed: maphash.MakeSeed(), max: max(size/cacheShards, 1)}
	for i := range d.shards {
		d.shards[i].m = make(map[uint64]cached)
	}
	return d
}

func (d *decisions) key(id, user, remote, topic string, write bool) uint64 {
	var h maphash.Hash
	h.SetSeed(d.seed)
	h.WriteString(id)
	h.WriteByte(0)
	h.WriteString(user)
	h.WriteByte(0)
	h.WriteString(remote)
	h.WriteByte(0)
	h.WriteString(topic)
	if write {
		h.WriteByte(1)
	}
	return h.Sum64()
}

func (d *decisions) get(k uint64, id, user, remote, topic string, write bool) (allow, ok bool) {
	s := &d.shards[k%cacheShards]
	s.mu.Lock()
	c, ok := s.m[k]
	s.mu.Unlock()
	if !ok || c.id != id || c.user != user || c.remote != remote || c.topic != topic || c.write != write {
		return false, false
	}
	return c.allow, true
}

func (d *decisions) put(k uint64, id, user, remote, topic string, write, allow bool) {
	// The strings may point into buffers the caller reuses: keep copies.
	c := cached{id: strings.Clone(id), user: strings.Clone(user), remote: strings.Clone(remote),
		topic: strings.Clone(topic), write: write, allow: allow}
	s := &d.shards[k%cacheShards]
	s.mu.Lock()
	if len(s.m) >= d.max {
		for old := range s.m { // map order: an arbitrary victim
			delete(s.m, old)
			break
		}
	}
	s.m[k] = c
	s.mu.Unlock()
}
