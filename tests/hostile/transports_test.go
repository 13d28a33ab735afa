package hostile_test

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
)

// hostileMaxFrame is the WebSocket listeners' MaxFrame here: small, so a
// frame over it is cheap to send.
const hostileMaxFrame = 4096

// hostileBroker is a broker with a listener of every kind, and a hook that
// records where each client came from.
type hostileBroker struct {
	srv  *loom.Server
	pki  *loomtest.PKI
	hook *remotes
	// The listeners' host:port.
	tcp, tls, ws, wss, proxyTCP, proxyTLS string
	w                                     witnesses
}

func startHostile(t *testing.T) *hostileBroker {
	t.Helper()
	pki := loomtest.NewPKI(t)
	files := &loom.TLS{CertFile: pki.CertFile, KeyFile: pki.KeyFile}
	b := &hostileBroker{pki: pki, hook: newRemotes()}
	b.srv, _ = loomtest.Start(t, loom.Options{
		Listeners: []loom.Listener{
			{Address: "tcp://127.0.0.1:0"},
			{Address: "tls://127.0.0.1:0", TLS: files},
			{Address: "ws://127.0.0.1:0", MaxFrame: hostileMaxFrame},
			{Address: "wss://127.0.0.1:0/mqtt", TLS: files, MaxFrame: hostileMaxFrame},
			{Address: "tcp://127.0.0.1:0", Proxy: true},
			{Address: "tls://127.0.0.1:0", TLS: files, Proxy: true},
		},
		// Short, so that a stalled handshake ends within the test; the
		// connect timeout is long, so that every close seen below is the
		// transport's doing, not the timeout's.
		HandshakeTimeout: time.Second,
		Limits:           loom.Limits{ConnectTimeout: time.Minute},
	}, b.hook)
	a := b.srv.Addrs()
	b.tcp, b.tls, b.ws, b.wss, b.proxyTCP, b.proxyTLS =
		a[0].String(), a[1].String(), a[2].String(), a[3].String(), a[4].String(), a[5].String()

	b.w.add(t, "tcp", dialRaw(t, b.tcp))
	b.w.add(t, "tls", dialTLS(t, b.tls, pki))
	b.w.add(t, "ws", dialWS(t, b.ws))
	b.w.add(t, "wss", dialWSS(t, b.wss, pki))
	b.w.check(t)
	return b
}

// garbage is n bytes of noise from a fixed seed, starting with first.
func garbage(n int, first byte) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	b[0] = first
	return b
}

// write sends b on nc now.
func write(t *testing.T, nc net.Conn, b []byte) {
	t.Helper()
	_ = nc.SetWriteDeadline(deadline())
	if _, err := nc.Write(b); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// refusedHTTP sends req to the WebSocket listener at addr and requires the
// HTTP status want, no upgrade, then a clean end of the connection.
func refusedHTTP(t *testing.T, addr string, req []byte, want int) {
	t.Helper()
	nc := dialRaw(t, addr)
	br, resp := httpExchange(t, nc, req)
	if resp.StatusCode != want {
		t.Fatalf("status %s, want %d", resp.Status, want)
	}
	if resp.Header.Get("Sec-WebSocket-Accept") != "" || resp.Header.Get("Sec-WebSocket-Protocol") != "" {
		t.Fatalf("a refusal with WebSocket headers: %v", resp.Header)
	}
	if rest := readToEOF(t, br, nc); len(rest) > 0 {
		t.Fatalf("bytes after the refusal: %q", rest)
	}
}

// expectNothing requires the broker to close nc cleanly without sending a
// byte: no CONNACK, no HTTP.
func expectNothing(t *testing.T, nc net.Conn) {
	t.Helper()
	if got := readToEOF(t, nc, nc); len(got) > 0 {
		t.Fatalf("the broker sent % x before closing; want nothing", got)
	}
}

// publishOfSize is a QoS 1 PUBLISH of exactly n bytes.
func publishOfSize(t *testing.T, n int) []byte {
	t.Helper()
	p := proto.Publish{Topic: []byte("big"), QoS: 1, PacketID: 7}
	for pad := n - 10; pad > n-20 && pad >= 0; pad-- {
		p.Payload = make([]byte, pad)
		if b := p.Append(nil, proto.V5); len(b) == n {
			return b
		}
	}
	t.Fatalf("no PUBLISH of %d bytes", n)
	return nil
}

// TestHostileTransports: a client that misbehaves at the transport's level
// — TLS, WebSocket, the PROXY protocol — is refused as the transport's spec
// says (an HTTP status, a close frame's code, or the end of the stream) and
// the connection then ends cleanly: the client reads the refusal and then
// the end of the stream, never a reset. After each case (and during the
// stalled handshake) a witness on every transport still publishes and
// receives.
func TestHostileTransports(t *testing.T) {
	b := startHostile(t)
	w := &b.w
	src4 := &net.TCPAddr{IP: net.IPv4(203, 0, 113, 7), Port: 4321}
	dst4 := &net.TCPAddr{IP: net.IPv4(198, 51, 100, 1), Port: 8883}
	src6 := &net.TCPAddr{IP: net.ParseIP("2001:db8::7"), Port: 4321}
	dst6 := &net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 8883}
	// run runs a case, then a round of the witnesses.
	run := func(name string, f func(t *testing.T)) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			f(t)
			w.check(t)
		})
	}

	// --- TLS ---

	run("tls/stalled-client-hello", func(t *testing.T) {
		nc := dialRaw(t, b.tls)
		hello := clientHello(t, b.pki)
		write(t, nc, hello[:len(hello)/2])
		w.check(t) // served while the handshake stalls
		// HandshakeTimeout (1s here) ends it. The bound is generous for a
		// 1s timer, and below both the connect timeout (1 min here) and
		// the default HandshakeTimeout (10s), so that the close seen is
		// the configured timeout's.
		if got := readToEOFWithin(t, nc, nc, 6*time.Second); len(got) > 0 {
			t.Fatalf("the broker sent % x before closing; want nothing", got)
		}
	})

	run("tls/garbage-for-client-hello", func(t *testing.T) {
		nc := dialRaw(t, b.tls)
		write(t, nc, garbage(600, 0xA5))
		expectNothing(t, nc)
	})

	run("tls/garbage-in-a-handshake-record", func(t *testing.T) {
		// A handshake record whose body is noise: crypto/tls answers with
		// an alert, which the client must read before the end.
		nc := dialRaw(t, b.tls)
		body := garbage(256, 0x63)
		rec := append([]byte{0x16, 0x03, 0x01, 0x01, 0x00}, body...)
		write(t, nc, rec)
		if got := readToEOF(t, nc, nc); len(got) > 0 && got[0] != 0x15 {
			t.Fatalf("the broker sent % x; want a TLS alert or nothing", got)
		}
	})

	run("tls/plain-mqtt", func(t *testing.T) {
		nc := dialRaw(t, b.tls)
		write(t, nc, connectBytes(proto.V311, "plain-on-tls"))
		expectNothing(t, nc)
	})

	// --- WebSocket: the upgrade ---

	run("ws/http-not-an-upgrade", func(t *testing.T) {
		refusedHTTP(t, b.ws, []byte("GET /mqtt HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n"), http.StatusBadRequest)
	})

	run("ws/wrong-path", func(t *testing.T) {
		refusedHTTP(t, b.ws, upgradeRequest("/not-mqtt", wsKey(), "mqtt"), http.StatusNotFound)
	})

	run("ws/wrong-subprotocol", func(t *testing.T) {
		refusedHTTP(t, b.ws, upgradeRequest("/mqtt", wsKey(), "chat, superchat"), http.StatusBadRequest)
	})

	run("ws/no-subprotocol", func(t *testing.T) {
		refusedHTTP(t, b.ws, upgradeRequest("/mqtt", wsKey(), ""), http.StatusBadRequest)
	})

	run("ws/plain-mqtt", func(t *testing.T) {
		refusedHTTP(t, b.ws, connectBytes(proto.V311, "plain-on-ws"), http.StatusBadRequest)
	})

	run("wss/wrong-path", func(t *testing.T) {
		nc := dialTLS(t, b.wss, b.pki)
		br, resp := httpExchange(t, nc, upgradeRequest("/elsewhere", wsKey(), "mqtt"))
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("status %s, want 404", resp.Status)
		}
		if rest := readToEOF(t, br, nc); len(rest) > 0 {
			t.Fatalf("bytes after the refusal: %q", rest)
		}
	})

	// --- WebSocket: frames ---

	run("ws/unmasked-frame", func(t *testing.T) {
		c := dialWS(t, b.ws)
		if err := c.WriteRaw(wsFrameBytes(opBinary, true, false, connectBytes(proto.V5, "unmasked"))); err != nil {
			t.Fatal(err)
		}
		if mqtt := c.expectClose(t, 1002); len(mqtt) > 0 {
			t.Fatalf("MQTT bytes % x for an unmasked CONNECT", mqtt)
		}
	})

	run("wss/unmasked-frame", func(t *testing.T) {
		c := dialWSS(t, b.wss, b.pki)
		if err := c.WriteRaw(wsFrameBytes(opBinary, true, false, connectBytes(proto.V5, "unmasked-wss"))); err != nil {
			t.Fatal(err)
		}
		if mqtt := c.expectClose(t, 1002); len(mqtt) > 0 {
			t.Fatalf("MQTT bytes % x for an unmasked CONNECT", mqtt)
		}
	})

	for _, v := range []proto.Version{proto.V5, proto.V311} {
		run("ws/text-frame-"+vname(v), func(t *testing.T) {
			// A connected client sends a PINGREQ in a text frame: the broker
			// closes the connection, with close code 1003 (unsupported
			// data), and does not answer the ping [MQTT-6.0.0-1]
			// [MQTT-6.0.0-1 v3.1.1].
			c := dialWS(t, b.ws)
			loomtest.Over(t, c, v).Connect(fmt.Sprint("text-", v), nil)
			if err := c.WriteFrame(opText, true, proto.AppendPingreq(nil)); err != nil {
				t.Fatal(err)
			}
			if mqtt := c.expectClose(t, 1003); len(mqtt) > 0 {
				t.Fatalf("MQTT bytes % x after a text frame [MQTT-6.0.0-1]", mqtt)
			}
		})
	}

	run("ws/text-frame-before-connect", func(t *testing.T) {
		c := dialWS(t, b.ws)
		if err := c.WriteFrame(opText, true, connectBytes(proto.V5, "text-connect")); err != nil {
			t.Fatal(err)
		}
		if mqtt := c.expectClose(t, 1003); len(mqtt) > 0 {
			t.Fatalf("MQTT bytes % x for a CONNECT in a text frame [MQTT-6.0.0-1]", mqtt)
		}
	})

	// RFC 6455 violations: each closes with 1002 (protocol error).
	connect := connectBytes(proto.V5, "rfc-errors")
	for _, tc := range []struct {
		name string
		raw  []byte
	}{
		{"reserved-bits", func() []byte { f := binFrame(connect); f[0] |= 0x40; return f }()},
		{"unknown-opcode", wsFrameBytes(0x3, true, true, connect)},
		{"continuation-with-no-message", wsFrameBytes(opContinuation, true, true, connect)},
		{"binary-inside-a-fragmented-message", append(wsFrameBytes(opBinary, false, true, connect[:4]), binFrame(connect[4:])...)},
		{"fragmented-ping", wsFrameBytes(opPing, false, true, []byte("x"))},
		{"ping-over-125-bytes", wsFrameBytes(opPing, true, true, make([]byte, 126))},
		{"length-with-top-bit", []byte{0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4}},
	} {
		run("ws/protocol-error/"+tc.name, func(t *testing.T) {
			c := dialWS(t, b.ws)
			if err := c.WriteRaw(tc.raw); err != nil {
				t.Fatal(err)
			}
			if mqtt := c.expectClose(t, 1002); len(mqtt) > 0 {
				t.Fatalf("MQTT bytes % x before the close", mqtt)
			}
		})
	}

	run("ws/frame-over-max-frame", func(t *testing.T) {
		c := dialWS(t, b.ws)
		cl := loomtest.Over(t, c, proto.V5)
		cl.Connect("big-frame", nil)
		// A frame of exactly MaxFrame is taken...
		if err := c.WriteFrame(opBinary, true, publishOfSize(t, hostileMaxFrame)); err != nil {
			t.Fatal(err)
		}
		if a := cl.ReadAck(proto.PUBACK); a.PacketID != 7 {
			t.Fatalf("PUBACK for %d, want 7", a.PacketID)
		}
		// ... one byte more is refused with 1009 (message too big).
		if err := c.WriteFrame(opBinary, true, publishOfSize(t, hostileMaxFrame+1)); err != nil {
			t.Fatal(err)
		}
		if mqtt := c.expectClose(t, 1009); len(mqtt) > 0 {
			t.Fatalf("MQTT bytes % x for an oversized frame", mqtt)
		}
	})

	run("ws/oversized-header-only", func(t *testing.T) {
		// The header announces 1 GiB: refused on the header, without
		// waiting for (or buffering) the payload.
		c := dialWS(t, b.ws)
		loomtest.Over(t, c, proto.V5).Connect("huge-header", nil)
		hdr := []byte{0x82, 0x80 | 127, 0, 0, 0, 0, 0x40, 0, 0, 0, 1, 2, 3, 4}
		if err := c.WriteRaw(hdr); err != nil {
			t.Fatal(err)
		}
		c.expectClose(t, 1009)
	})

	// --- The PROXY protocol ---

	for _, tc := range []struct {
		name   string
		header []byte
	}{
		{"v1", proxyV1(src4, dst4)},
		{"v2", proxyV2(src4, dst4)},
	} {
		run("proxy/"+tc.name+"-on-a-listener-without-proxy", func(t *testing.T) {
			// An MQTT listener reads the header as a first packet that is
			// not CONNECT (v1: "P" is PUBREC, "R" a remaining length of
			// 82; v2: packet type 0) and closes the connection without
			// CONNACK, at once: the connect timeout here
			// is a minute, far past readToEOF's bound. The CONNECT behind
			// the header is a short one, as most are.
			nc := dialRaw(t, b.tcp)
			write(t, nc, append(append([]byte(nil), tc.header...), connectBytes(proto.V311, "proxied-"+tc.name)...))
			expectNothing(t, nc)
		})
	}

	run("proxy/v1-on-a-websocket-listener-without-proxy", func(t *testing.T) {
		refusedHTTP(t, b.ws, append(proxyV1(src4, dst4), upgradeRequest("/mqtt", wsKey(), "mqtt")...), http.StatusBadRequest)
	})

	run("proxy/no-header", func(t *testing.T) {
		nc := dialRaw(t, b.proxyTCP)
		write(t, nc, connectBytes(proto.V5, "unproxied"))
		expectNothing(t, nc)
		if r := b.hook.of("unproxied"); r != "" {
			t.Fatalf("a client without a PROXY header reached OnConnect from %s", r)
		}
	})

	run("proxy/no-header-tls", func(t *testing.T) {
		nc := dialRaw(t, b.proxyTLS)
		write(t, nc, clientHello(t, b.pki))
		expectNothing(t, nc)
	})

	run("proxy/bad-v2-version", func(t *testing.T) {
		h := proxyV2(src4, dst4)
		h[12] = 0x31 // version 3
		nc := dialRaw(t, b.proxyTCP)
		write(t, nc, h)
		expectNothing(t, nc)
	})

	// A valid header: the client's address that hooks see is the header's.
	for _, tc := range []struct {
		name, id string
		header   []byte
		want     string
		split    bool // the header arrives in two writes
	}{
		{"v1", "proxied-v1", proxyV1(src4, dst4), "203.0.113.7:4321", false},
		{"v1-split", "proxied-v1-split", proxyV1(src4, dst4), "203.0.113.7:4321", true},
		{"v1-ipv6", "proxied-v1-6", proxyV1(src6, dst6), "[2001:db8::7]:4321", false},
		{"v2", "proxied-v2", proxyV2(src4, dst4), "203.0.113.7:4321", false},
		{"v2-ipv6", "proxied-v2-6", proxyV2(src6, dst6), "[2001:db8::7]:4321", true},
	} {
		run("proxy/"+tc.name, func(t *testing.T) {
			nc := dialRaw(t, b.proxyTCP)
			if tc.split {
				write(t, nc, tc.header[:10])
				w.check(t)
				write(t, nc, append(append([]byte(nil), tc.header[10:]...), connectBytes(proto.V5, tc.id)...))
			} else {
				// The header and CONNECT in one write, as a balancer
				// forwards a client that talks at once.
				write(t, nc, append(append([]byte(nil), tc.header...), connectBytes(proto.V5, tc.id)...))
			}
			c := loomtest.Over(t, nc, proto.V5)
			if ack := loomtest.Expect[*proto.Connack](c); ack.Reason != proto.Success {
				t.Fatalf("CONNACK 0x%02x", byte(ack.Reason))
			}
			c.Ping()
			if got := b.hook.of(tc.id); got != tc.want {
				t.Fatalf("hooks see the client at %q, want the header's %q", got, tc.want)
			}
		})
	}

	run("proxy/v2-then-tls", func(t *testing.T) {
		nc := dialRaw(t, b.proxyTLS)
		write(t, nc, proxyV2(src4, dst4))
		c := loomtest.Over(t, tlsOver(t, nc, b.pki), proto.V5)
		c.Connect("proxied-tls", nil)
		c.Ping()
		if got, want := b.hook.of("proxied-tls"), "203.0.113.7:4321"; got != want {
			t.Fatalf("hooks see the client at %q, want the header's %q", got, want)
		}
	})

	run("proxy/v2-local", func(t *testing.T) {
		// LOCAL: the balancer's own connection; its socket address stands.
		nc := dialRaw(t, b.proxyTCP)
		write(t, nc, proxyV2Local())
		c := loomtest.Over(t, nc, proto.V5)
		c.Connect("proxied-local", nil)
		if got, want := b.hook.of("proxied-local"), nc.LocalAddr().String(); got != want {
			t.Fatalf("hooks see the client at %q, want the socket's %q", got, want)
		}
	})

	// The refused connections are all gone: only the witnesses remain.
	loomtest.WaitConnections(t, b.srv, int64(len(w.cs)))
	w.check(t)
}
