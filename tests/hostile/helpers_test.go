// Package hostile_test drives Loom's transports (TLS, WebSocket, PROXY
// protocol) from the outside with clients that misbehave: what each one
// reads back, and that the clients beside it are not disturbed.
package hostile_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
)

// deadline is the generous bound of every wait here: never a measure of
// speed.
func deadline() time.Time { return time.Now().Add(loomtest.Wait) }

// dialRaw opens a TCP connection to addr, closed when the test ends.
func dialRaw(t testing.TB, addr string) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, loomtest.Wait)
	if err != nil {
		t.Fatalf("dialing %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	return nc
}

// tlsOver completes a TLS handshake over nc as a client trusting pki.
func tlsOver(t testing.TB, nc net.Conn, pki *loomtest.PKI) *tls.Conn {
	t.Helper()
	tc := tls.Client(nc, pki.ClientTLS())
	ctx, cancel := context.WithTimeout(context.Background(), loomtest.Wait)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		t.Fatalf("TLS handshake with %s: %v", nc.RemoteAddr(), err)
	}
	return tc
}

// dialTLS opens a TLS connection to addr.
func dialTLS(t testing.TB, addr string, pki *loomtest.PKI) *tls.Conn {
	t.Helper()
	return tlsOver(t, dialRaw(t, addr), pki)
}

// readToEOF reads what r still brings until the broker closes the
// connection, which it must do within loomtest.Wait, and requires a clean
// end: the end of the stream, not a reset. It returns what came first.
func readToEOF(t testing.TB, r io.Reader, nc net.Conn) []byte {
	t.Helper()
	return readToEOFWithin(t, r, nc, loomtest.Wait)
}

// readToEOFWithin is readToEOF waiting at most d.
func readToEOFWithin(t testing.TB, r io.Reader, nc net.Conn, d time.Duration) []byte {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(d))
	defer nc.SetReadDeadline(time.Time{})
	var out []byte
	buf := make([]byte, 4096)
	for len(out) < 1<<20 { // bounded: a broker streaming bytes fails below
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			return out
		case errors.Is(err, syscall.ECONNRESET):
			t.Fatalf("the connection was reset, not closed cleanly (read before: %q)", out)
		default:
			t.Fatalf("waiting for the broker to close the connection (read so far: %q): %v", out, err)
		}
	}
	t.Fatalf("1 MiB arrived and the connection is still open")
	return nil
}

// needFiles lifts the soft open-file limit towards the hard one and skips
// the test if the process still cannot hold n descriptors.
func needFiles(t *testing.T, n uint64) {
	t.Helper()
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	if rl.Cur < n && rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			t.Fatal(err)
		}
	}
	if rl.Cur < n {
		t.Skipf("open-file limit %d is below the %d this test needs", rl.Cur, n)
	}
}

// stableGoroutines polls runtime.NumGoroutine until it has not changed for
// five samples in a row (goroutines that are ending are given time to end),
// and returns it; after 200 samples it returns the last.
func stableGoroutines() int {
	last, same := runtime.NumGoroutine(), 0
	for range 200 {
		time.Sleep(20 * time.Millisecond)
		n := runtime.NumGoroutine()
		if n == last {
			if same++; same == 5 {
				break
			}
		} else {
			last, same = n, 0
		}
	}
	return last
}

// remotes is a hook recording the address each client's CONNECT came
// from, as hooks see it.
type remotes struct {
	loom.HookBase
	mu sync.Mutex
	m  map[string]string
}

func newRemotes() *remotes { return &remotes{m: map[string]string{}} }

func (r *remotes) ID() string                 { return "remotes" }
func (r *remotes) Provides(e loom.Event) bool { return e == loom.OnConnect }
func (r *remotes) OnConnect(cl loom.ClientInfo, _ *proto.Connect) error {
	r.mu.Lock()
	r.m[cl.ID] = cl.Remote
	r.mu.Unlock()
	return nil
}

func (r *remotes) of(id string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[id]
}

// --- WebSocket, client side (RFC 6455) ---

const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// wsFrameBytes is one client frame: FIN as fin says, masked with a random
// key when masked (as a client must; unmasked is the hostile case).
func wsFrameBytes(op byte, fin, masked bool, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	out := []byte{b0}
	var m byte
	if masked {
		m = 0x80
	}
	switch n := len(payload); {
	case n <= 125:
		out = append(out, m|byte(n))
	case n <= 0xffff:
		out = append(out, m|126, byte(n>>8), byte(n))
	default:
		out = binary.BigEndian.AppendUint64(append(out, m|127), uint64(n))
	}
	if !masked {
		return append(out, payload...)
	}
	var key [4]byte
	binary.LittleEndian.PutUint32(key[:], rand.Uint32())
	out = append(out, key[:]...)
	for i, c := range payload {
		out = append(out, c^key[i&3])
	}
	return out
}

// binFrame is a whole masked binary frame.
func binFrame(payload []byte) []byte { return wsFrameBytes(opBinary, true, true, payload) }

// closePayload is a close frame's payload: the code, no reason.
func closePayload(code uint16) []byte { return binary.BigEndian.AppendUint16(nil, code) }

// frame is a frame the broker sent.
type frame struct {
	fin     bool
	op      byte
	payload []byte
}

// code is a close frame's status code (1005 for none).
func (f frame) code() int {
	if len(f.payload) < 2 {
		return 1005
	}
	return int(binary.BigEndian.Uint16(f.payload))
}

// readFrame reads one frame from the broker, which must not mask it
// (RFC 6455 section 5.1) nor set reserved bits.
func readFrame(br *bufio.Reader) (frame, error) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return frame{}, err
	}
	f := frame{fin: h[0]&0x80 != 0, op: h[0] & 0x0f}
	if h[0]&0x70 != 0 {
		return f, fmt.Errorf("frame with reserved bits: % x", h)
	}
	if h[1]&0x80 != 0 {
		return f, fmt.Errorf("the broker masked a frame: % x", h)
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return f, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return f, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if n > 2<<20 {
		return f, fmt.Errorf("frame of %d bytes", n)
	}
	f.payload = make([]byte, n)
	if _, err := io.ReadFull(br, f.payload); err != nil {
		return f, fmt.Errorf("inside a frame: %w", err)
	}
	return f, nil
}

// wsKey is a fresh Sec-WebSocket-Key.
func wsKey() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	return base64.StdEncoding.EncodeToString(b[:])
}

// wsAccept is the Sec-WebSocket-Accept a key must get.
func wsAccept(key string) string {
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// upgradeRequest is a WebSocket upgrade request for path; protocols is the
// Sec-WebSocket-Protocol value ("" leaves the header out).
func upgradeRequest(path, key, protocols string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n", path)
	fmt.Fprintf(&b, "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n", key)
	if protocols != "" {
		fmt.Fprintf(&b, "Sec-WebSocket-Protocol: %s\r\n", protocols)
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}

// wsConn is a WebSocket client connection carrying MQTT, as a net.Conn:
// each Write is one masked binary frame; Read returns the payload of the
// broker's binary frames, answers pings, and ends with io.EOF at the
// broker's close frame (its code kept). A frame of any other kind fails
// the read: the broker must send MQTT in binary frames only
// [MQTT-6.0.0-1] [MQTT-6.0.0-1 v3.1.1].
type wsConn struct {
	net.Conn // the socket, or the TLS connection of wss
	br       *bufio.Reader
	wmu      sync.Mutex
	pending  []byte
	closed   int // the close frame's code, 0 before one
	resp     *http.Response
}

// upgrade sends an upgrade request over nc offering protocols and requires
// 101 Switching Protocols with the right Sec-WebSocket-Accept.
func upgrade(t testing.TB, nc net.Conn, path, protocols string) *wsConn {
	t.Helper()
	c, err := wsHandshake(nc, path, protocols)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wsHandshake is upgrade returning an error instead of failing a test.
func wsHandshake(nc net.Conn, path, protocols string) (*wsConn, error) {
	_ = nc.SetDeadline(deadline())
	defer nc.SetDeadline(time.Time{})
	key := wsKey()
	if _, err := nc.Write(upgradeRequest(path, key, protocols)); err != nil {
		return nil, fmt.Errorf("writing the upgrade request: %w", err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	switch {
	case err != nil:
		return nil, fmt.Errorf("reading the upgrade's response: %w", err)
	case resp.StatusCode != http.StatusSwitchingProtocols:
		return nil, fmt.Errorf("upgrade answered %s, want 101", resp.Status)
	case resp.Header.Get("Sec-WebSocket-Accept") != wsAccept(key):
		return nil, fmt.Errorf("Sec-WebSocket-Accept %q, want %q", resp.Header.Get("Sec-WebSocket-Accept"), wsAccept(key))
	case !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket"):
		return nil, fmt.Errorf("101 without Upgrade: websocket: %v", resp.Header)
	}
	return &wsConn{Conn: nc, br: br, resp: resp}, nil
}

// httpExchange writes req on nc and reads the response's head.
func httpExchange(t testing.TB, nc net.Conn, req []byte) (*bufio.Reader, *http.Response) {
	t.Helper()
	_ = nc.SetDeadline(deadline())
	defer nc.SetDeadline(time.Time{})
	if _, err := nc.Write(req); err != nil {
		t.Fatalf("writing the upgrade request: %v", err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the HTTP response: %v", err)
	}
	return br, resp
}

// dialWS opens a WebSocket connection to a ws:// listener at addr.
func dialWS(t testing.TB, addr string) *wsConn {
	t.Helper()
	return upgrade(t, dialRaw(t, addr), "/mqtt", "mqtt")
}

// dialWSS opens a WebSocket connection to a wss:// listener at addr.
func dialWSS(t testing.TB, addr string, pki *loomtest.PKI) *wsConn {
	t.Helper()
	return upgrade(t, dialTLS(t, addr, pki), "/mqtt", "mqtt")
}

func (c *wsConn) Read(p []byte) (int, error) {
	for len(c.pending) == 0 {
		if c.closed != 0 {
			return 0, io.EOF
		}
		f, err := readFrame(c.br)
		if err != nil {
			return 0, err
		}
		switch f.op {
		case opBinary, opContinuation:
			c.pending = f.payload
		case opPing:
			if err := c.WriteFrame(opPong, true, f.payload); err != nil {
				return 0, err
			}
		case opPong:
		case opClose:
			c.closed = f.code()
			return 0, io.EOF
		default:
			return 0, fmt.Errorf("the broker sent a frame of opcode %#x, not binary [MQTT-6.0.0-1] [MQTT-6.0.0-1 v3.1.1]", f.op)
		}
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// Write sends p as one binary frame.
func (c *wsConn) Write(p []byte) (int, error) {
	if err := c.WriteFrame(opBinary, true, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// WriteFrame sends one masked frame.
func (c *wsConn) WriteFrame(op byte, fin bool, p []byte) error {
	return c.WriteRaw(wsFrameBytes(op, fin, true, p))
}

// WriteRaw sends b on the connection as it is.
func (c *wsConn) WriteRaw(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.Conn.Write(b)
	return err
}

// NextFrame reads the broker's next frame, whatever it is.
func (c *wsConn) NextFrame(t testing.TB) frame {
	t.Helper()
	_ = c.SetReadDeadline(deadline())
	defer c.SetReadDeadline(time.Time{})
	f, err := readFrame(c.br)
	if err != nil {
		t.Fatalf("reading a frame: %v", err)
	}
	return f
}

// expectClose reads frames until the broker's close frame, requires its
// code to be want and the connection to end cleanly after it. It returns
// the MQTT bytes of the binary frames before the close.
func (c *wsConn) expectClose(t testing.TB, want int) []byte {
	t.Helper()
	var mqtt []byte
	for i := 0; ; i++ {
		if i > 1000 {
			t.Fatalf("1000 frames and no close frame")
		}
		f := c.NextFrame(t)
		if f.op == opBinary || f.op == opContinuation {
			mqtt = append(mqtt, f.payload...)
			continue
		}
		if f.op != opClose {
			t.Fatalf("frame of opcode %#x where a close frame (%d) was due", f.op, want)
		}
		if f.code() != want {
			t.Fatalf("close frame with code %d, want %d", f.code(), want)
		}
		break
	}
	if rest := readToEOF(t, c.br, c.Conn); len(rest) > 0 {
		t.Fatalf("bytes after the close frame: % x", rest)
	}
	return mqtt
}

// --- TLS ClientHello ---

// captureConn records what a TLS client writes and fails its reads: a way
// to get a real ClientHello's bytes.
type captureConn struct {
	net.Conn
	out bytes.Buffer
}

func (c *captureConn) Write(p []byte) (int, error)      { return c.out.Write(p) }
func (c *captureConn) Read([]byte) (int, error)         { return 0, io.EOF }
func (c *captureConn) Close() error                     { return nil }
func (c *captureConn) SetDeadline(time.Time) error      { return nil }
func (c *captureConn) SetReadDeadline(time.Time) error  { return nil }
func (c *captureConn) SetWriteDeadline(time.Time) error { return nil }
func (c *captureConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *captureConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }

// clientHello is the first flight of a TLS client for pki's server.
func clientHello(t testing.TB, pki *loomtest.PKI) []byte {
	t.Helper()
	cc := &captureConn{}
	_ = tls.Client(cc, pki.ClientTLS()).Handshake() // fails at the read
	if cc.out.Len() < 10 || cc.out.Bytes()[0] != 0x16 {
		t.Fatalf("no ClientHello captured: % x", cc.out.Bytes())
	}
	return cc.out.Bytes()
}

// --- PROXY protocol headers (HAProxy's spec) ---

var proxyV2Sig = []byte("\r\n\r\n\x00\r\nQUIT\n")

// proxyV1 is a v1 line for a TCP connection from src to dst.
func proxyV1(src, dst *net.TCPAddr) []byte {
	fam := "TCP4"
	if src.IP.To4() == nil {
		fam = "TCP6"
	}
	return fmt.Appendf(nil, "PROXY %s %s %s %d %d\r\n", fam, src.IP, dst.IP, src.Port, dst.Port)
}

// proxyV2 is a v2 PROXY header for a TCP connection from src to dst.
func proxyV2(src, dst *net.TCPAddr) []byte {
	b := append([]byte(nil), proxyV2Sig...)
	b = append(b, 0x21) // version 2, PROXY
	if s4, d4 := src.IP.To4(), dst.IP.To4(); s4 != nil && d4 != nil {
		b = append(b, 0x11, 0, 12) // INET, STREAM
		b = append(append(b, s4...), d4...)
	} else {
		b = append(b, 0x21, 0, 36) // INET6, STREAM
		b = append(append(b, src.IP.To16()...), dst.IP.To16()...)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(src.Port))
	return binary.BigEndian.AppendUint16(b, uint16(dst.Port))
}

// proxyV2Local is a v2 LOCAL header: the proxy's own connection (a health
// check), whose socket addresses stand.
func proxyV2Local() []byte {
	return append(append([]byte(nil), proxyV2Sig...), 0x20, 0x00, 0, 0)
}

// connectBytes is a CONNECT for id in v.
func connectBytes(v proto.Version, id string) []byte {
	p := proto.Connect{Version: v, CleanStart: true, ClientID: []byte(id), KeepAlive: 60}
	return p.Append(nil, v)
}
