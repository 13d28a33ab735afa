package httpauth

import (
	"hash/maphash"
	"strings"
	"sync"
	"time"

	"github.com/loom-mqtt/loom/session"
)

// numShards splits the cache: OnACLCheck runs for every PUBLISH on every
// event loop, and one lock for all of them would be the one thing the
// loops contend on. A client's questions all go to one shard (by client
// id), and a client lives on one loop, so a shard's lock is rarely
// wanted by two loops at once.
const numShards = 32

// key is a question, as the cache and the requests in flight know it. It
// is a comparable struct rather than a joined string so that a lookup
// builds nothing on the heap.
type key struct {
	acl      bool
	write    bool
	clientID string
	username string
	// host is the remote address without its port: a reconnecting client
	// comes from a new port, and a backend that decides by address decides
	// by host. The request carries the whole address.
	host     string
	listener string
	topic    string // OnACLCheck: the topic or filter
	// secret is, for OnConnectAuthenticate, an HMAC-SHA-256 of the
	// password under a key of the hook's own: the cache tells passwords
	// apart without holding them, and what it holds cannot be checked
	// against a dictionary without that key.
	secret [32]byte
}

// clone copies the strings of k before they are kept: the broker does
// not promise that what it gives a hook outlives the call.
func (k key) clone() key {
	k.clientID, k.username = strings.Clone(k.clientID), strings.Clone(k.username)
	k.host, k.listener, k.topic = strings.Clone(k.host), strings.Clone(k.listener), strings.Clone(k.topic)
	return k
}

// entry is one remembered answer, in its shard's recency list.
type entry struct {
	k          key
	allow      bool
	expires    time.Time
	prev, next *entry
}

// flight is one request in flight and everyone waiting for its answer.
type flight struct {
	gen     uint64 // the shard's generation when it started
	answers []session.Answer
}

type shard struct {
	mu      sync.Mutex
	entries map[key]*entry
	// lru is the sentinel of a circular list: lru.next is the most
	// recently used entry, lru.prev the one to evict.
	lru     entry
	max     int
	flights map[key]*flight
	// gen counts purges: a request that started before one does not
	// store its answer, which may be what the purge meant to forget.
	gen          uint64
	hits, misses int64
}

type cache struct {
	seed   maphash.Seed
	shards [numShards]shard
}

func newCache(size int) *cache {
	c := &cache{seed: maphash.MakeSeed()}
	per := 0
	if size > 0 {
		per = max(1, (size+numShards-1)/numShards)
	}
	for i := range c.shards {
		s := &c.shards[i]
		s.entries = make(map[key]*entry)
		s.flights = make(map[key]*flight)
		s.lru.next, s.lru.prev = &s.lru, &s.lru
		s.max = per
	}
	return c
}

func (c *cache) shard(clientID string) *shard {
	return &c.shards[maphash.String(c.seed, clientID)%numShards]
}

// get returns the answer remembered for k, if one is and has not
// expired. The caller holds s.mu.
func (s *shard) get(k key, now time.Time) (allow, ok bool) {
	e := s.entries[k]
	if e == nil {
		return false, false
	}
	if !now.Before(e.expires) {
		s.remove(e)
		return false, false
	}
	s.unlink(e)
	s.pushFront(e)
	return e.allow, true
}

// put remembers allow for k until expires, evicting the least recently
// used entry past the bound. The caller holds s.mu.
func (s *shard) put(k key, allow bool, expires time.Time) {
	if s.max == 0 {
		return
	}
	if e := s.entries[k]; e != nil {
		e.allow, e.expires = allow, expires
		s.unlink(e)
		s.pushFront(e)
		return
	}
	for len(s.entries) >= s.max {
		s.remove(s.lru.prev)
	}
	e := &entry{k: k, allow: allow, expires: expires}
	s.entries[k] = e
	s.pushFront(e)
}

func (s *shard) remove(e *entry) {
	s.unlink(e)
	delete(s.entries, e.k)
}

func (s *shard) unlink(e *entry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (s *shard) pushFront(e *entry) {
	e.prev, e.next = &s.lru, s.lru.next
	s.lru.next.prev = e
	s.lru.next = e
}

// purge forgets every answer and detaches the requests in flight: they
// still answer those waiting for them, but store nothing, and a question
// asked from now on starts a request of its own.
func (c *cache) purge() {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		clear(s.entries)
		s.lru.next, s.lru.prev = &s.lru, &s.lru
		clear(s.flights)
		s.gen++
		s.mu.Unlock()
	}
}

// stats sums the shards' counts.
func (c *cache) stats() (entries int, hits, misses int64) {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		entries += len(s.entries)
		hits += s.hits
		misses += s.misses
		s.mu.Unlock()
	}
	return entries, hits, misses
}
