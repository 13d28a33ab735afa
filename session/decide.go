package session

import (
	"errors"
	"sync/atomic"

	"github.com/loom-mqtt/loom/proto"
)

// Decisions by hooks: authentication at CONNECT and ACL checks.
//
// The hooks providing the event are asked in order; the first Allow or
// Refuse decides, a Deny passes the question to the next hook, and when
// all deny the answer is no (Mochi's meaning: any hook may allow). A late
// answer (Later, then the Answer) is final either way. A hook that returns Later answers through a callback:
// the client's packet is then left unprocessed in the connection's buffer
// (Handle returns ErrWaiting), the reactor stops reading the connection,
// and the loop serves its other clients. The answer comes back to the loop
// as a task; the hooks after the one that said no are asked, and when the
// question is settled the loop's waker has the reactor hand the buffered
// packet to Handle again, which now finds the answer and goes on. So a
// client waits in its state machine exactly where it was, its packets keep
// their order, and nothing of it is copied.

// ErrWaiting is returned by Client.Handle when the packet waits for a
// hook's answer: the reactor keeps the packet in the connection's buffer,
// stops reading, and hands the packet over again once the loop's waker is
// called for the client.
var ErrWaiting = errors.New("waiting for a hook's decision")

// decision is a question put to the hooks for one client.
type decision struct {
	ev    Event
	key   string // the topic or filter; "" for authentication
	write bool
	state uint8
	allow bool // the answer, once settled
	// injected: the packet that asked was injected (inject.go), not read
	// from the connection.
	injected bool
}

const (
	decAwaiting = iota // a hook will answer
	decSettled
)

// answer is a settled decision, kept while the packet that asked is
// handled (a SUBSCRIBE asks once per filter, and a packet that waited is
// handled again from the start).
type answer struct {
	ev    Event
	key   string
	write bool
	allow bool
}

// decide asks the hooks providing ev whether c may go on: allow, or wait
// (Handle returns ErrWaiting and the packet is handled again later). pk is
// the CONNECT for authentication.
func (c *Client) decide(ev Event, key string, write bool, pk *proto.Connect) (allow, wait bool) {
	hs := c.loop.broker.hooks.load().by[ev]
	if len(hs) == 0 {
		return true, false
	}
	if x := c.ext; x != nil {
		for _, a := range x.answers {
			if a.ev == ev && a.key == key && a.write == write {
				return a.allow, false
			}
		}
		if d := x.decision; d != nil {
			same := d.ev == ev && d.key == key && d.write == write
			if same && d.state == decAwaiting {
				return false, true // the packet came back before the answer
			}
			x.decision = nil // settled, or another question's: this one is asked
			if same {
				x.answers = append(x.answers, answer{ev, key, write, d.allow})
				return d.allow, false
			}
		}
	}
	d := &decision{ev: ev, key: key, write: write}
	if c.ask(d, hs, pk) {
		x := c.x()
		x.answers = append(x.answers, answer{ev, key, write, d.allow})
		return d.allow, false
	}
	c.x().decision = d
	c.setFlag(flagWaiting)
	return false, true
}

// handledAgain reports whether the packet being handled was handled
// before and waited for hooks: what it announced then is not announced
// again.
func (c *Client) handledAgain() bool {
	return c.ext != nil && (c.ext.decision != nil || len(c.ext.answers) > 0)
}

// packetDone forgets the answers kept for the packet just handled.
func (c *Client) packetDone(err error) {
	if err == ErrWaiting || c.ext == nil {
		return
	}
	// The answers' slice is kept for the next packet: with ACL hooks every
	// PUBLISH asks, and a new slice each time was an allocation a message.
	clear(c.ext.answers)
	c.ext.answers, c.ext.rewritten = c.ext.answers[:0], nil
	if len(c.ext.injected) > 0 && !c.ReadStopped() {
		c.loop.run(c.retryInjected) // injected while this one waited
	}
}

// ask asks the hooks in order; it reports whether d is settled, or false
// when a hook will answer later.
func (c *Client) ask(d *decision, hs []*hookEntry, pk *proto.Connect) bool {
	b := c.loop.broker
	cl := c.info()
	d.state = decAwaiting
	for _, e := range hs {
		v := Deny
		var once atomic.Bool
		answer := Answer(func(allow bool) {
			if once.CompareAndSwap(false, true) {
				c.loop.run(func() { c.answered(d, allow) })
			}
		})
		b.callOne(e, d.ev, func(h Hook) {
			if d.ev == OnConnectAuthenticate {
				v = h.OnConnectAuthenticate(cl, pk, answer)
			} else {
				v = h.OnACLCheck(cl, d.key, d.write, answer)
			}
		}) // a panic leaves v at Deny
		switch v {
		case Allow:
			d.state, d.allow = decSettled, true
			return true
		case Later:
			return false
		case Refuse:
			d.state, d.allow = decSettled, false
			return true
		}
	}
	d.state, d.allow = decSettled, false
	return true
}

// answered runs on c's loop with a hook's late answer to d, which settles
// it; the packet is handed to Handle again to go on with it.
func (c *Client) answered(d *decision, allow bool) {
	if c.ext == nil || c.ext.decision != d || d.state != decAwaiting ||
		c.state == stateClosed || c.state == stateClosing {
		return // the client has gone, or moved on
	}
	// Final either way (see Later): the hooks after this one are not asked.
	d.state, d.allow = decSettled, allow
	c.clearFlag(flagWaiting)
	if d.injected {
		c.retryInjected()
	}
	if !c.Waiting() && c.loop.wake != nil {
		c.loop.wake(c) // read on: the waiting packet, or what came meanwhile
	}
}

// Waiting reports whether c waits for a hook's answer: the reactor leaves
// its input unread meanwhile.
func (c *Client) Waiting() bool { return c.flags.Load()&flagWaiting != 0 }

// SetWaker is called by the reactor with the function that hands a
// waiting client's buffered packets to Handle again once its answer came.
// It is called on the loop.
func (l *Loop) SetWaker(fn func(c *Client)) { l.wake = fn }

// Conn is the network connection c was made for.
func (c *Client) Conn() Conn { return c.conn }

// decideFor asks the ACL hooks about cl where no connection can wait for
// the answer (a will, a retained message on a router shard). settled: the
// hooks answered at once, and allow is the answer; otherwise a hook
// answers later and late gets it, from the goroutine of its Answer.
// Without ACL hooks, yes at once.
func (b *Broker) decideFor(cl ClientInfo, topic string, write bool, late func(allow bool)) (allow, settled bool) {
	hs := b.hooks.load().by[OnACLCheck]
	for _, e := range hs {
		v := Deny
		var once atomic.Bool
		answer := Answer(func(allow bool) {
			if once.CompareAndSwap(false, true) {
				late(allow) // final either way (see Later)
			}
		})
		b.callOne(e, OnACLCheck, func(h Hook) { v = h.OnACLCheck(cl, topic, write, answer) })
		switch v {
		case Allow:
			return true, true
		case Refuse:
			return false, true
		case Later:
			return false, false
		}
	}
	return len(hs) == 0, true // every hook denied; none at all: yes
}

// whoOf is what hooks off the loop see of s's client.
func (s *Session) whoOf() ClientInfo {
	if w := s.who.Load(); w != nil {
		return *w
	}
	return ClientInfo{ID: s.id}
}
