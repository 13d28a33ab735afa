package router

import (
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// Router is the sharded subscription router. Its methods are safe for
// concurrent use.
type Router struct {
	shards    []*shard
	wg        sync.WaitGroup
	closeOnce sync.Once
	stopTop   chan struct{} // ends rotateEvery (topics.go); nil when it does not run
}

const defaultCacheSize = 4096

// New starts a router with its shard goroutines. sink receives every
// delivery; it may be nil in tests that only look at the state.
func New(opts Options, sink Sink) *Router {
	n := opts.Shards
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	size := opts.MatchCacheSize
	switch {
	case size == 0:
		size = defaultCacheSize
	case size < 0:
		size = 0
	}
	slots := opts.TopicSlots
	if slots == 0 {
		slots = defaultTopicSlots
	}
	r := &Router{shards: make([]*shard, n)}
	r.wg.Add(n)
	start := time.Now()
	for i := range r.shards {
		r.shards[i] = newShard(sink, size, slots, start)
		r.shards[i].after = opts.AfterBatch
		r.shards[i].expired = opts.RetainedExpired
		go r.shards[i].run(&r.wg)
	}
	window := opts.TopicWindow
	if window == 0 {
		window = defaultTopicWindow
	}
	if slots > 0 && window > 0 {
		r.stopTop = make(chan struct{})
		go r.rotateEvery(window, r.stopTop)
	}
	return r
}

// Close applies every operation already queued, delivers what they produce,
// then stops the shard goroutines. Operations enqueued afterwards are
// dropped.
func (r *Router) Close() {
	r.closeOnce.Do(func() {
		if r.stopTop != nil {
			close(r.stopTop)
		}
		for _, s := range r.shards {
			s.enqueue(op{kind: opStop})
		}
	})
	r.wg.Wait()
}

// owners calls f for each shard that holds filter (without a $share prefix):
// the shard of its first level, or all of them when that level is a wildcard.
func (r *Router) owners(filter string, f func(*shard)) {
	first := firstLevel(filter)
	if isWildLevel(first) {
		for _, s := range r.shards {
			f(s)
		}
		return
	}
	f(r.shards[shardOf(first, len(r.shards))])
}

// Pending is the number of operations queued in the shards and not yet
// taken up: work the router has accepted but not routed. It reads one
// counter per shard.
func (r *Router) Pending() int64 {
	var n int64
	for _, s := range r.shards {
		n += s.queued.Load()
	}
	return n
}

// Publish enqueues m for the shard of its topic. If m.Retain, the shard
// first stores it as the topic's retained message, or deletes that message
// when the payload is empty; then m goes to every matching subscription.
func (r *Router) Publish(m *Message) {
	r.shards[shardOf(firstLevel(m.Topic), len(r.shards))].enqueue(op{kind: opPublish, msg: m})
}

// Subscribe enqueues a subscription of c to filter, which may be
// "$share/{group}/{filter}". Subscribing the same client to the same filter
// again replaces the options. If sendRetained and the subscription is not
// shared, the retained messages matching filter are then delivered to c
// alone, with Retain set, QoS o.QoS and SubIDs [o.ID] when o.ID is set.
func (r *Router) Subscribe(c Client, filter string, o SubOptions, sendRetained bool) {
	_, inner, _ := splitShare(filter)
	x := op{kind: opSubscribe, client: c, filter: filter, opts: o, sendRetained: sendRetained}
	r.owners(inner, func(s *shard) { s.enqueue(x) })
}

// Unsubscribe enqueues the removal of c's subscription to filter. It removes
// the entry only if it belongs to c itself, not to a newer session that has
// taken over the client id.
func (r *Router) Unsubscribe(c Client, filter string) {
	_, inner, _ := splitShare(filter)
	x := op{kind: opUnsubscribe, client: c, filter: filter}
	r.owners(inner, func(s *shard) { s.enqueue(x) })
}

// syncOn runs fn on each shard's goroutine after everything queued before
// it, with the deliveries of those operations already handed to the Sink,
// and waits for all of them. On a closed router fn runs here once the
// goroutines have stopped.
func (r *Router) syncOn(shards []*shard, fn func(int, *shard)) {
	var wg sync.WaitGroup
	for i, s := range shards {
		wg.Add(1)
		x := op{kind: opSync, fn: func(s *shard) { fn(i, s); wg.Done() }}
		if !s.enqueue(x) {
			r.wg.Wait()
			x.fn(s)
		}
	}
	wg.Wait()
}

// After calls fn on the goroutine of the shard that owns topic, once every
// operation enqueued there before it has been applied and its deliveries
// handed to the Sink. It does not wait; on a closed router fn runs at once.
func (r *Router) After(topic string, fn func()) {
	s := r.shards[shardOf(firstLevel(topic), len(r.shards))]
	x := op{kind: opSync, fn: func(*shard) { fn() }}
	if !s.enqueue(x) {
		fn()
	}
}

// Barrier returns once every operation enqueued before it has been applied
// and the Sink calls for them have returned. It must not be called from the
// Sink.
func (r *Router) Barrier() {
	r.syncOn(r.shards, func(int, *shard) {})
}

// Retained returns the unexpired retained messages matching filter, sorted
// by topic.
func (r *Router) Retained(filter string) []*Message {
	_, filter, _ = splitShare(filter)
	var shards []*shard
	r.owners(filter, func(s *shard) { shards = append(shards, s) })
	parts := make([][]*Message, len(shards))
	now := time.Now().UnixNano()
	r.syncOn(shards, func(i int, s *shard) {
		found := s.retainedFor(filter, now)
		parts[i] = slices.Clone(found)
		clear(found)
	})
	out := slices.Concat(parts...)
	slices.SortFunc(out, func(a, b *Message) int { return strings.Compare(a.Topic, b.Topic) })
	return out
}

// Stats returns counts over all shards. Filters copied into every shard are
// counted once.
func (r *Router) Stats() Stats {
	parts := make([]Stats, len(r.shards))
	r.syncOn(r.shards, func(i int, s *shard) {
		parts[i] = Stats{
			Subscriptions: s.nsubs[0],
			SharedGroups:  s.ngroups[0],
			Retained:      s.nretained,
			CacheHits:     s.hits,
			CacheMisses:   s.misses,
		}
		if i == 0 {
			parts[i].Subscriptions += s.nsubs[1]
			parts[i].SharedGroups += s.ngroups[1]
		}
	})
	var st Stats
	for _, p := range parts {
		st.Subscriptions += p.Subscriptions
		st.SharedGroups += p.SharedGroups
		st.Retained += p.Retained
		st.CacheHits += p.CacheHits
		st.CacheMisses += p.CacheMisses
	}
	return st
}
