package hostile_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"testing"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
)

// wsBroker is a broker with a ws:// and a wss:// listener.
type wsBroker struct {
	pki     *loomtest.PKI
	ws, wss string
}

func startWS(t *testing.T) *wsBroker {
	t.Helper()
	pki := loomtest.NewPKI(t)
	srv, _ := loomtest.Start(t, loom.Options{Listeners: []loom.Listener{
		{Address: "ws://127.0.0.1:0"},
		{Address: "wss://127.0.0.1:0", TLS: &loom.TLS{CertFile: pki.CertFile, KeyFile: pki.KeyFile}},
	}})
	return &wsBroker{pki: pki, ws: srv.Addrs()[0].String(), wss: srv.Addrs()[1].String()}
}

// dial opens a WebSocket connection over ws or wss, offering protocols.
func (b *wsBroker) dial(t *testing.T, secure bool, protocols string) *wsConn {
	t.Helper()
	var nc net.Conn
	if secure {
		nc = dialTLS(t, b.wss, b.pki)
	} else {
		nc = dialRaw(t, b.ws)
	}
	return upgrade(t, nc, "/mqtt", protocols)
}

// chop cuts b into masked binary frames of 1 to 7 bytes (and a few empty
// ones), at boundaries from a fixed seed that fall anywhere in the
// packets, and returns the frames' bytes back to back.
func chop(b []byte, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	var out []byte
	for len(b) > 0 {
		n := min(len(b), 1+r.IntN(7))
		if r.IntN(10) == 0 {
			out = append(out, binFrame(nil)...) // an empty frame is a frame too
		}
		out = append(out, binFrame(b[:n])...)
		b = b[n:]
	}
	return out
}

// vname is how a version is written in test names.
func vname(v proto.Version) string {
	switch v {
	case proto.V5:
		return "v5"
	case proto.V311:
		return "v3.1.1"
	case proto.V31:
		return "v3.1"
	}
	return fmt.Sprint("v", int(v))
}

// collect reads n packets and returns them by type, in arrival order.
func collect(t *testing.T, c *loomtest.Client, n int) map[proto.Type][]proto.Packet {
	t.Helper()
	got := map[proto.Type][]proto.Packet{}
	for range n {
		p, err := c.Next()
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		got[p.PacketType()] = append(got[p.PacketType()], p)
	}
	return got
}

// TestWebSocketSpec: MQTT over WebSocket as the spec's chapter 6 and
// RFC 6455 have it, each statement over ws and wss, in 5.0 and 3.1.1.
func TestWebSocketSpec(t *testing.T) {
	b := startWS(t)
	for _, secure := range []bool{false, true} {
		scheme := "ws"
		if secure {
			scheme = "wss"
		}
		for _, v := range []proto.Version{proto.V5, proto.V311} {
			name := scheme + "/" + vname(v)

			t.Run(name+"/packets-split-across-frames", func(t *testing.T) {
				// The CONNECT one byte per frame, then SUBSCRIBE, PUBLISH
				// and PINGREQ cut anywhere, frames and packets overlapping
				// both ways: the broker does not assume packets aligned
				// on frames [MQTT-6.0.0-2] [MQTT-6.0.0-2 v3.1.1].
				ws := b.dial(t, secure, "mqtt")
				c := loomtest.Over(t, ws, v)
				id := fmt.Sprintf("split-%s-%d", scheme, v)
				for _, x := range connectBytes(v, id) {
					if err := ws.WriteFrame(opBinary, true, []byte{x}); err != nil {
						t.Fatal(err)
					}
				}
				if ack := loomtest.Expect[*proto.Connack](c); ack.Reason != proto.Success {
					t.Fatalf("CONNACK 0x%02x", byte(ack.Reason))
				}
				topic := "split/" + id
				var stream []byte
				stream = (&proto.Subscribe{PacketID: 1, Subscriptions: []proto.Subscription{{Filter: []byte(topic), QoS: 1}}}).Append(stream, v)
				stream = (&proto.Publish{Topic: []byte(topic), Payload: bytes.Repeat([]byte("split"), 40), QoS: 1, PacketID: 2}).Append(stream, v)
				stream = proto.AppendPingreq(stream)
				if err := ws.WriteRaw(chop(stream, uint64(v))); err != nil {
					t.Fatal(err)
				}
				got := collect(t, c, 4)
				if len(got[proto.SUBACK]) != 1 || len(got[proto.PUBACK]) != 1 || len(got[proto.PUBLISH]) != 1 || len(got[proto.PINGRESP]) != 1 {
					t.Fatalf("want SUBACK, PUBACK, PUBLISH, PINGRESP; got %v [MQTT-6.0.0-2]", got)
				}
				pub := got[proto.PUBLISH][0].(*proto.Publish)
				if !bytes.Equal(pub.Payload, bytes.Repeat([]byte("split"), 40)) {
					t.Fatalf("payload %q arrived changed", pub.Payload)
				}
				c.Ack(proto.PUBACK, pub.PacketID)

				// Several packets in one frame: three PUBLISH and a PINGREQ.
				var one []byte
				for i := range 3 {
					one = (&proto.Publish{Topic: []byte(topic), Payload: fmt.Appendf(nil, "m%d", i)}).Append(one, v)
				}
				one = proto.AppendPingreq(one)
				if err := ws.WriteFrame(opBinary, true, one); err != nil {
					t.Fatal(err)
				}
				got = collect(t, c, 4)
				if len(got[proto.PUBLISH]) != 3 || len(got[proto.PINGRESP]) != 1 {
					t.Fatalf("want 3 PUBLISH and a PINGRESP from one frame; got %v [MQTT-6.0.0-2]", got)
				}
				for i, p := range got[proto.PUBLISH] {
					if want := fmt.Sprintf("m%d", i); string(p.(*proto.Publish).Payload) != want {
						t.Fatalf("message %d is %q, want %q", i, p.(*proto.Publish).Payload, want)
					}
				}
			})

			t.Run(name+"/fragmented-message", func(t *testing.T) {
				// One CONNECT in a binary frame without FIN and two
				// continuations (RFC 6455 section 5.4), a ping between them.
				ws := b.dial(t, secure, "mqtt")
				cb := connectBytes(v, fmt.Sprintf("frag-%s-%d", scheme, v))
				var raw []byte
				raw = append(raw, wsFrameBytes(opBinary, false, true, cb[:3])...)
				raw = append(raw, wsFrameBytes(opPing, true, true, []byte("between"))...)
				raw = append(raw, wsFrameBytes(opContinuation, false, true, cb[3:9])...)
				raw = append(raw, wsFrameBytes(opPong, true, true, []byte("unasked"))...)
				raw = append(raw, wsFrameBytes(opContinuation, true, true, cb[9:])...)
				if err := ws.WriteRaw(raw); err != nil {
					t.Fatal(err)
				}
				// The pong answers the ping, which came before the end of
				// the CONNECT; an unsolicited pong is ignored.
				f := ws.NextFrame(t)
				if f.op != opPong || string(f.payload) != "between" {
					t.Fatalf("frame %#x %q, want the pong of the ping between fragments", f.op, f.payload)
				}
				c := loomtest.Over(t, ws, v)
				if ack := loomtest.Expect[*proto.Connack](c); ack.Reason != proto.Success {
					t.Fatalf("CONNACK 0x%02x", byte(ack.Reason))
				}
				// A fragmented message carrying two packets, cut inside
				// each of them.
				var two []byte
				two = (&proto.Publish{Topic: []byte("frag"), Payload: []byte("x"), QoS: 1, PacketID: 5}).Append(two, v)
				two = proto.AppendPingreq(two)
				raw = raw[:0]
				raw = append(raw, wsFrameBytes(opBinary, false, true, two[:4])...)
				raw = append(raw, wsFrameBytes(opContinuation, false, true, two[4:len(two)-1])...)
				raw = append(raw, wsFrameBytes(opContinuation, true, true, two[len(two)-1:])...)
				if err := ws.WriteRaw(raw); err != nil {
					t.Fatal(err)
				}
				if a := c.ReadAck(proto.PUBACK); a.PacketID != 5 {
					t.Fatalf("PUBACK for %d, want 5", a.PacketID)
				}
				if p := loomtest.Expect[*proto.Ping](c); p.Type != proto.PINGRESP {
					t.Fatalf("%v, want PINGRESP", p.Type)
				}
			})

			t.Run(name+"/ping-pong", func(t *testing.T) {
				// A ping is answered by a pong with the same payload
				// (RFC 6455 section 5.5.2), before CONNECT and after.
				ws := b.dial(t, secure, "mqtt")
				payloads := [][]byte{nil, []byte("before connect"), bytes.Repeat([]byte{0xff, 0x00, 'p'}, 42)[:125]}
				for _, p := range payloads {
					if err := ws.WriteFrame(opPing, true, p); err != nil {
						t.Fatal(err)
					}
					f := ws.NextFrame(t)
					if f.op != opPong || !f.fin || !bytes.Equal(f.payload, p) {
						t.Fatalf("frame op %#x fin %t payload %q, want a pong with %q", f.op, f.fin, f.payload, p)
					}
				}
				c := loomtest.Over(t, ws, v)
				c.Connect(fmt.Sprintf("ping-%s-%d", scheme, v), nil)
				if err := ws.WriteFrame(opPing, true, []byte("after connect")); err != nil {
					t.Fatal(err)
				}
				if f := ws.NextFrame(t); f.op != opPong || string(f.payload) != "after connect" {
					t.Fatalf("frame op %#x payload %q, want the pong", f.op, f.payload)
				}
				c.Ping() // MQTT carries on
			})

			t.Run(name+"/close-answered", func(t *testing.T) {
				// A close frame is answered by one (RFC 6455 section
				// 5.5.1), after the packets sent before it are handled,
				// and then the connection ends cleanly.
				ws := b.dial(t, secure, "mqtt")
				c := loomtest.Over(t, ws, v)
				c.Connect(fmt.Sprintf("close-%s-%d", scheme, v), nil)
				raw := binFrame((&proto.Publish{Topic: []byte("bye"), Payload: []byte("x"), QoS: 1, PacketID: 3}).Append(nil, v))
				raw = append(raw, wsFrameBytes(opClose, true, true, closePayload(1000))...)
				if err := ws.WriteRaw(raw); err != nil {
					t.Fatal(err)
				}
				mqtt := ws.expectClose(t, 1000)
				p, _, err := proto.Decode(mqtt, v)
				if err != nil {
					t.Fatalf("MQTT before the close frame % x: %v", mqtt, err)
				}
				if a, ok := p.(*proto.Ack); !ok || a.Type != proto.PUBACK || a.PacketID != 3 {
					t.Fatalf("got %v before the close frame, want the PUBACK of the PUBLISH sent before it", p)
				}
			})
		}
	}

	t.Run("close-without-code", func(t *testing.T) {
		ws := b.dial(t, false, "mqtt")
		if err := ws.WriteFrame(opClose, true, nil); err != nil {
			t.Fatal(err)
		}
		f := ws.NextFrame(t)
		if f.op != opClose || (f.code() != 1000 && f.code() != 1005) {
			t.Fatalf("frame op %#x code %d, want a close frame", f.op, f.code())
		}
		if rest := readToEOF(t, ws.br, ws.Conn); len(rest) > 0 {
			t.Fatalf("bytes after the close frame: % x", rest)
		}
	})

	// The subprotocol: the 101 names "mqtt" [MQTT-6.0.0-4]
	// [MQTT-6.0.0-4 v3.1.1]; "mqttv3.1", offered alone, is taken for MQTT
	// 3.1 clients (which predate the statement).
	for _, tc := range []struct {
		offer, want string
		v           proto.Version
	}{
		{"mqtt", "mqtt", proto.V5},
		{"mqtt", "mqtt", proto.V311},
		{"chat, mqtt", "mqtt", proto.V5},
		{"mqttv3.1", "mqttv3.1", proto.V31},
		// Both offered: the statement leaves the server no choice.
		{"mqttv3.1, mqtt", "mqtt", proto.V311},
	} {
		for _, secure := range []bool{false, true} {
			t.Run(fmt.Sprintf("subprotocol/%q/%s/secure=%t", tc.offer, vname(tc.v), secure), func(t *testing.T) {
				ws := b.dial(t, secure, tc.offer)
				if got := ws.resp.Header.Values("Sec-WebSocket-Protocol"); len(got) != 1 || got[0] != tc.want {
					t.Fatalf("offered %q, the 101 names %q; want %q [MQTT-6.0.0-4] [MQTT-6.0.0-4 v3.1.1]", tc.offer, got, tc.want)
				}
				c := loomtest.Over(t, ws, tc.v)
				c.Connect(fmt.Sprintf("sub-%d-%t-%s", tc.v, secure, tc.offer), nil)
				c.Ping()
			})
		}
	}
}
