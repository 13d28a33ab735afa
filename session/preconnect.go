package session

import (
	"runtime"
	"time"

	"github.com/loom-mqtt/loom/proto"
)

// What a connection may make the broker buffer before CONNECT completes.
//
// Until a client has completed CONNECT (and, in v5, its enhanced
// authentication) nobody knows who it is, yet a partial packet it sends
// waits in gnet's inbound ring (reactor/traffic.go) until the rest arrives
// or the connect timeout closes it. Two bounds keep that cheap:
//
//   - Options.MaxConnectSize caps any packet before CONNECT completes,
//     checked from the fixed header, before the body is buffered
//     (CheckPreConnect);
//   - Options.PreConnectBudget caps the bytes all such connections
//     together leave buffered. Each loop keeps its own share of it
//     (budget / loops) in a plain int touched only on the loop: no lock or
//     atomic shared by the loops. At the end of each OnTraffic of a
//     connection that has not completed CONNECT, the reactor reports what
//     is left buffered (HoldPreConnect); a connection whose partial packet
//     would take its loop past its share is refused. The charge is
//     released when the packet completes, when the connection completes
//     CONNECT, or when it closes.
//
// Connected clients pay one branch on their state in OnTraffic.

// ConnectPeek is how many bytes of a packet before CONNECT the reactor
// peeks for CheckPreConnect and RefuseBusy: the longest fixed header (5)
// and a CONNECT's protocol name ("MQIsdp", 2+6) and level (1).
const ConnectPeek = 5 + 2 + 6 + 1

// minRingCharge is what a partial packet costs at least: gnet's inbound
// ring starts at 1 KiB, however few bytes wait in it.
const minRingCharge = 1 << 10

// PreConnect reports whether c has yet to complete CONNECT (including a v5
// enhanced authentication under way). It is the one test connected
// clients pay in the reactor.
func (c *Client) PreConnect() bool {
	return c.state == stateAwaitConnect || c.state == stateAuthenticating
}

// SetLoopCount tells the broker how many event loops will share
// Options.PreConnectBudget; the reactor calls it before any connection
// opens. Without it, the loops are taken to be GOMAXPROCS.
func (b *Broker) SetLoopCount(n int) { b.preLoops.Store(int32(max(n, 1))) }

// preShare is the loop's share of PreConnectBudget in bytes, fixed on
// first use; 0 means no budget.
func (l *Loop) preShareBytes() int {
	if l.preShare != 0 {
		return l.preShare
	}
	o := &l.broker.opts
	if o.PreConnectBudget < 0 {
		l.preShare = -1
		return -1
	}
	n := int(l.broker.preLoops.Load())
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	// At least one CONNECT of the largest size fits in every loop's share,
	// so a large budget over many loops cannot refuse a lone client.
	l.preShare = max(o.PreConnectBudget/n, o.MaxConnectSize)
	return l.preShare
}

// CheckPreConnect is CheckSize for a client that has not completed
// CONNECT: the reactor calls it once it knows a packet's size (total, with
// its fixed header of hl bytes), with the packet's first bytes peeked
// (head, up to ConnectPeek of them). A packet over MaxConnectSize is refused
// before its body is buffered: a v5 CONNECT (or AUTH during enhanced
// authentication) with CONNACK 0x95 Packet too large; a 3.1 or 3.1.1
// CONNECT, whose CONNACK has no such return code, or one whose protocol
// level has not arrived with its fixed header, by closing. (A client
// writes its CONNECT at once, so the level comes with the header; waiting
// for it would let a socket that sends only a header sit until the
// connect timeout.)
func (c *Client) CheckPreConnect(h proto.FixedHeader, hl, total int, head []byte) error {
	if c.state == stateAwaitConnect && h.Type != proto.CONNECT {
		// The first packet must be CONNECT [MQTT-3.1.0-1]: close as soon
		// as its fixed header says it is not, without waiting for the
		// length it claims (a PROXY header reads as an 82-byte PUBREC).
		c.loop.broker.Stats.ProtocolFails.Add(1)
		return proto.Errorf(proto.ProtocolError, "the first packet is %v, not CONNECT", h.Type)
	}
	limit := c.loop.broker.opts.MaxConnectSize
	if total <= limit {
		return nil
	}
	err := proto.Errorf(proto.PacketTooLarge, "%v of %d bytes before CONNECT completed exceeds the maximum %d", h.Type, total, limit)
	c.loop.broker.Stats.PreConnectRefused.Add(1)
	v := c.version // v5 during enhanced authentication
	if c.state == stateAwaitConnect {
		if h.Type != proto.CONNECT || len(head) < hl {
			return err // the first packet must be CONNECT [MQTT-3.1.0-1]: close
		}
		v, _ = connectVersion(head[hl:])
	}
	if v != proto.V5 {
		// 3.1.1 has no return code for a packet too large: close without
		// CONNACK, as for a CONNECT the broker cannot take in.
		c.loop.broker.Stats.ProtocolFails.Add(1)
		return err
	}
	return c.refuse(proto.V5, err) // CONNACK 0x95, then linger [MQTT-3.2.2-7]
}

// connectVersion reads the protocol level from the start of a CONNECT's
// variable header, if enough of it is there; known is false when it is not
// (yet), or when the protocol name is not MQTT's.
func connectVersion(b []byte) (v proto.Version, known bool) {
	switch {
	case len(b) >= 7 && b[0] == 0 && b[1] == 4 && string(b[2:6]) == "MQTT":
		v = proto.Version(b[6])
		return v, v == proto.V311 || v == proto.V5
	case len(b) >= 9 && b[0] == 0 && b[1] == 6 && string(b[2:8]) == "MQIsdp":
		v = proto.Version(b[8])
		return v, v == proto.V31
	}
	return 0, false
}

// HoldPreConnect is called by the reactor at the end of OnTraffic for a
// client that had not completed CONNECT when it began, with the bytes left
// buffered on the connection. It charges them (at least gnet's 1 KiB ring)
// to the loop's share of PreConnectBudget, or releases c's charge once it
// has completed CONNECT or is ending. It reports false, with c's charge
// released, when the bytes would take the loop past its share: the reactor
// then refuses c (RefuseBusy).
func (c *Client) HoldPreConnect(buffered int) bool {
	l := c.loop
	old := l.preHeld[c]
	charge := 0
	if buffered > 0 && c.PreConnect() {
		charge = max(buffered, minRingCharge)
	}
	if charge == old {
		return true
	}
	if charge > old {
		if share := l.preShareBytes(); share > 0 && l.preTotal-old+charge > share {
			l.dropPreConnect(c)
			return false
		}
	}
	if charge == 0 {
		l.dropPreConnect(c)
		return true
	}
	l.preTotal += charge - old
	if l.preHeld == nil {
		l.preHeld = make(map[*Client]int)
	}
	l.preHeld[c] = charge
	return true
}

// dropPreConnect releases what c had charged to the loop's budget.
func (l *Loop) dropPreConnect(c *Client) {
	if len(l.preHeld) == 0 {
		return
	}
	if old, ok := l.preHeld[c]; ok {
		l.preTotal -= old
		delete(l.preHeld, c)
	}
	if len(l.preHeld) == 0 {
		l.preHeld = nil // a flood is over: do not keep its table
	}
}

// PreConnectHeld is the bytes this loop's clients that have not completed
// CONNECT are charged for. Loop-only.
func (l *Loop) PreConnectHeld() int { return l.preTotal }

// RefuseBusy refuses c, which HoldPreConnect found over its loop's share of
// PreConnectBudget; head is the start of what c has buffered (up to
// ConnectPeek bytes). A v5 client gets CONNACK 0x89 Server busy: the
// budget is shared, so the refused client need not have done anything
// wrong itself, and the condition passes as the others complete CONNECT
// or time out — "try again later" is the advice to give (0x97 Quota
// exceeded would suggest a limit of this client's own). A 3.1 or 3.1.1
// client gets return code 3 Server unavailable, the only code for a
// refusal that is the server's; a client whose version is not in head yet
// is closed without a word. Either way the connection then lingers
// (linger.go) so the client reads the CONNACK. The returned error is for
// the reactor to end the connection.
func (c *Client) RefuseBusy(head []byte) error {
	msg := "too many connections are sending CONNECT at once"
	v := c.version
	if c.state == stateAwaitConnect {
		v = 0
		if h, hl, err := proto.ParseFixedHeader(head); err == nil && h.Type == proto.CONNECT {
			v, _ = connectVersion(head[hl:])
		}
	}
	c.loop.broker.Stats.PreConnectRefused.Add(1)
	err := proto.Errorf(proto.ServerBusy, "%s", msg)
	ack := proto.Connack{Reason: proto.ServerBusy}
	switch v {
	case proto.V5:
		c.reasonString(&ack.Props, msg, func() int { return len(ack.Append(nil, v)) })
	case proto.V311, proto.V31:
		ack.Reason = proto.V3ServerUnavailable
	default:
		return err
	}
	c.buf().B = ack.Append(c.out.B, v)
	c.linger() // [MQTT-3.2.2-7], 3.1.1: [MQTT-3.2.2-5]
	return err
}

// ConnectWithin closes c's connection unless CONNECT completes within d
// from now, instead of Options.ConnectTimeout: the reactor gives a TLS
// client its handshake timeout this way, and the connect timeout again
// once the handshake is done. Nothing changes once CONNECT is through.
func (c *Client) ConnectWithin(d time.Duration) {
	if c.state != stateAwaitConnect {
		return
	}
	c.deadline = c.loop.broker.now() + d.Milliseconds()
	if c.wpos == 0 {
		c.loop.wheel.add(c)
	} else {
		c.loop.wheel.refile(c)
	}
}

// ConnectTimeout is how long a new connection has to complete CONNECT.
func (b *Broker) ConnectTimeout() time.Duration { return b.opts.ConnectTimeout }
