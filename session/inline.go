package session

import (
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/router"
)

// The inline client: the embedding program publishes and subscribes from
// its own goroutines, without a socket.
//
// Its publishes take the one publish path (route.go) like a client's, with
// the hooks' events, the expiry rules and the retained store; it is not
// subject to ACLs and may publish under $SYS (the broker's own $SYS
// publisher is its first user). Its subscriptions are subscribers of the
// router like sessions (the delivery seam, broker.go's Subscriber), so
// they take part in shared groups beside network members. Each runs its
// handler on a goroutine of its own, started when a message waits and
// ended when none does: a slow handler delays only its own subscription,
// never an event loop or a router shard. What waits is bounded: QoS 0
// messages past InlineQueue are dropped and counted; QoS 1/2 messages are
// held against MaxSessionBytes and MemoryBudget like a session's, so they
// are not lost while the handler is slow, and the publisher learns (v5
// 0x97) when none of its subscribers could take one.

// InlineClientID is the client id hooks see for the inline client.
const InlineClientID = "inline"

// inlineKeyPrefix starts the router's client id of an inline subscription:
// U+0000 cannot appear in a network client's id [MQTT-1.5.4-2], so no
// client can take an inline subscription's place in the router.
const inlineKeyPrefix = "\x00inline/"

// InlineMessage is a message delivered to an inline subscription.
type InlineMessage struct {
	Topic   string
	Payload []byte // shared with other subscribers: read, do not modify
	// QoS is the QoS it was delivered with: the lower of the published
	// one and the broker's maximum.
	QoS    byte
	Retain bool
	// Props are the v5 properties it was published with (nil when none);
	// read, do not modify.
	Props *proto.Properties
	// SubscriptionID is the id the subscription was made with.
	SubscriptionID int
	// Stored: a retained message sent because the subscription was made.
	Stored bool
}

// InlineHandler receives an inline subscription's messages, one at a time
// and in order, on the subscription's own goroutine.
type InlineHandler func(m InlineMessage)

// InlinePublish is a message published by the inline client.
type InlinePublish struct {
	Topic   string
	Payload []byte // copied: the caller may reuse it
	QoS     byte
	Retain  bool
	// Props are v5 properties to publish with (those a broker forwards:
	// payload format, message expiry, content type, response topic,
	// correlation data, user properties); copied.
	Props *proto.Properties
}

// Errors of the inline client.
var (
	ErrInlineTopic   = errors.New("loom: not a valid topic name to publish to")
	ErrInlineFilter  = errors.New("loom: not a valid topic filter")
	ErrInlineQoS     = errors.New("loom: QoS above the broker's maximum")
	ErrInlineRetain  = errors.New("loom: retained messages are turned off")
	ErrInlineDup     = errors.New("loom: an inline subscription with this filter and id exists")
	ErrInlineUnknown = errors.New("loom: no inline subscription with this filter and id")
)

// Publish publishes a message from the inline client; safe from any
// goroutine. It returns once the message is handed to the router, or the
// reason it was refused (an OnPublish hook's error).
func (b *Broker) Publish(topic string, payload []byte, retain bool, qos byte) error {
	return b.PublishMessage(InlinePublish{Topic: topic, Payload: payload, Retain: retain, QoS: qos})
}

// PublishMessage is Publish with v5 properties.
func (b *Broker) PublishMessage(p InlinePublish) error {
	if !proto.ValidTopicName([]byte(p.Topic)) {
		return fmt.Errorf("%w: %q", ErrInlineTopic, p.Topic)
	}
	if p.QoS > b.opts.MaxQoS.Level() {
		return ErrInlineQoS
	}
	if p.Retain && b.opts.DisableRetain {
		return ErrInlineRetain
	}
	m := &router.Message{Topic: p.Topic, Payload: append([]byte(nil), p.Payload...), QoS: p.QoS, Retain: p.Retain}
	if p.Props != nil {
		m.Props = forwardProps(p.Props)
	}
	return b.publishInline(m, fromInline)
}

// publishInline takes m, from the inline client or $SYS, down the one
// publish path.
func (b *Broker) publishInline(m *router.Message, from pubSource) error {
	now := time.Now().UnixNano()
	if from != fromSys {
		// The broker's clock, which tests move; the $SYS goroutine keeps
		// off it (its values carry no expiry interval anyway).
		now = b.wallNow()
	}
	if rc := b.publish(&publishing{m: m, from: from, now: now}); rc >= 0x80 {
		return fmt.Errorf("loom: publish to %q refused: %w", m.Topic, proto.Errorf(rc, "refused by a hook"))
	}
	return nil
}

// inlineSub is one inline subscription: a Subscriber of the router.
type inlineSub struct {
	b       *Broker
	key     string // the router's client id: inlineKeyPrefix + id + "/" + filter
	filter  string
	id      int
	handler InlineHandler

	mu      sync.Mutex
	q       []inlineItem
	head    int
	qos0    int  // QoS 0 messages in q
	running bool // the handler's goroutine runs
	closed  bool
	// held counts the bytes of the QoS 1/2 messages it holds (held.go).
	held atomic.Int64
}

type inlineItem struct {
	m      *router.Message
	qos    byte
	retain bool
	stored bool
	held   bool
}

func (s *inlineSub) ClientID() string { return s.key }

// Connected is always true: an inline subscription is always there to
// take a shared group's message.
func (s *inlineSub) Connected() bool { return true }

// Deliver queues d for the handler; it runs on a router shard. A QoS 1/2
// delivery a bound refused counts toward the publisher's 0x97 (held.go).
func (s *inlineSub) Deliver(d router.Delivery) {
	refused := s.take(d)
	if r, _ := d.Msg.Ref.(*publishRef); r != nil {
		if refused {
			r.refused++
		} else {
			r.reached++
		}
	}
}

// take queues d and reports whether a bound refused it (a QoS 1/2 one
// over MaxSessionBytes or the budget); QoS 0 past InlineQueue is dropped
// but not refused, as for a session.
func (s *inlineSub) take(d router.Delivery) (refused bool) {
	b := s.b
	q := min(d.QoS, d.Msg.QoS)
	it := inlineItem{m: d.Msg, qos: q, retain: d.Retain, stored: d.Stored}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false // unsubscribed meanwhile
	}
	if q == 0 {
		if s.qos0 >= b.opts.InlineQueue {
			b.drop(DropQueueFull)
			return false
		}
		s.qos0++
	} else {
		g, cause, ok := b.admit(&s.held, d.Msg, b.HeldBytes())
		if !ok {
			b.drop(cause)
			b.pressure()
			return true
		}
		b.held.Add(g)
		it.held = true
	}
	s.q = append(s.q, it)
	if !s.running {
		s.running = true
		go s.run()
	}
	return false
}

// run hands the queued messages to the handler until none waits.
func (s *inlineSub) run() {
	for {
		s.mu.Lock()
		if s.head == len(s.q) {
			s.q, s.head, s.running = s.q[:0], 0, false
			if cap(s.q) > 64 {
				s.q = nil
			}
			s.mu.Unlock()
			return
		}
		it := s.q[s.head]
		s.q[s.head] = inlineItem{}
		s.head++
		if it.qos == 0 {
			s.qos0--
		}
		closed := s.closed
		s.mu.Unlock()
		if !closed && !(it.m.Expiry != 0 && s.b.wallNow() >= it.m.Expiry) {
			s.call(it)
		} else if !closed {
			s.b.drop(DropExpired)
		}
		if it.held {
			s.b.held.Add(-unhold(&s.held, it.m))
		}
	}
}

// call runs the handler for one message, recovering a panic.
func (s *inlineSub) call(it inlineItem) {
	defer func() {
		if r := recover(); r != nil {
			s.b.Stats.HookPanics.Add(1)
			s.b.opts.Logger.Error("an inline subscription's handler panicked; it goes on with the next message",
				"filter", s.filter, "id", s.id, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	s.b.Stats.MessagesOut.AddQoS(it.qos, 1)
	s.handler(InlineMessage{Topic: it.m.Topic, Payload: it.m.Payload, QoS: it.qos, Retain: it.retain,
		Props: it.m.Props, SubscriptionID: s.id, Stored: it.stored})
}

// inlineSubs is the broker's inline subscriptions by filter and id.
type inlineSubs struct {
	mu   sync.Mutex
	subs map[string]*inlineSub
}

func inlineKey(filter string, id int) string {
	return inlineKeyPrefix + strconv.Itoa(id) + "/" + filter
}

// Subscribe makes an inline subscription to filter (which may be
// $share/group/filter) with handler; id tells apart subscriptions of the
// same filter. Retained messages matching filter are delivered first.
// Safe from any goroutine.
func (b *Broker) Subscribe(filter string, id int, handler InlineHandler) error {
	if handler == nil {
		return errors.New("loom: Subscribe with a nil handler")
	}
	if _, _, _, err := proto.ParseShared([]byte(filter)); err != nil || !proto.ValidTopicFilter([]byte(filter)) {
		return fmt.Errorf("%w: %q", ErrInlineFilter, filter)
	}
	key := inlineKey(filter, id)
	b.inline.mu.Lock()
	defer b.inline.mu.Unlock()
	if _, ok := b.inline.subs[key]; ok {
		return ErrInlineDup
	}
	if b.inline.subs == nil {
		b.inline.subs = make(map[string]*inlineSub)
	}
	s := &inlineSub{b: b, key: key, filter: filter, id: id, handler: handler}
	b.inline.subs[key] = s
	b.router.Subscribe(s, filter, router.SubOptions{QoS: b.opts.MaxQoS.Level()}, true)
	return nil
}

// Unsubscribe ends the inline subscription of filter and id; messages
// already queued for its handler are given up.
func (b *Broker) Unsubscribe(filter string, id int) error {
	key := inlineKey(filter, id)
	b.inline.mu.Lock()
	s, ok := b.inline.subs[key]
	delete(b.inline.subs, key)
	b.inline.mu.Unlock()
	if !ok {
		return ErrInlineUnknown
	}
	b.router.Unsubscribe(s, filter)
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}
