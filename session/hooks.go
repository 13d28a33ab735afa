package session

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/loom-mqtt/loom/proto"
)

// Hooks let an embedding program observe and steer the broker: every
// client event, every packet in and out, every message routed. A hook
// implements Hook (embedding HookBase for the events it does not provide)
// and says which events it provides; AddHook reads that once into a list
// per event, so an event no hook provides costs one length check.
//
// The contract:
//   - Hooks are called in the order they were added. Where a hook may
//     change or refuse what it is given, the next hook sees what the last
//     one returned.
//   - Most events run on the event loop of the client concerned, which
//     serves thousands of other connections: a hook must not block there.
//     A decision that needs the network or a disk (an HTTP call, a database)
//     uses the asynchronous form of OnConnectAuthenticate and OnACLCheck:
//     return Later and call the Answer from any goroutine when it is known.
//     The client waits in its state machine (its further packets stay
//     unread), and its loop goes on serving everyone else.
//   - A few events run elsewhere, named in their comments: on a router
//     shard (OnSelectSubscribers, OnRetainedExpired), on the $SYS goroutine
//     (OnSysInfoTick), on a session's timer (OnClientExpired, and OnWill for
//     a delayed will), on the embedder's goroutine (OnStarted, OnStopped).
//   - A hook sees clients as ClientInfo values and packets as copies or as
//     views it may replace but must not modify in place or keep: slices in
//     the packets it is given point into buffers the loop reuses.
//   - A panicking hook is recovered and logged, with its stack, once per
//     hook and event. For OnConnectAuthenticate and OnACLCheck a panic is a
//     refusal; for events that return a value, the value given in is kept.
//
// Hooks that need configuration read it in Init, called once by AddHook.

// Event names a point where hooks are called.
type Event uint8

// The events, with Mochi MQTT v2's names and meaning.
const (
	OnStarted Event = iota
	OnStopped
	OnConnectAuthenticate
	OnACLCheck
	OnSysInfoTick
	OnConnect
	OnSessionEstablish
	OnSessionEstablished
	OnDisconnect
	OnAuthPacket
	OnPacketRead
	OnPacketEncode
	OnPacketSent
	OnPacketProcessed
	OnSubscribe
	OnSubscribed
	OnSelectSubscribers
	OnUnsubscribe
	OnUnsubscribed
	OnPublish
	OnPublished
	OnPublishDropped
	OnRetainMessage
	OnRetainPublished
	OnQosPublish
	OnQosComplete
	OnQosDropped
	OnPacketIDExhausted
	OnWill
	OnWillSent
	OnClientExpired
	OnRetainedExpired
	numEvents
)

var eventNames = [numEvents]string{"OnStarted", "OnStopped", "OnConnectAuthenticate",
	"OnACLCheck", "OnSysInfoTick", "OnConnect", "OnSessionEstablish", "OnSessionEstablished",
	"OnDisconnect", "OnAuthPacket", "OnPacketRead", "OnPacketEncode", "OnPacketSent",
	"OnPacketProcessed", "OnSubscribe", "OnSubscribed", "OnSelectSubscribers", "OnUnsubscribe",
	"OnUnsubscribed", "OnPublish", "OnPublished", "OnPublishDropped", "OnRetainMessage",
	"OnRetainPublished", "OnQosPublish", "OnQosComplete", "OnQosDropped", "OnPacketIDExhausted",
	"OnWill", "OnWillSent", "OnClientExpired", "OnRetainedExpired"}

func (e Event) String() string {
	if e < numEvents {
		return eventNames[e]
	}
	return fmt.Sprintf("Event(%d)", e)
}

// Events lists every event, in order.
func Events() []Event {
	out := make([]Event, numEvents)
	for i := range out {
		out[i] = Event(i)
	}
	return out
}

// Verdict is an authentication or ACL hook's answer.
type Verdict uint8

const (
	// Deny refuses, unless a hook after this one allows: "not mine to
	// allow". HookBase answers it.
	Deny Verdict = iota
	// Allow accepts; the hooks after this one are not asked.
	Allow
	// Later says the hook will call the Answer it was given, once, from
	// any goroutine. Until then the client waits. The answer is final
	// either way: true as Allow, false as Refuse (a hook that had to ask
	// an authority has its answer; the hooks after it are not asked).
	Later
	// Refuse refuses outright: the hooks after this one are not asked (a
	// ban list before a permissive hook).
	Refuse
)

// Answer gives a decision that a hook returned Later for. Calls after the
// first, and calls for a client that has gone, are ignored.
type Answer func(allow bool)

// ErrRejectPacket, returned by OnPacketRead, OnAuthPacket or OnPublish,
// drops the packet or message quietly instead of ending the connection:
// a rejected QoS 1/2 PUBLISH is acknowledged as if delivered.
var ErrRejectPacket = errors.New("packet rejected by a hook")

// ClientInfo is what hooks see of a client. The inline client (Inline set)
// has the id InlineClientID.
type ClientInfo struct {
	ID       string
	Username string
	Remote   string // the peer's address, "" for the inline client
	Listener string // the local address the client connected to
	Version  proto.Version
	Inline   bool
}

// SysInfo is the broker's state as published under $SYS, given to
// OnSysInfoTick once per interval.
type SysInfo struct {
	Uptime           int64 // seconds
	Connected        int64
	Disconnected     int64 // sessions without a connection
	Sessions         int64
	MaxConnected     int64
	MessagesReceived int64
	MessagesSent     int64
	BytesReceived    int64
	BytesSent        int64
	Dropped          int64
	Subscriptions    int64
	Retained         int64
	Inflight         int64
	HeapBytes        int64
	SpoolBytes       int64
	HeldBytes        int64
}

// Recipient is one delivery OnSelectSubscribers may keep or drop.
type Recipient struct {
	ClientID string
	QoS      byte // granted QoS of the matching subscription(s)
	SubIDs   []uint32
}

// Hook is implemented by everything AddHook takes. Embed HookBase and
// override Provides and the events provided. A hook that needs the
// broker's logger implements SetOpts too (HookOptions).
type Hook interface {
	// ID names the hook in logs.
	ID() string
	// Provides reports whether the hook handles e; read once by AddHook.
	Provides(e Event) bool
	// Init is called once by AddHook with the configuration given there.
	Init(config any) error
	// Stop is called when the broker closes, after OnStopped.
	Stop() error

	// OnStarted: the listeners accept connections.
	OnStarted()
	// OnStopped: the broker is closing.
	OnStopped()
	// OnConnectAuthenticate decides whether a CONNECT's credentials are
	// accepted (CONNACK 0x86 / 3.1.1 code 4 when no hook allows). Not
	// called for a CONNECT with an Authentication Method, which its
	// Authenticator decides (a hook that is one, or
	// Options.Authenticators). No hook providing it: every client is
	// accepted.
	OnConnectAuthenticate(cl ClientInfo, pk *proto.Connect, answer Answer) Verdict
	// OnACLCheck decides whether cl may publish to topic (write) or
	// subscribe to the filter topic (read); a refused PUBLISH gets v5
	// PUBACK/PUBREC 0x87 (3.1.1: dropped, acknowledged), a refused filter
	// SUBACK 0x87 (3.1.1: 0x80). No hook providing it: allowed.
	OnACLCheck(cl ClientInfo, topic string, write bool, answer Answer) Verdict
	// OnSysInfoTick runs on the $SYS goroutine once per interval.
	OnSysInfoTick(info SysInfo)
	// OnConnect: a CONNECT was received and decoded, before
	// authentication. An error refuses it: a *proto.Error with its code,
	// any other with 0x80 (3.1.1: the connection closes).
	OnConnect(cl ClientInfo, pk *proto.Connect) error
	// OnSessionEstablish: authentication passed; the session is about to
	// be taken, resumed or made.
	OnSessionEstablish(cl ClientInfo, pk *proto.Connect)
	// OnSessionEstablished: CONNACK is written.
	OnSessionEstablished(cl ClientInfo, pk *proto.Connect)
	// OnDisconnect: a connected client's connection closed; err is why
	// (nil after a normal DISCONNECT), expire whether its session ended
	// with it.
	OnDisconnect(cl ClientInfo, err error, expire bool)
	// OnAuthPacket sees each AUTH packet before it is processed; it may
	// return another, or an error (ErrRejectPacket drops the packet).
	OnAuthPacket(cl ClientInfo, pk *proto.Auth) (*proto.Auth, error)
	// OnPacketRead sees each packet from a client, CONNECT and AUTH
	// included, before it is processed;
	// it may return another, or an error (ErrRejectPacket drops it, any
	// other closes the connection).
	OnPacketRead(cl ClientInfo, pk proto.Packet) (proto.Packet, error)
	// OnPacketEncode sees each packet before it is written to a client and
	// may return another.
	OnPacketEncode(cl ClientInfo, pk proto.Packet) proto.Packet
	// OnPacketSent: a packet's bytes were written to the client's
	// connection.
	OnPacketSent(cl ClientInfo, pk proto.Packet, b []byte)
	// OnPacketProcessed: a packet from the client was processed; err is
	// what ended the connection, if it did.
	OnPacketProcessed(cl ClientInfo, pk proto.Packet, err error)
	// OnSubscribe may change a SUBSCRIBE before it is processed (lower a
	// requested QoS, drop a filter).
	OnSubscribe(cl ClientInfo, pk *proto.Subscribe) *proto.Subscribe
	// OnSubscribed: the SUBACK with reasons is written.
	OnSubscribed(cl ClientInfo, pk *proto.Subscribe, reasons []proto.ReasonCode)
	// OnSelectSubscribers runs on the router shard that matched a message
	// and may drop some of the deliveries (return the ones to keep).
	OnSelectSubscribers(pk *proto.Publish, subs []Recipient) []Recipient
	// OnUnsubscribe may change an UNSUBSCRIBE before it is processed.
	OnUnsubscribe(cl ClientInfo, pk *proto.Unsubscribe) *proto.Unsubscribe
	// OnUnsubscribed: the UNSUBACK is written.
	OnUnsubscribed(cl ClientInfo, pk *proto.Unsubscribe)
	// OnPublish sees every message entering routing — from a client, a
	// will, $SYS, the inline client, an injected packet — and may return
	// another (topic, payload, properties, QoS, retain changed) or an
	// error: ErrRejectPacket drops it quietly, a *proto.Error with a
	// failure code refuses it with that code (v5 PUBACK/PUBREC).
	OnPublish(cl ClientInfo, pk *proto.Publish) (*proto.Publish, error)
	// OnPublished: the message was handed to the router.
	OnPublished(cl ClientInfo, pk *proto.Publish)
	// OnPublishDropped: a message bound for the client cl was dropped (a
	// bound, its connection too slow, expiry, size).
	OnPublishDropped(cl ClientInfo, pk *proto.Publish)
	// OnRetainMessage: a retained message was stored (r 1) or deleted (r -1).
	OnRetainMessage(cl ClientInfo, pk *proto.Publish, r int64)
	// OnRetainPublished: a retained message was sent to a new subscriber.
	OnRetainPublished(cl ClientInfo, pk *proto.Publish)
	// OnQosPublish: a QoS 1/2 message was sent to the client (resends 0)
	// or sent again on its return (resends 1).
	OnQosPublish(cl ClientInfo, pk *proto.Publish, sent int64, resends int)
	// OnQosComplete: the client completed a QoS 1/2 flow (PUBACK, PUBCOMP).
	OnQosComplete(cl ClientInfo, pk *proto.Publish)
	// OnQosDropped: a message in flight to the client was given up.
	OnQosDropped(cl ClientInfo, pk *proto.Publish)
	// OnPacketIDExhausted: every packet id of the client is in flight.
	// Loom's inflight window (at most 65,535, the ids there are) closes
	// first, so this fires only if that ever changes; it is kept for
	// hooks written for Mochi.
	OnPacketIDExhausted(cl ClientInfo, pk *proto.Publish)
	// OnWill may change or refuse (any error) a client's will before it
	// is published.
	OnWill(cl ClientInfo, will *proto.Publish) (*proto.Publish, error)
	// OnWillSent: the will was published.
	OnWillSent(cl ClientInfo, will *proto.Publish)
	// OnClientExpired: an offline session's expiry passed; it is gone.
	OnClientExpired(cl ClientInfo)
	// OnRetainedExpired runs on a router shard when a retained message's
	// expiry passed and it was deleted.
	OnRetainedExpired(topic string)
}

// HookBase provides nothing and does nothing: embed it and override
// Provides and the events you provide.
type HookBase struct{}

func (HookBase) ID() string          { return "base" }
func (HookBase) Provides(Event) bool { return false }
func (HookBase) Init(any) error      { return nil }
func (HookBase) Stop() error         { return nil }
func (HookBase) OnStarted()          {}
func (HookBase) OnStopped()          {}
func (HookBase) OnConnectAuthenticate(ClientInfo, *proto.Connect, Answer) Verdict {
	return Deny
}
func (HookBase) OnACLCheck(ClientInfo, string, bool, Answer) Verdict { return Deny }
func (HookBase) OnSysInfoTick(SysInfo)                               {}
func (HookBase) OnConnect(ClientInfo, *proto.Connect) error          { return nil }
func (HookBase) OnSessionEstablish(ClientInfo, *proto.Connect)       {}
func (HookBase) OnSessionEstablished(ClientInfo, *proto.Connect)     {}
func (HookBase) OnDisconnect(ClientInfo, error, bool)                {}
func (HookBase) OnAuthPacket(_ ClientInfo, pk *proto.Auth) (*proto.Auth, error) {
	return pk, nil
}
func (HookBase) OnPacketRead(_ ClientInfo, pk proto.Packet) (proto.Packet, error) {
	return pk, nil
}
func (HookBase) OnPacketEncode(_ ClientInfo, pk proto.Packet) proto.Packet { return pk }
func (HookBase) OnPacketSent(ClientInfo, proto.Packet, []byte)             {}
func (HookBase) OnPacketProcessed(ClientInfo, proto.Packet, error)         {}
func (HookBase) OnSubscribe(_ ClientInfo, pk *proto.Subscribe) *proto.Subscribe {
	return pk
}
func (HookBase) OnSubscribed(ClientInfo, *proto.Subscribe, []proto.ReasonCode) {}
func (HookBase) OnSelectSubscribers(_ *proto.Publish, subs []Recipient) []Recipient {
	return subs
}
func (HookBase) OnUnsubscribe(_ ClientInfo, pk *proto.Unsubscribe) *proto.Unsubscribe {
	return pk
}
func (HookBase) OnUnsubscribed(ClientInfo, *proto.Unsubscribe) {}
func (HookBase) OnPublish(_ ClientInfo, pk *proto.Publish) (*proto.Publish, error) {
	return pk, nil
}
func (HookBase) OnPublished(ClientInfo, *proto.Publish)                        {}
func (HookBase) OnPublishDropped(ClientInfo, *proto.Publish)                   {}
func (HookBase) OnRetainMessage(ClientInfo, *proto.Publish, int64)             {}
func (HookBase) OnRetainPublished(ClientInfo, *proto.Publish)                  {}
func (HookBase) OnQosPublish(ClientInfo, *proto.Publish, int64, int)           {}
func (HookBase) OnQosComplete(ClientInfo, *proto.Publish)                      {}
func (HookBase) OnQosDropped(ClientInfo, *proto.Publish)                       {}
func (HookBase) OnPacketIDExhausted(ClientInfo, *proto.Publish)                {}
func (HookBase) OnWill(_ ClientInfo, w *proto.Publish) (*proto.Publish, error) { return w, nil }
func (HookBase) OnWillSent(ClientInfo, *proto.Publish)                         {}
func (HookBase) OnClientExpired(ClientInfo)                                    {}
func (HookBase) OnRetainedExpired(string)                                      {}

// HookOptions are what AddHook gives a hook that has a method
// SetOpts(HookOptions), before Init.
type HookOptions struct {
	Logger *slog.Logger
}

// hookEntry is one added hook.
type hookEntry struct {
	h Hook
	// logged has bit e set once a panic of the hook in event e was logged.
	logged atomic.Uint64
}

// hookTable is the hooks by event. It is replaced whole by AddHook (copy
// on write), so readers on the loops take no lock.
type hookTable struct {
	all []*hookEntry
	by  [numEvents][]*hookEntry
}

// hookSet is the broker's hooks.
type hookSet struct {
	mu  sync.Mutex // serialises AddHook
	tab atomic.Pointer[hookTable]
}

var emptyHooks = &hookTable{}

func (hs *hookSet) load() *hookTable {
	if t := hs.tab.Load(); t != nil {
		return t
	}
	return emptyHooks
}

// has reports whether some hook provides e: the one check an event no hook
// provides costs.
func (b *Broker) has(e Event) bool { return len(b.hooks.load().by[e]) > 0 }

// AddHook initialises h with config and adds it after the hooks added
// before. Safe at any time; a hook added while clients are connected sees
// the events that happen from then on.
func (b *Broker) AddHook(h Hook, config any) error {
	if h == nil {
		return errors.New("loom: AddHook of a nil hook")
	}
	if o, ok := h.(interface{ SetOpts(HookOptions) }); ok {
		o.SetOpts(HookOptions{Logger: b.opts.Logger})
	}
	if err := h.Init(config); err != nil {
		return fmt.Errorf("loom: hook %s: %w", h.ID(), err)
	}
	b.hooks.mu.Lock()
	defer b.hooks.mu.Unlock()
	old := b.hooks.load()
	e := &hookEntry{h: h}
	t := &hookTable{all: append(append([]*hookEntry(nil), old.all...), e)}
	for ev := range numEvents {
		t.by[ev] = old.by[ev]
		if h.Provides(ev) {
			t.by[ev] = append(append([]*hookEntry(nil), old.by[ev]...), e)
		}
	}
	b.hooks.tab.Store(t)
	return nil
}

// Hooks returns the hooks added, in order.
func (b *Broker) Hooks() []Hook {
	t := b.hooks.load()
	out := make([]Hook, len(t.all))
	for i, e := range t.all {
		out[i] = e.h
	}
	return out
}

// recovered is deferred around each hook call: it logs a panic once per
// hook and event, and sets *panicked.
func (b *Broker) recovered(e *hookEntry, ev Event, panicked *bool) {
	r := recover()
	if r == nil {
		return
	}
	*panicked = true
	b.Stats.HookPanics.Add(1)
	if e.logged.Or(1<<ev)&(1<<ev) == 0 {
		b.opts.Logger.Error("a hook panicked; the broker goes on (logged once per hook and event)",
			"hook", e.h.ID(), "event", ev.String(), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	}
}

// call runs fn for each hook providing ev, in order, each recovered.
func (b *Broker) call(ev Event, fn func(Hook)) {
	for _, e := range b.hooks.load().by[ev] {
		b.callOne(e, ev, fn)
	}
}

func (b *Broker) callOne(e *hookEntry, ev Event, fn func(Hook)) (panicked bool) {
	defer b.recovered(e, ev, &panicked)
	fn(e.h)
	return false
}

// chain passes v through the hooks providing ev, in order, each given what
// the one before returned: the events that may change or refuse what they
// see. A hook that panics or returns the zero value (a nil packet) leaves
// v as it was given; the first error stops the chain and is returned.
func chain[T comparable](b *Broker, ev Event, v T, call func(h Hook, v T) (T, error)) (T, error) {
	var zero T
	for _, e := range b.hooks.load().by[ev] {
		var out T
		var err error
		if b.callOne(e, ev, func(h Hook) { out, err = call(h, v) }) {
			continue // a panic changes nothing
		}
		if err != nil {
			return v, err
		}
		if out != zero {
			v = out
		}
	}
	return v, nil
}

// Started fires OnStarted; the facade calls it once the listeners accept.
func (b *Broker) Started() { b.call(OnStarted, func(h Hook) { h.OnStarted() }) }

// stopHooks fires OnStopped, then stops every hook.
func (b *Broker) stopHooks() {
	b.call(OnStopped, func(h Hook) { h.OnStopped() })
	for _, e := range b.hooks.load().all {
		if err := e.h.Stop(); err != nil {
			b.opts.Logger.Warn("stopping a hook", "hook", e.h.ID(), "err", err)
		}
	}
}

// info is what hooks see of c, made on first use (hooks only).
func (c *Client) info() ClientInfo { return *c.infoRef() }

// infoRef is c's ClientInfo, made on first use. Its ID is set at CONNECT
// (connectInfo, accept), before the session is attached; from then on it
// does not change, and hooks off the loop read it (Session.who).
func (c *Client) infoRef() *ClientInfo {
	x := c.x()
	if x.info == nil {
		i := &ClientInfo{Version: c.version}
		if c.sess != nil {
			i.ID = c.sess.id
		}
		if a, ok := c.conn.(interface {
			RemoteAddr() net.Addr
			LocalAddr() net.Addr
		}); ok {
			if r := a.RemoteAddr(); r != nil {
				i.Remote = r.String()
			}
			if l := a.LocalAddr(); l != nil {
				i.Listener = l.Network() + "://" + l.String()
			}
		}
		x.info = i
	}
	return x.info
}

// Authenticates reports whether some hook decides who may connect (provides
// OnConnectAuthenticate): the facade refuses to listen beyond loopback
// without one unless told anonymous clients are meant.
func (b *Broker) Authenticates() bool { return b.has(OnConnectAuthenticate) }
