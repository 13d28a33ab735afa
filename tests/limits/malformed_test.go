package limits_test

import (
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
)

// The robustness tests (malformed_test.go, idle_test.go, keepalive_test.go,
// limits_test.go) drive the broker over raw connections, so that nothing in
// a client library can hide or repair what the broker does (loomtest's
// Client). Their own helpers carry the prefix rb.

// Limits of the broker the malformed table runs against, small enough that
// the cases can cross them.
const (
	rbMaxPacket  = 1024
	rbAliasMax   = 4
	rbReceiveMax = 4
)

// rbSeq numbers client ids so that no two connections share one.
var rbSeq atomic.Int64

// rbAnswer is one acceptable CONNACK: the form it is encoded in (3.1.1
// or 5) and its return or reason code.
type rbAnswer struct {
	form proto.Version
	code proto.ReasonCode
}

// rbCase is one bad input and what the broker must do with it.
type rbCase struct {
	name string
	spec string        // the normative statements (or sections) the case checks
	v    proto.Version // the connection's protocol version
	// first: raw is the first packet on the connection. Otherwise a valid
	// CONNECT in v goes first and must be accepted.
	first bool
	raw   []byte

	// For first packets: the acceptable CONNACKs. None means the broker
	// must close without sending anything; bare allows that besides them.
	connack []rbAnswer
	bare    bool

	// After CONNECT, in v5: the acceptable reason codes of the DISCONNECT
	// the broker sends before it closes. In 3.1 and 3.1.1 the broker sends
	// nothing and closes. acks is the number of ordinary answers (PUBREC...)
	// the broker gives to the good packets in raw before the bad one.
	disconnect []proto.ReasonCode
	acks       int
}

func rbMalformedOptions() loom.Options {
	return loom.Options{Limits: loom.Limits{
		MaxPacketSize:     rbMaxPacket,
		TopicAliasMaximum: rbAliasMax,
		ReceiveMaximum:    rbReceiveMax,
	}}
}

// TestMalformedCatalogue sends every malformed example of proto.Catalogue to
// the broker: a CONNECT example as the first packet, any other after a valid
// CONNECT in the example's version. The broker must answer with the reason
// code the specification names for the example and close the connection:
//   - v5 CONNECT: CONNACK with the reason code, then close
//     [MQTT-3.1.4-1] [MQTT-3.2.2-7] [MQTT-3.2.2-8];
//   - 3.1.1 CONNECT: CONNACK 0x01 for an unsupported protocol level
//     [MQTT-3.1.2-2 v3.1.1], else close without a CONNACK, as no return
//     code applies [MQTT-3.1.4-1 v3.1.1] [MQTT-3.2.2-6 v3.1.1];
//   - v5 after CONNECT: DISCONNECT with the reason code, then close
//     [MQTT-4.13.1-1] [MQTT-4.13.2-1];
//   - 3.1.1 after CONNECT: close without a word [MQTT-4.8.0-1 v3.1.1].
//
// Each example names the statement it breaks in its Spec field; failures
// print it. A client connected before every case must keep publishing and
// receiving throughout.
func TestMalformedCatalogue(t *testing.T) {
	srv, addr := loomtest.Start(t, rbMalformedOptions())
	healthy := rbNewHealthy(t, addr)
	n := 0
	for _, ex := range proto.Catalogue {
		if ex.Valid {
			continue
		}
		n++
		c := rbCaseOf(ex)
		t.Run(ex.Name, func(t *testing.T) {
			rbRun(t, addr, c)
			healthy.check(t)
		})
	}
	require.Greater(t, n, 100, "the catalogue lost its malformed examples")
	loomtest.Eventually(t, "only the healthy client is left", func() bool { return srv.Stats().OpenConnections == 1 })
}

// rbCaseOf turns a catalogue example into a case.
func rbCaseOf(ex proto.Example) rbCase {
	c := rbCase{name: ex.Name, spec: ex.Spec, v: ex.Version, raw: ex.Raw}
	if proto.Type(ex.Raw[0]>>4) == proto.CONNECT {
		c.first = true
		switch {
		case ex.Reason == proto.UnsupportedProtocolVersion:
			// An unknown level or name may be answered in the 3.1.1 form
			// (0x01), which every client version can read, or as v5 (0x84)
			// [MQTT-3.1.2-2] [MQTT-3.1.2-2 v3.1.1].
			c.connack = []rbAnswer{{proto.V311, proto.V3UnacceptableProtocolVersion}, {proto.V5, ex.Reason}}
		case ex.Version == proto.V5:
			c.connack = []rbAnswer{{proto.V5, ex.Reason}}
			// Reserved flags in the fixed header are refused before the body,
			// and so before the broker knows which version to answer in; a
			// CONNACK is a MAY there [MQTT-3.1.4-1].
			c.bare = ex.Raw[0] != 0x10
		}
		return c
	}
	if ex.Version == proto.V5 {
		c.disconnect = []proto.ReasonCode{ex.Reason}
		switch proto.Type(ex.Raw[0] >> 4) {
		case proto.CONNACK, proto.SUBACK, proto.UNSUBACK, proto.PINGRESP:
			// A client never sends these: the broker may refuse them by their
			// type alone, as a Protocol Error, before parsing them.
			c.disconnect = append(c.disconnect, proto.ProtocolError)
		}
	}
	return c
}

// TestMalformedExtra covers bad input the catalogue cannot hold: packets in
// the wrong place, and limits of this broker (rbMalformedOptions).
func TestMalformedExtra(t *testing.T) {
	srv, addr := loomtest.Start(t, rbMalformedOptions())
	healthy := rbNewHealthy(t, addr)
	for _, c := range rbExtraCases() {
		t.Run(c.name, func(t *testing.T) {
			rbRun(t, addr, c)
			healthy.check(t)
		})
	}
	loomtest.Eventually(t, "only the healthy client is left", func() bool { return srv.Stats().OpenConnections == 1 })
}

func rbExtraCases() []rbCase {
	v5 := func(p proto.Packet) []byte { return p.Append(nil, proto.V5) }
	v3 := func(p proto.Packet) []byte { return p.Append(nil, proto.V311) }
	publish := func(topic string, qos byte, pid uint16, payload []byte) *proto.Publish {
		return &proto.Publish{Topic: []byte(topic), QoS: qos, PacketID: pid, Payload: payload}
	}
	withAlias := func(p *proto.Publish, alias uint16) *proto.Publish {
		p.Props.TopicAlias = alias
		p.Props.Set(proto.PropTopicAlias)
		return p
	}
	big := make([]byte, rbMaxPacket)

	var qos2 []byte
	for pid := uint16(1); pid <= rbReceiveMax+1; pid++ {
		qos2 = append(qos2, v5(publish("rb/q2", 2, pid, []byte("x")))...)
	}
	authWithMethod := &proto.Auth{Reason: proto.ContinueAuthentication}
	authWithMethod.Props.AuthMethod = []byte("SCRAM-SHA-1")
	authWithMethod.Props.Set(proto.PropAuthMethod)
	raiseExpiry := &proto.Disconnect{}
	raiseExpiry.Props.SessionExpiry = 60
	raiseExpiry.Props.Set(proto.PropSessionExpiry)
	bigConnect := &proto.Connect{Version: proto.V5, CleanStart: true, ClientID: []byte("rb-big"),
		WillFlag: true, WillTopic: []byte("rb/will"), WillPayload: big}
	emptyIDKeep := &proto.Connect{Version: proto.V311, ClientID: []byte{}}
	unknownMethod := &proto.Connect{Version: proto.V5, CleanStart: true, ClientID: []byte("rb-auth")}
	unknownMethod.Props.AuthMethod = []byte("NO-SUCH-METHOD")
	unknownMethod.Props.Set(proto.PropAuthMethod)

	return []rbCase{
		// [MQTT-3.1.0-1] [MQTT-3.1.0-1 v3.1.1] the first packet must be CONNECT;
		// 3.1.1 closes on any protocol violation [MQTT-4.8.0-1 v3.1.1]. Without a CONNECT the broker
		// knows no version to answer in: it closes.
		{name: "first packet PUBLISH", spec: "MQTT-3.1.0-1", first: true, raw: v3(publish("rb/a", 0, 0, []byte("x")))},
		{name: "first packet PINGREQ", spec: "MQTT-3.1.0-1", first: true, raw: proto.AppendPingreq(nil)},
		{name: "first packet SUBSCRIBE", spec: "MQTT-3.1.0-1", first: true,
			raw: v5(&proto.Subscribe{PacketID: 1, Subscriptions: []proto.Subscription{{Filter: []byte("#")}}})},
		{name: "first packet of type 0", spec: "MQTT-3.1.0-1 2.1.2", first: true, raw: []byte{0x00, 0x00}},
		{name: "first packet with a five-byte remaining length", spec: "MQTT-1.5.5-1", first: true,
			raw: []byte{0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}},

		// [MQTT-3.1.0-2] [MQTT-3.1.0-2 v3.1.1] a second CONNECT is a protocol violation.
		{name: "second CONNECT v5", spec: "MQTT-3.1.0-2", v: proto.V5,
			raw:        v5(&proto.Connect{Version: proto.V5, CleanStart: true, ClientID: []byte("again")}),
			disconnect: []proto.ReasonCode{proto.ProtocolError}},
		{name: "second CONNECT 3.1.1", spec: "MQTT-3.1.0-2", v: proto.V311,
			raw: v3(&proto.Connect{Version: proto.V311, CleanStart: true, ClientID: []byte("again")})},

		// A remaining length longer than four bytes (5.0: 1.5.5; 3.1.1: 2.2.3).
		{name: "five-byte remaining length 3.1.1", spec: "2.2.3", v: proto.V311,
			raw: []byte{0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}},

		// Packets past the broker's Maximum Packet Size (advertised in
		// CONNACK): the client must not send them [MQTT-3.2.2-15], the broker
		// answers DISCONNECT 0x95 (3.2.2.3.6).
		{name: "PUBLISH above the maximum packet size", spec: "MQTT-3.2.2-15", v: proto.V5,
			raw: v5(publish("rb/big", 0, 0, big)), disconnect: []proto.ReasonCode{proto.PacketTooLarge}},
		{name: "fixed header announcing 1 MiB", spec: "MQTT-3.2.2-15", v: proto.V5,
			raw: proto.AppendFixedHeader(nil, proto.PUBLISH, 0, 1<<20), disconnect: []proto.ReasonCode{proto.PacketTooLarge}},
		{name: "PUBLISH above the maximum packet size 3.1.1", spec: "MQTT-4.8.0-1", v: proto.V311,
			raw: v3(publish("rb/big", 1, 1, big))},
		// Before CONNACK the client knows no limit; the broker may refuse
		// with CONNACK 0x95 or simply close [MQTT-3.1.4-1].
		{name: "CONNECT above the maximum packet size", spec: "MQTT-3.1.4-1", first: true, raw: v5(bigConnect),
			connack: []rbAnswer{{proto.V5, proto.PacketTooLarge}}, bare: true},

		// Topic aliases: above the broker's Topic Alias Maximum is 0x94
		// [MQTT-3.3.2-9]; an alias never set used with an empty topic is a
		// Protocol Error (3.3.2.3.4). Alias 0 is in the catalogue [MQTT-3.3.2-8].
		{name: "topic alias above the maximum", spec: "MQTT-3.3.2-9", v: proto.V5,
			raw:        v5(withAlias(publish("rb/alias", 0, 0, []byte("x")), rbAliasMax+1)),
			disconnect: []proto.ReasonCode{proto.TopicAliasInvalid}},
		{name: "topic alias never set", spec: "3.3.2.3.4", v: proto.V5,
			raw:        v5(withAlias(publish("", 0, 0, []byte("x")), 1)),
			disconnect: []proto.ReasonCode{proto.ProtocolError}},

		// AUTH from a client that gave no Authentication Method in CONNECT
		// [MQTT-4.12.0-7]: a Protocol Error.
		{name: "AUTH without authentication method", spec: "MQTT-4.12.0-7", v: proto.V5,
			raw: []byte{0xF0, 0x00}, disconnect: []proto.ReasonCode{proto.ProtocolError}},
		{name: "AUTH with a method CONNECT did not name", spec: "MQTT-4.12.0-7", v: proto.V5,
			raw: v5(authWithMethod), disconnect: []proto.ReasonCode{proto.ProtocolError}},
		// An authentication method the broker does not support [MQTT-4.12.0-1].
		{name: "CONNECT with an unsupported authentication method", spec: "MQTT-4.12.0-1", first: true,
			raw:     v5(unknownMethod),
			connack: []rbAnswer{{proto.V5, proto.BadAuthenticationMethod}, {proto.V5, proto.NotAuthorized}}},

		// Session Expiry 0 at CONNECT may not be raised at DISCONNECT
		// (3.14.2.2.2): Protocol Error.
		{name: "DISCONNECT raising session expiry from 0", spec: "3.14.2.2.2", v: proto.V5,
			raw: v5(raiseExpiry), disconnect: []proto.ReasonCode{proto.ProtocolError}},

		// More unacknowledged QoS 2 PUBLISH than the broker's Receive
		// Maximum [MQTT-3.3.4-7]: the first ones get PUBREC, the one past the
		// window DISCONNECT 0x93 (3.2.2.3.3).
		{name: "QoS 2 beyond the receive maximum", spec: "MQTT-3.3.4-7", v: proto.V5,
			raw: qos2, acks: rbReceiveMax, disconnect: []proto.ReasonCode{proto.ReceiveMaximumExceeded}},

		// 3.1.1: an empty client id needs Clean Session 1, else CONNACK 0x02
		// [MQTT-3.1.3-8 v3.1.1].
		{name: "3.1.1 empty client id without clean session", spec: "MQTT-3.1.3-8", first: true, raw: v3(emptyIDKeep),
			connack: []rbAnswer{{proto.V311, proto.V3IdentifierRejected}}},
	}
}

// rbRun sends one case on a fresh connection and checks the broker's
// answer and that it closed the connection.
func rbRun(t *testing.T, addr string, c rbCase) {
	t.Helper()
	r := loomtest.Dial(t, addr, c.v)
	why := fmt.Sprintf("case %q [%s]", c.name, c.spec)
	if c.first {
		r.Write(c.raw)
		got := r.RestBytes()
		rbCheckConnack(t, got, c, why)
		return
	}
	r.Connect(fmt.Sprintf("rb-%d", rbSeq.Add(1)), nil)
	r.Write(c.raw)
	pkts := r.Rest()
	if c.v != proto.V5 {
		require.Len(t, pkts, c.acks, "%s: 3.1.1 closes without a DISCONNECT; got %v", why, pkts)
		return
	}
	require.Len(t, pkts, c.acks+1, "%s: want %d answers then DISCONNECT; got %v", why, c.acks, pkts)
	d, ok := pkts[c.acks].(*proto.Disconnect)
	require.True(t, ok, "%s: last packet is %T, not DISCONNECT", why, pkts[c.acks])
	require.Contains(t, c.disconnect, d.Reason, "%s: DISCONNECT reason 0x%02X", why, byte(d.Reason))
}

// rbCheckConnack checks the bytes the broker sent in answer to a bad first
// packet: nothing, or one acceptable CONNACK.
func rbCheckConnack(t *testing.T, got []byte, c rbCase, why string) {
	t.Helper()
	if len(got) == 0 {
		require.True(t, c.bare || len(c.connack) == 0, "%s: closed without the CONNACK the spec names", why)
		return
	}
	require.NotEmpty(t, c.connack, "%s: the broker must close without a CONNACK; sent % x", why, got)
	var ans rbAnswer
	if len(got) == 4 && got[0] == 0x20 && got[1] == 2 {
		ans = rbAnswer{proto.V311, proto.ReasonCode(got[3])} // the 3.1.1 form
	} else {
		p, n, err := proto.Decode(got, proto.V5)
		require.NoError(t, err, "%s: undecodable answer % x", why, got)
		require.Equal(t, len(got), n, "%s: more than a CONNACK: % x", why, got)
		ack, ok := p.(*proto.Connack)
		require.True(t, ok, "%s: answer is %T, not CONNACK", why, p)
		require.False(t, ack.SessionPresent, "%s: session present with a refusal [MQTT-3.2.2-6]", why)
		ans = rbAnswer{proto.V5, ack.Reason}
	}
	require.True(t, slices.Contains(c.connack, ans), "%s: CONNACK %+v, want one of %+v", why, ans, c.connack)
}

// rbHealthy is a v5 client connected before the bad ones, subscribed to its
// own topics at QoS 1; check makes it publish and receive once more.
type rbHealthy struct {
	r   *loomtest.Client
	pid uint16
}

func rbNewHealthy(t *testing.T, addr string) *rbHealthy {
	r := loomtest.Dial(t, addr, proto.V5)
	r.Connect("rb-healthy", nil)
	r.Subscribe("rb-healthy/#", 1)
	return &rbHealthy{r: r, pid: 1}
}

func (h *rbHealthy) check(t *testing.T) {
	t.Helper()
	r := h.r.For(t)
	h.pid++
	topic := fmt.Sprintf("rb-healthy/%d", h.pid)
	r.Send(&proto.Publish{Topic: []byte(topic), QoS: 1, PacketID: h.pid, Payload: []byte("ok")})
	acked, got := false, false
	for !acked || !got {
		p, err := r.Next()
		require.NoError(t, err, "the healthy client lost its connection")
		switch p := p.(type) {
		case *proto.Ack:
			require.Equal(t, proto.PUBACK, p.Type)
			require.Equal(t, h.pid, p.PacketID)
			acked = true
		case *proto.Publish:
			require.Equal(t, topic, string(p.Topic))
			r.Send(&proto.Ack{Type: proto.PUBACK, PacketID: p.PacketID})
			got = true
		default:
			t.Fatalf("healthy client got %T %+v", p, p)
		}
	}
}

// ---- many malformed connections ------------------------------------------

const rbFloodConns = 10_000

// TestMalformedFloodLeavesNoTrace opens 10,000 connections, 50 at a time,
// each sending a malformed packet instead of or after its CONNECT, and waits
// for each to be closed. Afterwards the broker holds no connection, client
// or session, and the process's goroutines and heap are back near where
// they were: a refused connection leaks nothing.
func TestMalformedFloodLeavesNoTrace(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 connections: skipped with -short")
	}
	srv, addr := loomtest.Start(t, loom.Options{})
	var bad []proto.Example
	for _, ex := range proto.Catalogue {
		if !ex.Valid {
			bad = append(bad, ex)
		}
	}
	one := func(i int) error { return rbFloodOne(addr, i, bad[i%len(bad)]) }

	// Warm up first, so pools and loop buffers are in the baseline.
	require.NoError(t, loomtest.Parallel(0, 500, 50, one))
	loomtest.Eventually(t, "the warm-up connections are closed", func() bool { return srv.Stats().OpenConnections == 0 })
	goroutines, heap := runtime.NumGoroutine(), rbHeapInuse()

	require.NoError(t, loomtest.Parallel(500, 500+rbFloodConns, 50, one))
	loomtest.Eventually(t, "every connection is closed", func() bool { return srv.Stats().OpenConnections == 0 })
	require.Zero(t, srv.Stats().Connected, "clients still count as connected")
	require.Zero(t, srv.Stats().Sessions, "sessions outlived their connections")

	// Closed clients may wait in a loop's timing wheel until their slot
	// comes round; give the heap that long to settle.
	var g int
	var h int64
	loomtest.Eventually(t, "goroutines and heap are back near the baseline", func() bool {
		g, h = runtime.NumGoroutine(), rbHeapInuse()
		return g <= goroutines+20 && h <= heap+16<<20
	})
	t.Logf("after %d malformed connections: goroutines %d → %d, heap in use %d → %d KiB",
		rbFloodConns, goroutines, g, heap>>10, h>>10)
}

// rbFloodOne sends example ex on a new connection: alone if it is a
// CONNECT, else after a valid CONNECT (every other time waiting for the
// CONNACK first), and reads until the broker closes the connection.
func rbFloodOne(addr string, i int, ex proto.Example) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * loomtest.Wait))
	var out []byte
	if proto.Type(ex.Raw[0]>>4) != proto.CONNECT {
		connect := &proto.Connect{Version: ex.Version, CleanStart: true, ClientID: []byte(fmt.Sprintf("rb-flood-%d", i))}
		out = connect.Append(nil, ex.Version)
		if i%2 == 0 {
			if _, err := c.Write(out); err != nil {
				return err
			}
			var buf [64]byte
			if _, err := c.Read(buf[:]); err != nil {
				return fmt.Errorf("flood %d (%s): no CONNACK: %w", i, ex.Name, err)
			}
			out = nil
		}
	}
	out = append(out, ex.Raw...)
	if _, err := c.Write(out); err != nil && !loomtest.Closed(err) {
		return err
	}
	if _, err := io.Copy(io.Discard, c); err != nil && !loomtest.Closed(err) {
		return fmt.Errorf("flood %d (%s): not closed: %w", i, ex.Name, err)
	}
	return nil
}
