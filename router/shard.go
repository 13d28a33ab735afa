package router

import (
	"sync"
	"sync/atomic"
	"time"
)

type opKind uint8

const (
	opPublish opKind = iota
	opSubscribe
	opUnsubscribe
	opSync // flush deliveries, then run fn
	opStop
)

// op is one queued operation.
type op struct {
	kind         opKind
	sendRetained bool
	opts         SubOptions
	client       Client
	filter       string
	msg          *Message
	fn           func(*shard)
}

// flushAt bounds the deliveries gathered before the Sink is called, so a
// batch of many publishes does not build one huge slice. The check comes
// between operations: the deliveries of one operation always reach the Sink
// in the same call (the session layer commits their store writes as one).
const flushAt = 4096

// shard owns one part of the trie. Fields below the inbox are touched only by
// the shard's goroutine.
type shard struct {
	mu     sync.Mutex
	queue  []op
	closed bool
	wake   chan struct{} // 1-buffered: at most one pending wake
	queued atomic.Int64  // len(queue), written under mu, read by Pending
	after  func()        // Options.AfterBatch
	// expired is Options.RetainedExpired.
	expired func(topic string)

	sink      Sink
	root      node
	rroot     rnode
	cache     map[string]*matchResult
	cacheSize int
	out       []Delivery

	// scratch reused across operations
	msubs    []sub
	mgroups  []*sharedGroup
	byClient map[Client]int
	rscratch []*Message

	// counts; index 0 for filters with a literal first level, 1 for those
	// with a wildcard first level, which every shard holds a copy of
	nsubs, ngroups [2]int
	nretained      int
	hits, misses   uint64

	top topicWindow // messages by topic (topics.go)
}

func newShard(sink Sink, cacheSize, topicSlots int, start time.Time) *shard {
	s := &shard{wake: make(chan struct{}, 1), sink: sink, cacheSize: cacheSize}
	if cacheSize > 0 {
		s.cache = make(map[string]*matchResult)
	}
	s.top.init(topicSlots, start)
	return s
}

// enqueue appends o to the inbox and wakes the goroutine if the inbox was
// empty (otherwise a wake is already pending). It reports false once the
// shard is closed.
func (s *shard) enqueue(o op) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	s.queue = append(s.queue, o)
	s.queued.Store(int64(len(s.queue)))
	first := len(s.queue) == 1
	if o.kind == opStop {
		s.closed = true
	}
	s.mu.Unlock()
	if first {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return true
}

// run processes batches until it meets opStop.
func (s *shard) run(done *sync.WaitGroup) {
	defer done.Done()
	var batch []op
	for range s.wake {
		s.mu.Lock()
		batch, s.queue = s.queue, batch[:0]
		s.queued.Store(0)
		s.mu.Unlock()
		stop := false
		for i := range batch {
			stop = s.apply(&batch[i]) || stop
			batch[i] = op{}
			if len(s.out) >= flushAt {
				s.flush()
			}
		}
		s.flush()
		if s.after != nil {
			s.after()
		}
		if stop {
			return
		}
		if cap(batch) > 1<<16 {
			batch = nil // a burst is over; do not keep its buffer
		}
	}
}

func (s *shard) apply(o *op) (stop bool) {
	switch o.kind {
	case opPublish:
		s.publish(o.msg)
	case opSubscribe:
		s.subscribe(o)
	case opUnsubscribe:
		s.unsubscribe(o.client, o.filter)
	case opSync:
		s.flush()
		o.fn(s)
	case opStop:
		return true
	}
	return false
}

func (s *shard) emit(d Delivery) { s.out = append(s.out, d) }

func (s *shard) flush() {
	if len(s.out) == 0 {
		return
	}
	if s.sink != nil {
		s.sink(s.out)
	}
	clear(s.out)
	s.out = s.out[:0]
}

func wildIndex(filter string) int {
	if isWildLevel(firstLevel(filter)) {
		return 1
	}
	return 0
}

func (s *shard) subscribe(o *op) {
	group, filter, shared := splitShare(o.filter)
	w := wildIndex(filter)
	n := s.root.ensure(filter)
	if shared {
		g, created := n.group(group, true)
		if created {
			s.ngroups[w]++
		}
		if g.put(o.client, o.opts) {
			s.nsubs[w]++
		}
	} else if n.put(newSub(o.client, o.opts)) {
		s.nsubs[w]++
	}
	s.invalidate(filter)
	// Shared subscriptions get no retained messages (MQTT 5.0 section 4.8.2).
	if !o.sendRetained || shared {
		return
	}
	var ids []uint32
	if o.opts.ID != 0 {
		ids = []uint32{o.opts.ID}
	}
	found := s.retainedFor(filter, time.Now().UnixNano())
	for _, m := range found {
		s.emit(Delivery{Client: o.client, Msg: m, QoS: o.opts.QoS, Retain: true, SubIDs: ids, Stored: true})
	}
	clear(found)
}

func (s *shard) unsubscribe(c Client, full string) {
	group, filter, shared := splitShare(full)
	n := s.root.lookup(filter)
	if n == nil {
		return
	}
	w := wildIndex(filter)
	if shared {
		g, _ := n.group(group, false)
		if g == nil || !g.drop(c) {
			return
		}
		s.nsubs[w]--
		if len(g.members) == 0 {
			n.removeGroup(g)
			s.ngroups[w]--
		}
	} else if n.drop(c) {
		s.nsubs[w]--
	} else {
		return
	}
	s.root.prune(filter, 0)
	s.invalidate(filter)
}
