package session

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/router"
)

// ExpiryNever is the session expiry interval that never ends (v5 0xFFFFFFFF;
// a 3.1.1 session with Clean Session 0).
const ExpiryNever = 0xFFFFFFFF

// Session is the state of one client id that outlives its connections:
// subscriptions, outbound messages in flight and queued, inbound QoS 2 ids
// awaiting PUBREL. Its fields are guarded by mu; maps and queues are made on
// first use and dropped when emptied, so an idle session stays small.
type Session struct {
	id     string
	broker *Broker

	mu sync.Mutex
	// client is the attached connection, nil while offline: changed under
	// mu, read without it by the router's sink to find the loop.
	client   atomic.Pointer[Client]
	bits     uint8 // sessEnded, sessStored, sessWillStored
	nextPID  uint16
	expiry   uint32 // seconds after disconnect; 0 ends with the connection
	subs     map[string]router.SubOptions
	inflight map[uint16]*inflight
	q        *msgQueue              // messages waiting to be sent; nil when none wait
	inQoS2   map[uint16]*publishRef // received QoS 2 ids awaiting PUBREL; a ref only when stored
	seq      uint64
	off      *offlineState // clocks of an offline session; nil otherwise
	// held is the bytes of the messages reserved for this session: on
	// their way to its loop, queued and in flight (held.go). Written under
	// mu, or by the router's sink, which reads it without mu.
	held atomic.Int64
	// who is the attached (or last) connection as hooks see it, for hooks
	// called off its loop (the router's shards); nil without hooks.
	who atomic.Pointer[ClientInfo]
}

// Session.bits, guarded by mu.
const (
	sessEnded      = 1 << iota // expired or discarded: takes nothing more
	sessStored                 // a record of it is in the Store
	sessWillStored             // a will of it is in the Store (persist_will.go)
)

func (s *Session) isEnded() bool      { return s.bits&sessEnded != 0 }
func (s *Session) isStored() bool     { return s.bits&sessStored != 0 }
func (s *Session) willIsStored() bool { return s.bits&sessWillStored != 0 }

func (s *Session) setBit(b uint8, on bool) {
	if on {
		s.bits |= b
	} else {
		s.bits &^= b
	}
}

// msgQueue holds a session's messages beyond its inflight window, or all
// of them while it is offline. It exists only while something waits, so
// an idle session pays one pointer for it.
type msgQueue struct {
	items []pending
	head  int
}

// offlineState is what only an offline session carries: its expiry timer
// and a will waiting for its delay. Connected sessions have none, so no
// connection owns a timer.
type offlineState struct {
	expiryTimer *time.Timer
	willTimer   *time.Timer
	will        *router.Message // delayed will of the last connection
	// who was the last connection, as hooks see it; nil without hooks.
	who *ClientInfo
}

// pending is a message bound for this session with the QoS and flags it
// will be sent with.
type pending struct {
	msg    *router.Message
	qos    byte
	retain bool
	subIDs []uint32
	// seq orders the session's messages in flight (for redelivery) and
	// keys them in the Store; 0 until one is needed.
	seq uint64
	// held: msg is reserved against the session's and the broker's bounds
	// (held.go) and must be released when it leaves the session.
	held bool
}

const (
	waitPuback  = 1 // QoS 1 sent
	waitPubrec  = 2 // QoS 2 sent
	waitPubcomp = 3 // PUBREC received, PUBREL sent
)

type inflight struct {
	pending
	pid   uint16
	state byte
}

func newSession(b *Broker, id string) *Session {
	return &Session{id: id, broker: b}
}

// ClientID implements router.Client.
func (s *Session) ClientID() string { return s.id }

// Connected implements router.Client.
func (s *Session) Connected() bool { return s.client.Load() != nil }

func (s *Session) attachLocked(c *Client) {
	s.client.Store(c)
}

func (s *Session) detachLocked() {
	s.client.Store(nil)
}

// stopTimerLocked stops an offline session's clocks and forgets its delayed
// will: it reconnected, or it ends.
func (s *Session) stopTimerLocked() {
	if o := s.off; o != nil {
		if o.expiryTimer != nil {
			o.expiryTimer.Stop()
		}
		if o.willTimer != nil {
			o.willTimer.Stop()
		}
		s.off = nil
	}
}

// scheduleLocked starts the clocks of a session that just went offline: its
// delayed will (will, nil if none) and its expiry. who is its last
// connection as hooks see it (nil without hooks).
func (s *Session) scheduleLocked(will *router.Message, willDelay uint32, who *ClientInfo) {
	if will == nil && s.expiry == ExpiryNever {
		return
	}
	o := &offlineState{will: will, who: who}
	if will != nil {
		o.willTimer = time.AfterFunc(time.Duration(willDelay)*time.Second, s.willDue)
	}
	if s.expiry != ExpiryNever {
		o.expiryTimer = time.AfterFunc(time.Duration(s.expiry)*time.Second, s.expire)
	}
	s.off = o
}

// takeWillLocked removes and returns the delayed will, if any, and who
// the session's last connection was.
func (s *Session) takeWillLocked() (*router.Message, *ClientInfo) {
	if s.off == nil {
		return nil, nil
	}
	w := s.off.will
	s.off.will = nil
	return w, s.off.who
}

// willDue publishes a delayed will unless the client came back in time
// [MQTT-3.1.3-9].
func (s *Session) willDue() {
	s.mu.Lock()
	w, who := s.takeWillLocked()
	if s.client.Load() != nil || s.isEnded() {
		w = nil
	}
	if w != nil {
		s.persistWillLocked(nil, 0, 0) // published: out of the store
	}
	s.mu.Unlock()
	s.broker.publishWill(w, who)
}

// expire ends an offline session whose expiry interval has passed; a will
// still waiting for its delay is published now, as the session ends.
func (s *Session) expire() {
	b := s.broker
	b.mu.Lock()
	s.mu.Lock()
	if s.client.Load() != nil || s.isEnded() {
		s.mu.Unlock()
		b.mu.Unlock()
		return
	}
	b.forgetSessionLocked(s)
	w, who := s.takeWillLocked()
	s.forgetLocked()
	filters := s.endLocked()
	s.mu.Unlock()
	b.mu.Unlock()
	s.unsubscribeAll(filters)
	b.publishWill(w, who)
	if b.has(OnClientExpired) {
		cl := ClientInfo{ID: s.id}
		if who != nil {
			cl = *who
		}
		b.call(OnClientExpired, func(h Hook) { h.OnClientExpired(cl) })
	}
}

// endLocked marks the session over and returns the filters to unsubscribe
// from the router once the locks are released.
func (s *Session) endLocked() []string {
	s.setBit(sessEnded, true)
	s.stopTimerLocked()
	filters := make([]string, 0, len(s.subs))
	for f := range s.subs {
		filters = append(filters, f)
	}
	s.broker.Stats.Inflight.Add(-int64(len(s.inflight)))
	for _, f := range s.inflight {
		s.release(&f.pending)
	}
	for s.queueLen() > 0 {
		p := s.dequeueLocked()
		s.release(&p)
	}
	s.subs, s.inflight, s.inQoS2, s.q = nil, nil, nil, nil
	return filters
}

func (s *Session) unsubscribeAll(filters []string) {
	for _, f := range filters {
		s.broker.router.Unsubscribe(s, f)
	}
}

// nextPacketIDLocked returns a packet id not in flight, or 0 when all 65,535
// are taken.
func (s *Session) nextPacketIDLocked() uint16 {
	for range 65535 {
		s.nextPID++
		if s.nextPID == 0 {
			s.nextPID = 1
		}
		if _, used := s.inflight[s.nextPID]; !used {
			return s.nextPID
		}
	}
	return 0
}

func (s *Session) queueLen() int {
	if s.q == nil {
		return 0
	}
	return len(s.q.items) - s.q.head
}

// peekLocked is the message at the head of a non-empty queue.
func (s *Session) peekLocked() *pending { return &s.q.items[s.q.head] }

// enqueueLocked keeps p for later, or drops and counts it when the queue is
// at its bound, or p cannot be held (held.go).
func (s *Session) enqueueLocked(p pending) {
	if s.queueLen() >= s.broker.opts.MaxQueued {
		// Expired messages at the head make room first. This may run off
		// any loop (an offline session), so it reads the clock itself.
		s.dropExpiredLocked(s.broker.wallNow())
	}
	cause, ok := DropQueueFull, s.queueLen() < s.broker.opts.MaxQueued
	if ok && !p.held {
		cause, ok = s.holdLocked(&p)
	}
	if !ok {
		s.unstoreLocked(p.seq)
		s.release(&p)
		s.refused(p.msg, cause)
		return
	}
	if s.isStored() && p.qos > 0 && p.seq == 0 {
		s.storePendingLocked(&p, 0, 0) // not written while routing
	}
	if s.q == nil {
		s.q = &msgQueue{}
	}
	s.q.items = append(s.q.items, p)
	s.broker.Stats.Queued.add(s, 1)
}

// dropExpiredLocked drops and counts the expired messages at the head of the
// queue: they are past delivery [MQTT-3.3.2-5], and must neither hold a place
// in the queue nor take a packet id.
func (s *Session) dropExpiredLocked(now int64) {
	for s.queueLen() > 0 && expiredAt(s.peekLocked().msg, now) {
		p := s.dequeueLocked()
		s.unstoreLocked(p.seq)
		s.release(&p)
		s.dropped(p.msg, DropExpired)
	}
}

func (s *Session) dequeueLocked() pending {
	q := s.q
	p := q.items[q.head]
	q.items[q.head] = pending{}
	q.head++
	s.broker.Stats.Queued.add(s, -1)
	if q.head == len(q.items) {
		s.q = nil
	}
	return p
}

// deliverOffline is the path for a delivery whose session has no loop when
// the router hands it over.
func (s *Session) deliverOffline(d router.Delivery, seq uint64) {
	s.mu.Lock()
	if c := s.client.Load(); c != nil {
		// Attached since the router looked: go through that loop.
		s.mu.Unlock()
		c.loop.post(item{sess: s, d: d, seq: seq})
		return
	}
	p := pendingFrom(d, seq)
	if !s.isEnded() && (p.qos > 0 || s.broker.opts.QueueQoS0) {
		s.enqueueLocked(p)
	} else {
		s.release(&p)
	}
	s.mu.Unlock()
}

// deliverOnLoop runs on loop l for a delivery posted to it.
func (s *Session) deliverOnLoop(l *Loop, d router.Delivery, seq uint64) {
	s.mu.Lock()
	c := s.client.Load()
	switch {
	case s.isEnded():
		p := pendingFrom(d, seq)
		s.release(&p)
	case c == nil:
		p := pendingFrom(d, seq)
		if p.qos > 0 || s.broker.opts.QueueQoS0 {
			s.enqueueLocked(p)
		} else {
			s.release(&p)
		}
	case c.loop != l:
		s.mu.Unlock()
		c.loop.post(item{sess: s, d: d, seq: seq})
		return
	default:
		s.sendLocked(c, pendingFrom(d, seq))
	}
	s.mu.Unlock()
}

// pendingFrom is the pending of a routed delivery. The sink reserved every
// QoS 1/2 delivery it passed on (admit), and no QoS 0 one.
func pendingFrom(d router.Delivery, seq uint64) pending {
	q := d.QoS
	if d.Msg.QoS < q {
		q = d.Msg.QoS // [MQTT-3.8.4-8] never above the published QoS
	}
	return pending{msg: d.Msg, qos: q, retain: d.Retain, subIDs: d.SubIDs, seq: seq, held: q > 0}
}

// sendLocked sends p to the attached client c now if its window and
// outbound buffer allow, and otherwise queues or drops it.
func (s *Session) sendLocked(c *Client, p pending) {
	if p.qos == 0 {
		if cause, over := c.outboundOver(); over {
			s.dropped(p.msg, cause)
			c.shed()
			return
		}
		c.writePublish(&p, 0, false)
		return
	}
	if s.queueLen() > 0 {
		// Keep the order: behind what waits, then move the queue along (it
		// may have stalled on a full outbound buffer that has since drained).
		s.enqueueLocked(p)
		s.fillLocked(c)
		return
	}
	if !s.windowOpenLocked(c) {
		s.enqueueLocked(p)
		return
	}
	if c.overLimit() {
		s.enqueueLocked(p)
		c.loop.holdBack(c)
		return
	}
	s.sendInflightLocked(c, p)
}

// retryQueued sends what waits in the queue if the connection has room
// now; the loop's tick calls it for clients held back by a full buffer.
func (s *Session) retryQueued(c *Client) {
	s.mu.Lock()
	if s.client.Load() == c && s.queueLen() > 0 {
		s.fillLocked(c)
	}
	s.mu.Unlock()
}

func (s *Session) windowOpenLocked(c *Client) bool {
	return len(s.inflight) < int(c.window)
}

func (s *Session) sendInflightLocked(c *Client, p pending) {
	if expiredAt(p.msg, c.loop.wall) {
		s.dropped(p.msg, DropExpired) // before it takes a packet id [MQTT-3.3.2-5]
		s.unstoreLocked(p.seq)
		s.release(&p)
		return
	}
	pid := s.nextPacketIDLocked()
	if pid == 0 {
		if s.broker.has(OnPacketIDExhausted) {
			c.qosEvent(OnPacketIDExhausted, p.msg, 0)
		}
		s.enqueueLocked(p)
		return
	}
	if s.inflight == nil {
		s.inflight = make(map[uint16]*inflight)
	}
	if !c.writePublish(&p, pid, false) {
		s.unstoreLocked(p.seq)
		s.release(&p)
		return
	}
	if p.seq == 0 {
		s.seq++
		p.seq = s.seq
	}
	st := byte(waitPuback)
	if p.qos == 2 {
		st = waitPubrec
	}
	f := &inflight{pending: p, pid: pid, state: st}
	s.inflight[pid] = f
	if s.isStored() {
		s.storePendingLocked(&f.pending, pid, st)
	}
	s.broker.Stats.Inflight.Add(1)
	if s.broker.has(OnQosPublish) {
		c.qosEvent(OnQosPublish, p.msg, 0)
	}
}

// fillLocked moves queued messages into the window as far as it allows.
func (s *Session) fillLocked(c *Client) {
	for s.queueLen() > 0 {
		s.dropExpiredLocked(c.loop.wall)
		if s.queueLen() == 0 {
			return
		}
		if c.overLimit() {
			// Nothing acknowledges a write buffer that drains: the loop's
			// tick tries again.
			c.loop.holdBack(c)
			return
		}
		if s.peekLocked().qos > 0 && !s.windowOpenLocked(c) {
			return
		}
		p := s.dequeueLocked()
		if p.qos == 0 {
			c.writePublish(&p, 0, false)
			s.releaseOn(c.loop, &p)
		} else {
			s.sendInflightLocked(c, p)
		}
	}
}

// resumeLocked re-sends, in their original order, the messages still in
// flight from an earlier connection — PUBLISH with DUP set, or PUBREL where
// PUBREC was already received [MQTT-4.4.0-1] [MQTT-3.3.1-1] — then the queue.
// A message in flight is re-sent even if it expired since: its delivery had
// begun [MQTT-3.3.2-5]. Only one now too large for the client is dropped.
func (s *Session) resumeLocked(c *Client) {
	if len(s.inflight) > 0 {
		list := make([]*inflight, 0, len(s.inflight))
		for _, f := range s.inflight {
			list = append(list, f)
		}
		sort.Slice(list, func(i, j int) bool { return list[i].seq < list[j].seq })
		for _, f := range list {
			if f.state == waitPubcomp {
				c.writeAck(proto.PUBREL, f.pid, proto.Success)
			} else if !c.writePublish(&f.pending, f.pid, true) {
				if s.broker.has(OnQosDropped) {
					c.qosEvent(OnQosDropped, f.msg, 0)
				}
				delete(s.inflight, f.pid)
				s.broker.Stats.Inflight.Add(-1)
				s.unstoreLocked(f.seq)
				s.release(&f.pending)
			} else if s.broker.has(OnQosPublish) {
				c.qosEvent(OnQosPublish, f.msg, 1)
			}
		}
	}
	s.fillLocked(c)
}

// ack handles PUBACK, PUBREC and PUBCOMP from the client for an outbound
// message. It reports whether pid was known.
func (s *Session) ackLocked(c *Client, t proto.Type, pid uint16, rc proto.ReasonCode) bool {
	f := s.inflight[pid]
	if f == nil {
		return false
	}
	switch {
	case t == proto.PUBACK && f.state == waitPuback,
		t == proto.PUBCOMP && f.state == waitPubcomp,
		t == proto.PUBREC && f.state == waitPubrec && rc >= 0x80: // the flow ends on an error code
		delete(s.inflight, pid)
		s.broker.Stats.Inflight.Add(-1)
		if b := s.broker; b.has(OnQosComplete) || b.has(OnQosDropped) {
			ev := OnQosComplete
			if rc >= 0x80 {
				ev = OnQosDropped // the client refused it (PUBACK/PUBREC error code)
			}
			c.qosEvent(ev, f.msg, 0)
		}
		s.unstoreLocked(f.seq)
		s.releaseOn(c.loop, &f.pending)
		if len(s.inflight) == 0 {
			s.inflight = nil
		}
		s.fillLocked(c)
	case t == proto.PUBREC && (f.state == waitPubrec || f.state == waitPubcomp):
		f.state = waitPubcomp
		s.releaseOn(c.loop, &f.pending)
		f.msg = nil // only the PUBREL is re-sent from here on: let the payload go
		if s.isStored() {
			s.storePendingLocked(&f.pending, pid, waitPubcomp)
		}
		c.writeAck(proto.PUBREL, pid, proto.Success)
	default:
		return false
	}
	return true
}

// qosEvent fires one of the QoS flow events for a message to c; it runs
// on c's loop. m is nil for a QoS 2 flow past PUBREC (the payload was let
// go): the hooks then see an empty PUBLISH.
func (c *Client) qosEvent(ev Event, m *router.Message, resends int) {
	b := c.loop.broker
	cl := c.info()
	pk := &proto.Publish{}
	if m != nil {
		pk = publishView(m)
	}
	b.call(ev, func(h Hook) {
		switch ev {
		case OnQosPublish:
			h.OnQosPublish(cl, pk, c.loop.wall/1e9, resends)
		case OnQosComplete:
			h.OnQosComplete(cl, pk)
		case OnQosDropped:
			h.OnQosDropped(cl, pk)
		case OnPacketIDExhausted:
			h.OnPacketIDExhausted(cl, pk)
		}
	})
}
