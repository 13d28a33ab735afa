package session

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"github.com/loom-mqtt/loom/proto"
)

// Admission: how many clients a listener and the broker take, and how fast
// a listener takes new connections.
//
// A Gate is one listener's share of it: its cap on clients
// (Listener.MaxClients in the facade), its connect rate, and its counts.
// The reactor hands each new connection its listener's gate (Arrive); the
// client keeps the gate's number, one byte. Nothing here is touched per
// message: the rate at accept, the caps at CONNECT and at close.
//
//   - The connect rate is a token bucket per listener, taken when the
//     connection is accepted, where a connection starts to cost (a
//     descriptor, the TLS handshake, the WebSocket upgrade), and before
//     its CONNECT, so that a storm of connections cannot get through by
//     all completing their handshakes first. A connection accepted without
//     a token is marked, and its CONNECT is answered with CONNACK 0x9F
//     (Connection rate exceeded) before any hook runs: a v5 client can
//     only be told why in CONNACK, so the mark waits for the CONNECT
//     (refuseRate). What it spared is the authentication (slow password
//     hashes), the session and the store; on a TLS listener whose
//     handshakes are all busy the reactor closes a marked connection at
//     once instead, as its handshake would cost more than the refusal is
//     worth.
//   - The caps count slots: a CONNECT takes one in its gate and one in the
//     broker's (Options.MaxClients) when it arrives, before authentication,
//     so that a crowd authenticating at once cannot pass them, and the slot
//     is given back when the connection closes, whatever ended it. Past a
//     cap the CONNECT gets CONNACK 0x97 (Quota exceeded) and the clients
//     connected already go on. A CONNECT whose client id is connected now
//     takes the session over and frees the old connection's slot: it is
//     not refused by a cap that slot counts in (the listener's own, when
//     the old connection came through the same listener; the broker's
//     always). Both counts are atomics shared by the loops, taken once per
//     CONNECT: an increment that passes the cap is undone, so the count
//     never admits more than the cap, whichever loops race.
//   - 3.1 and 3.1.1 clients turned away by either get return code 3
//     (Server unavailable) before the connection closes: 3.1.1 allows it
//     ("the Network Connection has been made but the MQTT service is
//     unavailable"), the broker already answers its other refusals of
//     load that way (PreConnectBudget, MaxPersistentSessions), and a
//     client told so reports a refusal and backs off, where a bare close
//     looks like a network failure that many clients retry at once.

// Gate is one listener's admission state and counts. Make it with NewGate
// and register it with Broker.AddGate before the listeners open.
type Gate struct {
	id         string
	index      uint8 // Client.gate; 0 until registered
	maxClients int64 // 0: no cap of its own
	rate       *tokenBucket

	// slots are the CONNECTs admitted and not yet closed: what maxClients
	// bounds. connected are those that completed CONNECT, by protocol
	// version (3.1, 3.1.1, 5).
	slots     atomic.Int64
	connected [3]atomic.Int64
	// refusedCap counts CONNECTs refused at a cap (the gate's or the
	// broker's), refusedRate connections refused past the connect rate.
	refusedCap, refusedRate atomic.Int64
	warnCap, warnRate       warnEvery
}

// NewGate makes the gate of the listener id: at most maxClients clients
// at once (0: no cap of its own), and new connections at rate per second
// in bursts of burst (rate 0: no cap; burst 0: rate rounded up, at least
// 1).
func NewGate(id string, maxClients int, rate float64, burst int) *Gate {
	g := &Gate{id: id, maxClients: int64(max(maxClients, 0))}
	if rate > 0 && !math.IsInf(rate, 1) {
		g.rate = newTokenBucket(rate, burst)
	}
	return g
}

// GateStats are a gate's counts at one moment.
type GateStats struct {
	ID         string
	MaxClients int
	// Connected are the clients with a completed CONNECT by protocol
	// version: 3.1, 3.1.1 and 5.
	V31, V311, V5 int64
	// RefusedCap counts CONNECTs refused at the gate's cap or the broker's;
	// RefusedRate connections refused past its connect rate.
	RefusedCap, RefusedRate int64
}

// Stats reads the gate's counts.
func (g *Gate) Stats() GateStats {
	return GateStats{
		ID: g.id, MaxClients: int(g.maxClients),
		V31: g.connected[0].Load(), V311: g.connected[1].Load(), V5: g.connected[2].Load(),
		RefusedCap: g.refusedCap.Load(), RefusedRate: g.refusedRate.Load(),
	}
}

// maxGates: a client keeps its gate's number in one byte, 0 meaning none.
const maxGates = math.MaxUint8

// AddGate registers g; the reactor then hands it to the connections of its
// listener. It must be called before any connection arrives; past 255 gates
// it is an error.
func (b *Broker) AddGate(g *Gate) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.gates) >= maxGates {
		return fmt.Errorf("session: more than %d listeners", maxGates)
	}
	b.gates = append(b.gates, g)
	g.index = uint8(len(b.gates))
	return nil
}

// gateOf is the gate numbered i, nil for 0. b.gates is only appended to
// before the listeners open, so it is read without a lock.
func (b *Broker) gateOf(i uint8) *Gate {
	if i == 0 {
		return nil
	}
	return b.gates[i-1]
}

// versionIndex is a protocol version's place in Gate.connected.
func versionIndex(v proto.Version) int {
	switch v {
	case proto.V31:
		return 0
	case proto.V311:
		return 1
	default:
		return 2
	}
}

// Arrive is called by the reactor when c's connection is accepted on the
// listener of g (nil: a listener without one). It takes a token of the
// connect rate, and reports false when there was none: c is then marked,
// and its CONNECT will be refused with 0x9F; the reactor may close it at
// once instead (then it calls RefusedAtAccept).
func (c *Client) Arrive(g *Gate) bool {
	if g == nil || g.index == 0 {
		return true
	}
	c.gate = g.index
	if g.rate == nil || g.rate.take(c.loop.broker.now()) {
		return true
	}
	c.setFlag(flagOverRate)
	return false
}

// ListenerID is the ID of the listener c's connection came through, ""
// for none. Set when the connection is accepted and never changed: safe
// from any goroutine once c's CONNECT has attached it to its session.
func (c *Client) ListenerID() string {
	if g := c.loop.broker.gateOf(c.gate); g != nil {
		return g.id
	}
	return ""
}

// RefusedAtAccept counts a connection the reactor closed at accept
// because it came past its listener's connect rate.
func (c *Client) RefusedAtAccept() { c.countRateRefusal() }

// refuseRate answers the CONNECT of a connection accepted past its
// listener's connect rate.
func (c *Client) refuseRate() error {
	c.countRateRefusal()
	return c.refuseLimit(proto.ConnectionRateExceeded, "connection rate exceeded, try again later")
}

// countRateRefusal counts, and logs now and then, a connection refused
// past its listener's connect rate; c is marked no more.
func (c *Client) countRateRefusal() {
	b := c.loop.broker
	c.clearFlag(flagOverRate)
	b.Stats.RefusedRate.Add(1)
	if g := b.gateOf(c.gate); g != nil { // always: only a gate's rate marks
		g.refusedRate.Add(1)
		g.warnRate.log(b, "connect rate exceeded: connections refused", "listener", g.id, "connect_rate", g.rate.perMs*1000)
	}
}

// admit takes the slots of a CONNECT with client id (empty if the broker
// assigns one) in c's gate and in the broker, or refuses it with 0x97
// (Quota exceeded) past a cap. A CONNECT handled again after the hooks
// answered holds its slots already.
func (c *Client) admit(id string) error {
	if c.flags.Load()&flagAdmitted != 0 {
		return nil
	}
	b := c.loop.broker
	g := b.gateOf(c.gate)
	most := int64(b.opts.MaxClients)
	gmost := int64(0)
	if g != nil {
		gmost = g.maxClients
	}
	// A takeover frees the old connection's slot: the broker's always, the
	// gate's when the old one came through it.
	var takesOver bool
	var from uint8
	if id != "" && (most > 0 || gmost > 0) {
		from, takesOver = b.connectedOn(id)
	}
	if g != nil {
		n := g.slots.Add(1)
		if gmost > 0 && n > gmost && !(takesOver && from == c.gate) {
			g.slots.Add(-1)
			return c.refuseAtCap(g, fmt.Sprintf("listener %s is full (%d clients)", g.id, gmost))
		}
	}
	n := b.admitted.Add(1)
	if most > 0 && n > most && !takesOver {
		b.admitted.Add(-1)
		if g != nil {
			g.slots.Add(-1)
		}
		return c.refuseAtCap(g, fmt.Sprintf("the broker is full (%d clients)", most))
	}
	c.setFlag(flagAdmitted)
	return nil
}

// connectedOn reports whether a client with this id holds a slot now, and
// the gate it holds it in.
func (b *Broker) connectedOn(id string) (gate uint8, ok bool) {
	b.mu.Lock()
	s := b.sessions.get(id)
	b.mu.Unlock()
	if s == nil {
		return 0, false
	}
	prev := s.client.Load()
	// prev.gate was set when its connection was accepted, before its
	// CONNECT attached it to s: the atomic load above orders the read.
	if prev == nil || prev.flags.Load()&flagAdmitted == 0 {
		return 0, false
	}
	return prev.gate, true
}

// refuseAtCap answers a CONNECT past a cap: CONNACK 0x97 Quota exceeded.
// [MQTT-3.1.4-2] [MQTT-3.2.2-6] [MQTT-3.2.2-7]
func (c *Client) refuseAtCap(g *Gate, msg string) error {
	b := c.loop.broker
	b.Stats.RefusedCap.Add(1)
	if g != nil {
		g.refusedCap.Add(1)
		g.warnCap.log(b, "client cap reached: CONNECTs refused", "listener", g.id, "reason", msg)
	} else {
		b.capWarn.log(b, "client cap reached: CONNECTs refused", "reason", msg)
	}
	return c.refuseLimit(proto.QuotaExceeded, msg)
}

// refuseLimit answers a CONNECT that a limit of the server's turns away,
// not a fault of the client's: a v5 client gets code with msg as the
// Reason String, a 3.1 or 3.1.1 client return code 3 Server unavailable
// (see the top of this file), then the connection lingers and closes
// [MQTT-3.2.2-7]. It is not counted as a protocol failure.
func (c *Client) refuseLimit(code proto.ReasonCode, msg string) error {
	ack := proto.Connack{Reason: code} // Session Present 0 [MQTT-3.2.2-6]
	if c.version == proto.V5 {
		c.reasonString(&ack.Props, msg, func() int { return len(ack.Append(nil, proto.V5)) })
	} else {
		ack.Reason = proto.V3ServerUnavailable // [MQTT-3.2.2-4 v3.1.1] [MQTT-3.2.2-5 v3.1.1]
	}
	c.buf().B = ack.Append(c.out.B, c.version)
	c.linger()
	return proto.Errorf(code, "%s", msg)
}

// leave gives back c's slots, and its place among the connected of its
// gate, when its connection closes.
func (c *Client) leave(wasConnected bool) {
	if c.flags.And(^uint32(flagAdmitted))&flagAdmitted == 0 {
		return
	}
	b := c.loop.broker
	b.admitted.Add(-1)
	if g := b.gateOf(c.gate); g != nil {
		g.slots.Add(-1)
		if wasConnected {
			g.connected[versionIndex(c.version)].Add(-1)
		}
	}
}

// countConnected counts c among its gate's connected clients once its
// CONNECT has completed.
func (c *Client) countConnected() {
	if g := c.loop.broker.gateOf(c.gate); g != nil {
		g.connected[versionIndex(c.version)].Add(1)
	}
}

// tokenBucket is a connect rate shared by the loops of one listener,
// taken once per accepted connection (not a message path: a mutex is
// fine).
type tokenBucket struct {
	mu     sync.Mutex
	perMs  float64 // tokens added per millisecond
	burst  float64 // most tokens held
	tokens float64
	at     int64 // broker clock (ms) of the last refill; it starts full
}

func newTokenBucket(perSecond float64, burst int) *tokenBucket {
	if burst <= 0 {
		burst = int(max(min(math.Ceil(perSecond), math.MaxInt32), 1))
	}
	return &tokenBucket{perMs: perSecond / 1000, burst: float64(burst), tokens: float64(burst)}
}

// take takes one token at now (broker ms), if there is one.
func (t *tokenBucket) take(now int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if dt := now - t.at; dt > 0 {
		t.tokens = min(t.burst, t.tokens+float64(dt)*t.perMs)
		t.at = now
	}
	if t.tokens < 1 {
		return false
	}
	t.tokens--
	return true
}

// warnEvery spaces a WARN, so that clients retrying in a loop cannot
// flood the log: at most one a minute, with the count since the last.
type warnEvery struct {
	at     atomic.Int64 // Broker.now of the last WARN, plus 1 (0 before the first)
	missed atomic.Int64 // events not yet in a WARN
}

func (w *warnEvery) log(b *Broker, msg string, args ...any) {
	w.missed.Add(1)
	now := b.now() + 1
	last := w.at.Load()
	if last != 0 && now-last < limitWarnEvery.Milliseconds() {
		return
	}
	if !w.at.CompareAndSwap(last, now) {
		return // another loop is logging it
	}
	b.opts.Logger.Warn(msg, append(args, "refused", w.missed.Swap(0))...)
}
