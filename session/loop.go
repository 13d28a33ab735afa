package session

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/bytebufferpool"

	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/router"
)

// Loop is the session layer's share of one event loop: the inbox other
// goroutines post deliveries to, the clients with bytes to write, the timing
// wheel, and decoding scratch. Everything but the inbox is touched only on
// the loop.
type Loop struct {
	// bufs comes first: bytebufferpool.Pool starts with 64-bit counters
	// it updates atomically, which 32-bit ARM requires 8-byte aligned, and
	// only the first word of an allocated struct is sure to be.
	bufs bytebufferpool.Pool

	broker *Broker
	index  int
	exec   func(func())

	inMu      sync.Mutex
	inbox     []item
	added     int  // items appended since the last unlockInbox, for Broker.inboxed
	scheduled bool // a drain is queued on the loop; at most one at a time
	spare     []item

	// clock (broker ms) and wall (unix ns) are read once per loop callback
	// (Refresh) rather than once per packet or delivery: reading the clock
	// showed as a sixth of the broker's CPU in pubsub profiles.
	clock, wall int64

	dirty []*Client
	held  []*Client // clients whose queue waits for their write buffer to drain
	// spoolers have bytes in their spool (spool.go); nspoolers is their
	// count, for the pump to read from its goroutine.
	spoolers   []*Client
	shutWaits  []*Client // lingering clients waiting for gnet's buffer to empty (linger.go)
	nspoolers  atomic.Int32
	freeBlocks [][]byte
	wheel      wheel
	// released is what this loop gave back of the broker's held bytes
	// since its last Flush (held.go).
	released int64

	// What clients that have not completed CONNECT leave buffered, charged
	// against this loop's share of Options.PreConnectBudget
	// (preconnect.go): per client, their sum, and the share (0 until
	// first needed, -1 for no budget).
	preHeld  map[*Client]int
	preTotal int
	preShare int

	// counts are the loop's cells of the per-message Counters.
	counts loopCounts
	// rate is the broker's per-client publish rate, nil without one or
	// where the reactor cannot stop reading a connection (pubrate.go).
	rate *rateLimit
	// hookPub is the PUBLISH the publish path's hooks are shown on this
	// loop (route.go).
	hookPub proto.Publish

	// wake hands a client that waited for a hook's answer back to the
	// reactor (decide.go).
	wake func(c *Client)

	// Scratch packets reused for every decode on this loop: decoding aliases
	// the inbound buffer and nothing here outlives one packet.
	connect proto.Connect
	publish proto.Publish
	ack     proto.Ack
	sub     proto.Subscribe
	unsub   proto.Unsubscribe
	disc    proto.Disconnect
	reasons []proto.ReasonCode
}

// item is one unit of work posted to a loop: a delivery for a session, or a
// function to run there (takeover of a connection on this loop).
type item struct {
	sess *Session
	d    router.Delivery
	seq  uint64 // the delivery's store sequence number, 0 if not stored
	fn   func()
}

// Refresh reads the clock for what the loop does next. The reactor calls it
// as each OnTraffic begins; drains and ticks call it themselves.
func (l *Loop) Refresh() {
	d := time.Since(l.broker.start)
	l.clock = d.Milliseconds()
	l.wall = l.broker.epoch + int64(d)
}

// Index is the loop's position among the broker's loops.
func (l *Loop) Index() int { return l.index }

func (l *Loop) lockInbox() { l.inMu.Lock() }

func (l *Loop) appendLocked(it item) {
	l.inbox = append(l.inbox, it)
	l.added++
}

// unlockInbox releases the inbox and, if work is waiting and no drain is
// queued yet, queues one. Wakes are per batch, not per message.
func (l *Loop) unlockInbox() {
	wake := len(l.inbox) > 0 && !l.scheduled
	if wake {
		l.scheduled = true
	}
	if l.added > 0 {
		l.broker.inboxed.Add(int64(l.added)) // once per batch
		l.added = 0
	}
	l.inMu.Unlock()
	if wake {
		l.exec(l.drain)
	}
}

func (l *Loop) post(it item) {
	l.lockInbox()
	l.appendLocked(it)
	l.unlockInbox()
}

// run posts fn to run on the loop.
func (l *Loop) run(fn func()) { l.post(item{fn: fn}) }

// drain runs on the loop: it delivers everything posted since the last
// drain and then writes each touched client's bytes at once.
func (l *Loop) drain() {
	l.Refresh()
	l.inMu.Lock()
	items := l.inbox
	l.inbox = l.spare[:0]
	l.scheduled = false
	l.inMu.Unlock()

	for i := range items {
		it := &items[i]
		if it.fn != nil {
			it.fn()
		} else {
			it.sess.deliverOnLoop(l, it.d, it.seq)
		}
		*it = item{}
	}
	n := len(items)
	if cap(items) > 1<<14 {
		items = nil // a burst is over: do not keep its buffer
	}
	l.spare = items[:0]
	l.Flush()
	l.broker.inboxed.Add(-int64(n))
	l.broker.checkRelief()
}

// markDirty records that c has bytes to write at the next Flush.
func (l *Loop) markDirty(c *Client) {
	if !c.dirty {
		c.dirty = true
		l.dirty = append(l.dirty, c)
	}
}

// Flush writes every dirty client's pending bytes, one write each. The
// reactor calls it after each OnTraffic; drains call it themselves.
func (l *Loop) Flush() {
	for i, c := range l.dirty {
		c.flush()
		if c.state == stateClosing {
			c.shutWrite() // its last packet is out (linger.go)
		}
		l.dirty[i] = nil
	}
	l.dirty = l.dirty[:0]
	if l.released != 0 {
		l.broker.held.Add(-l.released)
		l.released = 0
	}
}

// advance moves the timing wheel to now, closing clients whose keepalive or
// connect deadline passed.
func (l *Loop) advance() {
	l.Refresh()
	l.wheel.advance(l.clock, func(c *Client) { c.expireUnlessPaused() })
	l.retryHeld()
	l.Flush()
	l.retryShut()
	l.pumpSpools()
}

// holdBack puts c on the list retried at each tick.
func (l *Loop) holdBack(c *Client) {
	if !c.heldBack {
		c.heldBack = true
		l.held = append(l.held, c)
	}
}

// retryHeld gives every held-back client a chance to send its queue; those
// still over their limit put themselves back on the list.
func (l *Loop) retryHeld() {
	held := l.held
	l.held = nil
	for i, c := range held {
		held[i] = nil
		c.heldBack = false
		if c.checkShedding() {
			l.holdBack(c) // still full: look again next tick
		}
		if c.state == stateConnected && c.sess != nil {
			c.sess.retryQueued(c)
		}
	}
}

// CountBytesIn adds n bytes read from clients to the loop's count.
func (l *Loop) CountBytesIn(n int) { l.counts.bytesIn.n.Add(int64(n)) }
