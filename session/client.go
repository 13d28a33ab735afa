package session

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/valyala/bytebufferpool"

	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/router"
)

// Conn is what the session layer needs of a network connection. Write and
// OutboundBuffered are called on the connection's loop only; Close may be
// called from anywhere and sends what is already written before closing.
type Conn interface {
	Write(b []byte) (int, error)
	OutboundBuffered() int
	Close() error
}

const (
	stateAwaitConnect = iota
	stateConnected
	stateClosed
	stateAuthenticating // CONNECT received, enhanced authentication under way
	// stateClosing: the broker has sent its last packet (DISCONNECT or a
	// refusing CONNACK) and waits for the client to close (linger.go).
	stateClosing
)

// Client is one network connection and its protocol state. It belongs to
// one loop; every method runs there.
type Client struct {
	conn Conn
	loop *Loop
	sess *Session // set by CONNECT
	out  *bytebufferpool.ByteBuffer
	ext  *clientExt // what only some connections use; nil until needed

	deadline  int64  // broker clock ms; 0 = none
	maxOut    uint32 // client's Maximum Packet Size; 0 = no limit
	wpos      uint32 // index+1 in its timing-wheel slot; 0 = not in the wheel
	window    uint16 // outbound QoS 1/2 window
	keepAlive uint16
	aliasCap  uint16 // highest topic alias sent: client's Topic Alias Maximum, capped by MaxTopicAliasOut
	version   proto.Version
	state     uint8
	dirty     bool
	heldBack  bool  // on the loop's list of clients with messages held for a full buffer
	wslot     uint8 // its timing-wheel slot, when wpos > 0
	// gate is the number of its listener's Gate (gate.go), 0 for none: a
	// byte, where a pointer would take 8 more.
	gate  uint8
	flags atomic.Uint32 // flagTakenOver, flagQuotaHit: set from other goroutines

	// username and since (wall clock, unix ns) are set at CONNECT for
	// inspection (inspect.go): nothing else keeps them once CONNECT's
	// buffer is gone. Together 24 bytes a connection, the least an
	// operator's list of who is connected and since when can cost.
	username string
	since    int64
}

// Client.flags bits.
const (
	flagTakenOver = 1 << iota
	// flagQuotaHit: a DISCONNECT 0x97 for a full queue is on its way.
	flagQuotaHit
	// flagShedding: the client reads too slowly and its QoS 0 messages are
	// being dropped; the router's sink drops them before they reach the
	// loop (see shed).
	flagShedding
	// flagReadPaused: the reactor has stopped reading this connection
	// while the broker's backlog drains (backlog.go).
	flagReadPaused
	// flagWriteShut: a lingering connection's write side is shut;
	// flagShutWaits: it waits on its loop's list for gnet's buffer to
	// empty first (linger.go).
	flagWriteShut
	flagShutWaits
	// flagWaiting: a packet of the client waits for a hook's answer
	// (decide.go); the reactor does not read the connection meanwhile.
	flagWaiting
	// flagNoProblemInfo: the v5 client set Request Problem Information 0,
	// so no Reason String goes to it.
	flagNoProblemInfo
	// flagOverRate: the connection came past its listener's connect rate
	// and its CONNECT is refused; flagAdmitted: its CONNECT holds a slot
	// in its gate's and the broker's client counts (gate.go).
	flagOverRate
	flagAdmitted
	// flagRateWait: a PUBLISH of the client waits for its publish rate's
	// tokens; the reactor does not read the connection meanwhile
	// (pubrate.go).
	flagRateWait
)

// ReadPaused reports whether the reactor has paused reading c.
func (c *Client) ReadPaused() bool { return c.flags.Load()&flagReadPaused != 0 }

// SetReadPaused records whether the reactor has paused reading c.
func (c *Client) SetReadPaused(on bool) {
	if on {
		c.setFlag(flagReadPaused)
	} else {
		c.clearFlag(flagReadPaused)
	}
}

// shed marks a client over its outbound limit: from here until its buffer
// has drained to half the limit (checked each tick), QoS 0 messages for it
// are dropped by the router's sink, so a reader that has stopped costs the
// others no more than a lookup per message.
func (c *Client) shed() {
	c.setFlag(flagShedding)
	c.loop.holdBack(c)
}

// shedding reports whether QoS 0 messages for c are being dropped; safe from
// any goroutine.
func (c *Client) shedding() bool { return c.flags.Load()&flagShedding != 0 }

// checkShedding ends shedding once the buffer has drained to half the limit,
// and reports whether it goes on.
func (c *Client) checkShedding() bool {
	if !c.shedding() {
		return false
	}
	if c.state == stateConnected && c.held() > c.loop.broker.opts.OutboundLimit/2 {
		return true
	}
	c.clearFlag(flagShedding)
	return false
}

// setFlag sets f and reports whether it was already set.
func (c *Client) setFlag(f uint32) bool { return c.flags.Or(f)&f != 0 }

func (c *Client) clearFlag(f uint32) { c.flags.And(^f) }

// clientExt holds the state of features most connections never use, so an
// idle device's Client stays small (memory per connection is the budget
// that decides how many devices a gateway holds).
type clientExt struct {
	will      *router.Message
	willDelay uint32
	aliasIn   map[uint16]string // inbound topic aliases
	// aliasOut maps topics to the aliases this connection's PUBLISH packets
	// set; made on first use, only when aliasCap > 0.
	aliasOut map[string]uint16
	auth     *authState // an enhanced-authentication exchange under way
	method   string     // the Authentication Method agreed in CONNECT, if any
	// acks are PUBACK/PUBRECs held until their messages are on disk
	// (sync "always"); ackBase is the sequence number of acks[0].
	acks    []heldAck
	ackBase uint64
	// spool holds what a slow reader's connection cannot take yet (spool.go).
	spool spool
	// info is what hooks see of the client, made when a hook first asks
	// (hooks.go); decision is a question to the hooks under way (decide.go).
	info     *ClientInfo
	decision *decision
	answers  []answer
	// injected are packets injected for the client (inject.go) that wait
	// behind, or for, a hook's answer.
	injected []injectedPacket
	// rewritten is a packet as OnPacketRead hooks returned it, kept while
	// it waits for an answer (hooks_packets.go).
	rewritten []byte
	// refusal is a CONNACK refusal held back for a failing address
	// (throttle.go).
	refusal error
	// rate is the client's publish-rate buckets, made at its first PUBLISH
	// when a rate is set (pubrate.go).
	rate *pubRate
}

// x returns c's extension, making it on first use.
func (c *Client) x() *clientExt {
	if c.ext == nil {
		c.ext = &clientExt{}
	}
	return c.ext
}

// willOf returns the will and its delay, without making the extension.
func (c *Client) willOf() (*router.Message, uint32) {
	if c.ext == nil {
		return nil, 0
	}
	return c.ext.will, c.ext.willDelay
}

// ErrDisconnect is returned by Handle when the client sent DISCONNECT: the
// connection ends normally.
var ErrDisconnect = errors.New("client disconnected")

// errTakenOver is returned for packets that arrive on a connection whose
// session moved to a newer connection.
var errTakenOver = errors.New("session taken over")

// NewClient is called by the reactor when a connection opens on loop l.
func (l *Loop) NewClient(conn Conn) *Client {
	c := &Client{conn: conn, loop: l}
	c.deadline = l.broker.now() + l.broker.opts.ConnectTimeout.Milliseconds()
	l.wheel.add(c)
	return c
}

// Version is the protocol version from CONNECT (0 before it).
func (c *Client) Version() proto.Version { return c.version }

// Handle processes one whole packet on the loop. A non-nil error means the
// connection must be closed; anything the client should be told first has
// already been written.
func (c *Client) Handle(h proto.FixedHeader, body []byte) error {
	var err error
	if hooks := c.loop.broker.hooks.load(); len(hooks.by[OnPacketRead])+len(hooks.by[OnPacketProcessed]) > 0 {
		err = c.handleHooked(h, body) // hooks_packets.go
	} else {
		err = c.handle(h, body)
	}
	c.packetDone(err) // decide.go
	return err
}

func (c *Client) handle(h proto.FixedHeader, body []byte) error {
	if c.state == stateClosed || c.state == stateClosing {
		return nil
	}
	if c.flags.Load()&flagTakenOver != 0 {
		// The takeover closure queued on this loop sends DISCONNECT 0x8E
		// and closes; until it runs, the old connection's packets are
		// ignored rather than closing it without that word.
		return nil
	}
	if c.state == stateAwaitConnect {
		if h.Type != proto.CONNECT {
			// [MQTT-3.1.0-1] the first packet must be CONNECT
			return proto.Errorf(proto.ProtocolError, "first packet is %v, not CONNECT", h.Type)
		}
		return c.handleConnect(h, body)
	}
	if c.state == stateAuthenticating {
		return c.continueConnectAuth(h, body)
	}
	c.touch()
	return c.dispatch(h, body)
}

// dispatch processes one packet of a connected client by its type.
func (c *Client) dispatch(h proto.FixedHeader, body []byte) error {
	switch h.Type {
	case proto.PUBLISH:
		return c.handlePublish(h, body)
	case proto.PUBACK, proto.PUBREC, proto.PUBCOMP, proto.PUBREL:
		return c.handleAck(h, body)
	case proto.SUBSCRIBE:
		return c.handleSubscribe(h, body)
	case proto.UNSUBSCRIBE:
		return c.handleUnsubscribe(h, body)
	case proto.PINGREQ:
		if err := proto.DecodePing(h); err != nil {
			return c.fail(err)
		}
		c.buf().B = proto.AppendPingresp(c.out.B)
		return nil
	case proto.DISCONNECT:
		return c.handleDisconnect(h, body)
	case proto.CONNECT:
		// [MQTT-3.1.0-2] a second CONNECT is a protocol violation
		return c.fail(proto.Errorf(proto.ProtocolError, "second CONNECT"))
	case proto.AUTH:
		return c.handleReauth(h, body)
	default:
		return c.fail(proto.Errorf(proto.ProtocolError, "%v is not sent by clients", h.Type))
	}
}

// CheckSize is called by the reactor once it knows the size of the next
// packet, before its bytes have all arrived: an oversized packet is refused
// without buffering it. [MQTT-3.2.2-15] / v5 DISCONNECT 0x95.
func (c *Client) CheckSize(total int) error {
	if total <= c.loop.broker.opts.MaxPacketSize {
		return nil
	}
	err := proto.Errorf(proto.PacketTooLarge, "packet of %d bytes exceeds the maximum %d", total, c.loop.broker.opts.MaxPacketSize)
	if c.state == stateAwaitConnect {
		return err
	}
	return c.fail(err)
}

// fail tells a v5 client why the connection ends (DISCONNECT with the
// reason code of err) [MQTT-4.13.1-1], and returns err for the reactor to close.
func (c *Client) fail(err error) error {
	c.loop.broker.Stats.ProtocolFails.Add(1)
	var pe *proto.Error
	if c.version == proto.V5 && c.state == stateConnected && errors.As(err, &pe) && pe.Code >= 0x80 {
		d := proto.Disconnect{Reason: pe.Code}
		c.reasonString(&d.Props, pe.Msg, func() int { return len(d.Append(nil, proto.V5)) })
		c.buf().B = d.Append(c.out.B, proto.V5)
		c.linger()
	}
	return err
}

// touch moves the keepalive deadline after a packet from the client.
func (c *Client) touch() {
	if c.keepAlive == 0 {
		// No keepalive: the connect deadline must not outlive CONNECT.
		c.deadline = 0
		return
	}
	// [MQTT-3.1.2-24] one and a half times the keepalive
	prev := c.deadline
	c.deadline = c.loop.clock + int64(c.keepAlive)*1500
	switch {
	case c.wpos == 0:
		c.loop.wheel.add(c)
	case c.deadline < prev:
		// Only CONNECT moves a deadline back (a keepalive shorter than the
		// connect timeout); lazy re-filing sees forward moves only.
		c.loop.wheel.refile(c)
	}
}

// expireUnlessPaused runs from the wheel when c's deadline passed. A
// connected client whose reading the reactor has paused (backlog.go) is
// not idle — its packets wait in the broker's buffer — so its keepalive
// starts again instead. For a client waiting for its publish rate's
// tokens the deadline was the end of that wait: it is read again, and its
// keepalive starts again too (pubrate.go).
func (c *Client) expireUnlessPaused() {
	if c.state == stateConnected && c.rateWaitOver() {
		c.touch()
		return
	}
	if c.state == stateConnected && c.keepAlive > 0 && (c.ReadPaused() || c.Waiting()) {
		c.touch()
		return
	}
	c.expire()
}

// expire closes c: its keepalive or connect deadline, or its linger,
// passed.
func (c *Client) expire() {
	if c.state == stateAwaitConnect && c.ext != nil && c.ext.refusal != nil {
		c.refuseHeld() // a refused CONNECT's wait is over (throttle.go)
		return
	}
	if c.state == stateClosing {
		c.endLinger() // the client has not closed within the linger
		return
	}
	if c.state == stateConnected && c.version == proto.V5 {
		d := proto.Disconnect{Reason: proto.KeepAliveTimeout}
		c.buf().B = d.Append(c.out.B, proto.V5)
		c.linger()
		return
	}
	c.hangUp()
	c.state = stateClosed
}

// outChunk is the pending output past which buf writes it out before the
// next packet, so that a reader sent much in one drain (a subscriber of
// everything, while its socket is full) does not grow a large buffer that
// is then copied into the spool anyway.
const outChunk = 32 << 10

// buf returns c's pending output buffer, taking one from the loop's pool
// on first use, and marks c for the next flush.
func (c *Client) buf() *bytebufferpool.ByteBuffer {
	if c.out == nil {
		c.out = c.loop.bufs.Get()
	} else if len(c.out.B) >= outChunk {
		out := c.out
		c.out = nil
		c.emit(out)
		out.Reset()
		c.out = out
	}
	c.loop.markDirty(c)
	return c.out
}

// flush writes c's pending bytes in one call and gives the buffer back: an
// idle client holds no buffer.
func (c *Client) flush() {
	c.dirty = false
	out := c.out
	if out == nil {
		return
	}
	c.out = nil
	c.emit(out)
	out.Reset()
	c.loop.bufs.Put(out)
}

// emit writes out's bytes unless c has closed. Callers detach out from c
// first: a failed write makes gnet close the connection inside Write, and
// Closed, run from there, would otherwise release it under them.
func (c *Client) emit(out *bytebufferpool.ByteBuffer) {
	if len(out.B) > 0 && c.state != stateClosed {
		b := out.B
		hooks := c.loop.broker.hooks.load()
		if len(hooks.by[OnPacketEncode])+len(hooks.by[OnPacketSent]) > 0 {
			b = c.hookOutput(b) // hooks_packets.go
		}
		c.send(b)
		c.loop.counts.bytesOut.n.Add(int64(len(b))) // once per write, not per packet
		if len(hooks.by[OnPacketSent]) > 0 {
			c.hookSent(b)
		}
	}
}

// overLimit reports whether the connection already holds more unsent bytes
// than it may (outboundOver).
func (c *Client) overLimit() bool {
	_, over := c.outboundOver()
	return over
}

// outboundOver reports whether the connection already holds more unsent
// bytes than it may, and the cause a message dropped for it counts under:
// its OutboundLimit (a slow reader), or, while the broker holds more than
// its MemoryBudget, more than a small holder's share (held.go), so that
// many slow readers together cannot spool past the budget either. A
// connection holding little pays no look at the broker's total.
func (c *Client) outboundOver() (DropCause, bool) {
	n := c.held()
	if c.out != nil {
		n += len(c.out.B)
	}
	b := c.loop.broker
	if n > b.opts.OutboundLimit {
		return DropSlowReader, true
	}
	if int64(n) > b.smallHolder() && b.overBudget() {
		return DropBudget, true
	}
	return 0, false
}

func (c *Client) writeAck(t proto.Type, pid uint16, rc proto.ReasonCode) {
	a := proto.Ack{Type: t, PacketID: pid, Reason: rc}
	c.buf().B = a.Append(c.out.B, c.version)
}

// Closed is called by the reactor when the connection has closed, for any
// reason (err, nil for a normal end). It settles the session: detach, end
// or start its expiry, and publish the will unless the client disconnected
// normally.
func (c *Client) Closed(err error) {
	// sess is set exactly when CONNECT counted c as connected; the state
	// may already say closed (expire sets it before closing the conn).
	wasConnected := c.sess != nil
	c.state = stateClosed
	// Out of the wheel now, not when its slot comes up: until then the
	// wheel would keep the client, its session and gnet's connection alive,
	// up to a minute after a crowd of devices left.
	c.loop.wheel.remove(c)
	c.loop.dropPreConnect(c) // what it had buffered before CONNECT (preconnect.go)
	c.leave(wasConnected)    // its slots under the client caps (gate.go)
	if c.out != nil {
		c.out.Reset()
		c.loop.bufs.Put(c.out)
		c.out = nil
	}
	if c.ext != nil {
		c.ext.spool.release(c.loop)
	}
	s := c.sess
	if s == nil {
		return
	}
	b := c.loop.broker
	if wasConnected {
		b.Stats.Connected.Add(-1)
		c.logClosed(s.id, err) // debuglog.go
	}
	if b.has(OnDisconnect) && wasConnected {
		cl := c.info()
		s.mu.Lock()
		ends := s.client.Load() == c && s.expiry == 0
		s.mu.Unlock()
		b.call(OnDisconnect, func(h Hook) { h.OnDisconnect(cl, err, ends) })
	}
	b.mu.Lock()
	s.mu.Lock()
	if s.client.Load() != c {
		// Taken over: the newer connection owns the session. The will of
		// this one is still due unless it was delayed, since the reconnect
		// happened within any delay [MQTT-3.1.3-9].
		s.mu.Unlock()
		b.mu.Unlock()
		if will, delay := c.willOf(); delay == 0 {
			b.publishWill(will, c.willFrom())
		}
		return
	}
	s.detachLocked()
	var filters []string
	var will *router.Message
	if s.expiry == 0 {
		s.forgetLocked()
		b.forgetSessionLocked(s)
		filters = s.endLocked()
		will, _ = c.willOf() // the session ends now, so a delayed will is due too
	} else {
		w, delay := c.willOf()
		if w != nil && delay == 0 {
			will, w = w, nil
		}
		s.scheduleLocked(w, delay, c.willFrom()) // w: a will that waits for its delay
		now := time.Now().UnixNano()
		s.persistLocked(c.version, now)
		s.persistWillLocked(w, delay, now) // a will published now or discarded leaves the store
	}
	s.mu.Unlock()
	b.mu.Unlock()
	s.unsubscribeAll(filters)
	b.publishWill(will, c.willFrom())
}

// Loop is the loop c belongs to.
func (c *Client) Loop() *Loop { return c.loop }

// Fail is fail for the reactor's framing errors.
func (c *Client) Fail(err error) error { return c.fail(err) }
