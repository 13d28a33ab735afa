package session

import (
	"sync/atomic"

	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/router"
)

// Memory held for subscribers, and its bounds.
//
// Every message the broker keeps for a session beyond the moment it is
// written — a QoS 1/2 delivery on its way to the session's loop, queued, or
// in flight until acknowledged; a QoS 0 one queued for an offline session —
// is reserved before it is kept, against two bounds: the session's
// MaxSessionBytes and the broker's MemoryBudget for everything held for
// subscribers together, the spool of slow readers included. The router's
// sink reserves a routed delivery on the shard goroutine (admit), before
// the store writes a copy of it, so a message that is dropped is never
// written; the reservation is released when the message leaves the session
// (acknowledged, dropped, expired, or the session ends). A pending that
// holds a reservation says so (pending.held).
//
// A session counts each message it holds at full size (msgCost) plus a
// holder's overhead. The broker counts a message shared by many sessions
// once (router.Message.Hold), plus the overhead of each holder, so that a
// fan-out to many offline sessions is counted as what it costs.
//
// Past its own bound a session's new messages are dropped
// (DropSessionBytes). Past the budget, a session that holds more than a
// small share (smallHolder) has its new messages dropped (DropBudget) while
// one that holds little is still served, so a healthy subscriber keeps
// receiving; and the shedder drops the oldest queued messages of the
// largest holders until the total is back under the budget's low mark.
// A v5 publisher whose QoS 1/2 message reached no subscriber because of
// these bounds is told so with PUBACK/PUBREC 0x97 while the broker is under
// pressure (publish.go).

const (
	// msgOverhead is what a held message costs beyond its topic, payload
	// and properties: the router.Message and its allocations.
	msgOverhead = 160
	// holdOverhead is what one holder adds: its entry in a queue, or its
	// inflight record.
	holdOverhead = 96
	// pressureMs is how long after a drop for a bound v5 publishers' QoS
	// 1/2 acknowledgements wait for routing, to carry 0x97 where a message
	// reached no one.
	pressureMs = 2000
)

// msgCost is what holding m costs, as counted against the bounds.
func msgCost(m *router.Message) int64 {
	n := len(m.Topic) + len(m.Payload) + msgOverhead
	if p := m.Props; p != nil {
		n += len(p.ContentType) + len(p.ResponseTopic) + len(p.CorrelationData)
		for _, u := range p.User {
			n += len(u.Key) + len(u.Value) + 48
		}
	}
	return int64(n)
}

// HeldBytes is what the broker holds for subscribers now: messages queued
// or in flight for sessions (each counted once), and the spool of readers
// slower than they are sent to.
func (b *Broker) HeldBytes() int64 {
	return b.held.Load() + b.Stats.SpoolBlocks.Load()*spoolBlock
}

// overBudget reports whether the broker holds more than its budget for
// subscribers, and if so starts the shedder.
func (b *Broker) overBudget() bool {
	if budget := b.opts.MemoryBudget; budget > 0 && b.HeldBytes() > budget {
		b.wantShed()
		return true
	}
	return false
}

// smallHolder is what a session may hold and still be served past the
// budget: a healthy subscriber's window, not a hoard.
func (b *Broker) smallHolder() int64 {
	return max(b.opts.MemoryBudget/64, 64<<10)
}

// admit decides whether s may hold m, and if so reserves it: s's count
// now, and the broker's total in the returned delta, which the caller adds
// (the sink once per call). total is what the broker holds, as the caller
// read it, plus what it has reserved and not yet added. Safe from any
// goroutine; s.mu need not be held.
func (b *Broker) admit(held *atomic.Int64, m *router.Message, total int64) (int64, DropCause, bool) {
	cost := msgCost(m) + holdOverhead
	// A session that holds nothing takes one message of any size: a bound
	// below MaxPacketSize must not make large messages undeliverable.
	if max, n := b.opts.MaxSessionBytes, held.Load(); max > 0 && n > 0 && n+cost > max {
		return 0, DropSessionBytes, false
	}
	if budget := b.opts.MemoryBudget; budget > 0 {
		if total += cost; total > budget {
			b.wantShed()
			if total > budget+budget/8 || held.Load()+cost > b.smallHolder() {
				return 0, DropBudget, false
			}
		}
	}
	return hold(held, m), 0, true
}

// hold counts m as held by a holder whose count is held (a session, an
// inline subscription) and returns what it adds to the broker's total.
func hold(held *atomic.Int64, m *router.Message) int64 {
	cost := msgCost(m)
	held.Add(cost + holdOverhead)
	if m.Hold() {
		return cost + holdOverhead
	}
	return holdOverhead
}

// release gives back p's reservation, if it holds one.
func (s *Session) release(p *pending) { s.releaseOn(nil, p) }

// releaseOn is release on loop l, which adds the broker's share at its next
// Flush (one atomic add per callback rather than one per message); nil
// adds it now.
func (s *Session) releaseOn(l *Loop, p *pending) {
	if !p.held {
		return
	}
	p.held = false
	g := unhold(&s.held, p.msg)
	if l != nil {
		l.released += g
	} else {
		s.broker.held.Add(-g)
	}
}

// unhold gives back a holder's reservation of m and returns what leaves
// the broker's total.
func unhold(held *atomic.Int64, m *router.Message) int64 {
	cost := msgCost(m)
	held.Add(-cost - holdOverhead)
	g := int64(holdOverhead)
	if m.Release() {
		g += cost
	}
	return g
}

// holdLocked reserves p, which came without a reservation (a QoS 0
// message queued for an offline session), or reports why it cannot be
// held.
func (s *Session) holdLocked(p *pending) (DropCause, bool) {
	b := s.broker
	g, cause, ok := b.admit(&s.held, p.msg, b.HeldBytes())
	if !ok {
		return cause, false
	}
	b.held.Add(g)
	p.held = true
	return 0, true
}

// refused counts a message dropped for s by a bound, marks the broker as
// under pressure, and, with DisconnectOnQueueFull, ends the connection of
// a client that reads too slowly for what it subscribed to (v5 0x97); its
// session stays and resumes when it reconnects.
func (s *Session) refused(m *router.Message, cause DropCause) {
	b := s.broker
	s.dropped(m, cause)
	b.pressure()
	if c := s.client.Load(); c != nil && b.opts.DisconnectOnQueueFull && !c.setFlag(flagQuotaHit) {
		c.loop.run(func() { c.disconnect(proto.QuotaExceeded, "") })
	}
}

// pressure records that a bound dropped a message just now. The clock is
// written at most every 100 ms, so a storm of drops does not make every
// loop's publish path read a line that changes all the time.
func (b *Broker) pressure() {
	now := b.now() + 1 // never 0
	if last := b.lastRefusal.Load(); last == 0 || now-last >= 100 {
		b.lastRefusal.Store(now)
	}
}

// pressured reports whether a bound dropped a message in the last
// pressureMs; now is the broker clock.
func (b *Broker) pressured(now int64) bool {
	t := b.lastRefusal.Load()
	return t != 0 && now+1-t < pressureMs
}

// wantShed starts the shedder unless it runs.
func (b *Broker) wantShed() {
	if b.shedding.CompareAndSwap(false, true) {
		go b.shed()
	}
}

// shed drops the oldest queued messages of the largest holders until what
// the broker holds is under seven eighths of the budget, or nothing queued
// is left to drop (messages in flight must be re-sent to a client that
// comes back, and spooled bytes are already on their way).
func (b *Broker) shed() {
	defer b.shedding.Store(false)
	budget := b.opts.MemoryBudget
	low := budget - budget/8
	for b.HeldBytes() > low && !b.closing.Load() {
		top := b.largestHolders(16)
		freed := false
		for i, s := range top {
			floor := int64(0)
			if i+1 < len(top) {
				floor = top[i+1].held.Load()
			}
			if s.shedQueued(floor, low) {
				freed = true
			}
			if b.HeldBytes() <= low {
				return
			}
		}
		if !freed {
			return
		}
	}
}

// largestHolders returns up to n sessions holding the most, largest first.
func (b *Broker) largestHolders(n int) []*Session {
	top := make([]*Session, 0, n+1)
	b.mu.Lock()
	b.sessions.each(func(s *Session) {
		h := s.held.Load()
		if h == 0 || (len(top) == n && h <= top[n-1].held.Load()) {
			return
		}
		i := len(top)
		top = append(top, s)
		for i > 0 && top[i-1].held.Load() < h {
			top[i] = top[i-1]
			i--
		}
		top[i] = s
		if len(top) > n {
			top = top[:n]
		}
	})
	b.mu.Unlock()
	return top
}

// shedQueued drops s's oldest queued messages while it holds more than
// floor and the broker more than low, and reports whether it dropped any.
func (s *Session) shedQueued(floor, low int64) bool {
	b := s.broker
	s.mu.Lock()
	defer s.mu.Unlock()
	dropped := false
	for s.queueLen() > 0 && s.held.Load() > floor && b.HeldBytes() > low {
		p := s.dequeueLocked()
		s.unstoreLocked(p.seq)
		s.release(&p)
		s.dropped(p.msg, DropBudget)
		dropped = true
	}
	if dropped {
		b.pressure()
	}
	return dropped
}
