package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// wsServer is a hand-written WebSocket server end for the tests: it
// answers the upgrade (or not, as told), then hands the connection to
// serve.
type wsServer struct {
	ln net.Listener
	// answer writes the reply to the upgrade request; nil: a correct 101.
	answer func(w io.Writer, req *http.Request)
	serve  func(t *testing.T, c net.Conn, r *bufio.Reader)
	done   chan struct{}
}

func startWSServer(t *testing.T, ln net.Listener, answer func(io.Writer, *http.Request), serve func(*testing.T, net.Conn, *bufio.Reader)) *wsServer {
	t.Helper()
	s := &wsServer{ln: ln, answer: answer, serve: serve, done: make(chan struct{})}
	t.Cleanup(func() { ln.Close(); <-s.done })
	go func() {
		defer close(s.done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			r := bufio.NewReader(c)
			req, err := http.ReadRequest(r)
			if err != nil {
				t.Errorf("server: reading the upgrade: %v", err)
				c.Close()
				continue
			}
			if s.answer != nil {
				s.answer(c, req)
			} else {
				if req.Header.Get("Sec-WebSocket-Protocol") != "mqtt" || req.Header.Get("Sec-WebSocket-Version") != "13" ||
					!strings.EqualFold(req.Header.Get("Upgrade"), "websocket") {
					t.Errorf("server: upgrade request headers %v", req.Header)
				}
				io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
					"Sec-WebSocket-Accept: "+wsAccept(req.Header.Get("Sec-WebSocket-Key"))+"\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n")
			}
			if s.serve != nil {
				s.serve(t, c, r)
			} else {
				c.Close()
			}
		}
	}()
	return s
}

// serverFrame is an unmasked frame as a server sends it.
func serverFrame(fin bool, op byte, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	b := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		b = append(b, byte(n))
	case n <= 0xFFFF:
		b = append(b, 126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, payload...)
}

// readClientFrame reads one frame from the client, checks that it is final
// and masked, and returns its opcode and unmasked payload.
func readClientFrame(r *bufio.Reader) (byte, []byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	if h[0]&0x80 == 0 || h[1]&0x80 == 0 {
		return 0, nil, errors.New("client frame not final or not masked")
	}
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var x [2]byte
		io.ReadFull(r, x[:])
		n = uint64(binary.BigEndian.Uint16(x[:]))
	case 127:
		var x [8]byte
		io.ReadFull(r, x[:])
		n = binary.BigEndian.Uint64(x[:])
	}
	var key [4]byte
	if _, err := io.ReadFull(r, key[:]); err != nil {
		return 0, nil, err
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return 0, nil, err
	}
	for i := range p {
		p[i] ^= key[i%4]
	}
	return h[0] & 0x0F, p, nil
}

func listenLoopback(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func TestWSRoundTrip(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 5000) // 80,000 bytes: a 64-bit length
	mid := bytes.Repeat([]byte{0xA5}, 300)                // a 16-bit length
	pong := make(chan []byte, 1)
	closeReply := make(chan []byte, 1)
	ln := listenLoopback(t)
	startWSServer(t, ln, nil, func(t *testing.T, c net.Conn, r *bufio.Reader) {
		defer c.Close()
		// What the client writes comes back in the server's framing: the
		// first message split over a text-free fragmented sequence with a
		// ping in the middle, the others whole.
		for _, want := range [][]byte{[]byte("hello"), mid, big} {
			op, p, err := readClientFrame(r)
			if err != nil || op != wsBinary || !bytes.Equal(p, want) {
				t.Errorf("server: got op %x, %d bytes, err %v; want a binary frame of %d bytes", op, len(p), err, len(want))
				return
			}
		}
		var out []byte
		out = append(out, serverFrame(false, wsBinary, []byte("hel"))...)
		out = append(out, serverFrame(true, wsPing, []byte("are you there"))...)
		out = append(out, serverFrame(false, wsContinuation, nil)...)
		out = append(out, serverFrame(true, wsContinuation, []byte("lo"))...)
		out = append(out, serverFrame(true, wsBinary, mid)...)
		out = append(out, serverFrame(true, wsBinary, big)...)
		out = append(out, serverFrame(true, wsClose, []byte{0x03, 0xE8, 'b', 'y', 'e'})...)
		// Dribbled out a few bytes at a time: headers split across reads.
		for i := 0; i < len(out); i += 3 {
			c.Write(out[i:min(i+3, len(out))])
			if i < 64 {
				time.Sleep(time.Millisecond)
			}
		}
		for _, ch := range []chan []byte{pong, closeReply} {
			op, p, err := readClientFrame(r)
			if err != nil {
				t.Errorf("server: %v", err)
				return
			}
			if (ch == pong && op != wsPong) || (ch == closeReply && op != wsClose) {
				t.Errorf("server: opcode %x", op)
			}
			ch <- p
		}
	})

	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ws, err := wsUpgrade(nc, ln.Addr().String(), "/mqtt", 64, time.Now().Add(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range [][]byte{[]byte("hello"), mid, big} {
		if n, err := ws.Write(p); n != len(p) || err != nil {
			t.Fatalf("Write: %d, %v", n, err)
		}
	}
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(ws) // until the close frame: io.EOF
	if err != nil {
		t.Fatalf("ReadAll: %v", err)
	}
	want := append(append([]byte("hello"), mid...), big...)
	if !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, want %d", len(got), len(want))
	}
	if p := <-pong; string(p) != "are you there" {
		t.Errorf("pong payload %q", p)
	}
	if p := <-closeReply; !bytes.Equal(p, []byte{0x03, 0xE8}) {
		t.Errorf("close reply %x, want the status 03e8", p)
	}
	if n, err := ws.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Errorf("Read after close: %d, %v", n, err)
	}
}

func TestWSReadErrors(t *testing.T) {
	tests := []struct {
		name  string
		frame []byte
		want  string
	}{
		{"masked by the server", []byte{0x82, 0x81, 1, 2, 3, 4, 'x'}, "masked"},
		{"text", serverFrame(true, wsText, []byte("hi")), "text frame"},
		{"reserved bits", []byte{0xC2, 0x00}, "reserved"},
		{"fragmented ping", serverFrame(false, wsPing, nil), "fragmented"},
		{"unknown opcode", serverFrame(true, 0x3, nil), "unknown opcode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln := listenLoopback(t)
			startWSServer(t, ln, nil, func(_ *testing.T, c net.Conn, _ *bufio.Reader) {
				c.Write(tt.frame)
				time.Sleep(100 * time.Millisecond)
				c.Close()
			})
			nc, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			ws, err := wsUpgrade(nc, ln.Addr().String(), "/mqtt", 4096, time.Now().Add(5*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			ws.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err = ws.Read(make([]byte, 10))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Read error %v, want one saying %q", err, tt.want)
			}
		})
	}
}

// A read deadline that expires halfway through a frame header loses
// nothing: the next read, with a new deadline, gets the payload.
func TestWSDeadlineInsideHeader(t *testing.T) {
	ln := listenLoopback(t)
	release := make(chan struct{})
	startWSServer(t, ln, nil, func(_ *testing.T, c net.Conn, _ *bufio.Reader) {
		f := serverFrame(true, wsBinary, bytes.Repeat([]byte{7}, 200))
		c.Write(f[:3]) // b0, 126 and half the 16-bit length
		<-release
		c.Write(f[3:])
		time.Sleep(100 * time.Millisecond)
		c.Close()
	})
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ws, err := wsUpgrade(nc, ln.Addr().String(), "/", 4096, time.Now().Add(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ws.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := ws.Read(make([]byte, 10)); !errors.Is(err, net.ErrClosed) && !isTimeout(err) {
		t.Fatalf("first Read: %v, want a timeout", err)
	}
	close(release)
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, 200)
	if _, err := io.ReadFull(ws, got); err != nil || !bytes.Equal(got, bytes.Repeat([]byte{7}, 200)) {
		t.Fatalf("after the timeout: %v, %v", err, got[:8])
	}
}

func TestWSUpgradeRefused(t *testing.T) {
	tests := []struct {
		name   string
		answer func(io.Writer, *http.Request)
		want   string
	}{
		{"404", func(w io.Writer, _ *http.Request) {
			io.WriteString(w, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
		}, "404"},
		{"wrong accept", func(w io.Writer, _ *http.Request) {
			io.WriteString(w, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
				"Sec-WebSocket-Accept: bm90IHJpZ2h0\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n")
		}, "Sec-WebSocket-Accept"},
		{"no subprotocol", func(w io.Writer, r *http.Request) {
			io.WriteString(w, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
				"Sec-WebSocket-Accept: "+wsAccept(r.Header.Get("Sec-WebSocket-Key"))+"\r\n\r\n")
		}, "subprotocol"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln := listenLoopback(t)
			startWSServer(t, ln, tt.answer, nil)
			nc, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			_, err = wsUpgrade(nc, ln.Addr().String(), "/mqtt", 4096, time.Now().Add(5*time.Second))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("upgrade error %v, want one saying %q", err, tt.want)
			}
		})
	}
}

func TestWSAccept(t *testing.T) {
	// The example of RFC 6455, section 1.3.
	if got := wsAccept("dGhlIHNhbXBsZSBub25jZQ=="); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Errorf("wsAccept = %q", got)
	}
}

func TestMaskBytes(t *testing.T) {
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	for n := range 20 {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i * 7)
		}
		orig := append([]byte(nil), b...)
		maskBytes(b, key)
		for i := range b {
			if b[i] != orig[i]^key[i%4] {
				t.Fatalf("n=%d: byte %d is %x, want %x", n, i, b[i], orig[i]^key[i%4])
			}
		}
	}
}

func TestAppendFrameHeader(t *testing.T) {
	tests := []struct {
		n    int
		want []byte
	}{
		{0, []byte{0x82, 0x80, 1, 2, 3, 4}},
		{125, []byte{0x82, 0x80 | 125, 1, 2, 3, 4}},
		{126, []byte{0x82, 0x80 | 126, 0, 126, 1, 2, 3, 4}},
		{65535, []byte{0x82, 0x80 | 126, 0xFF, 0xFF, 1, 2, 3, 4}},
		{65536, []byte{0x82, 0x80 | 127, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4}},
	}
	for _, tt := range tests {
		if got := appendFrameHeader(nil, wsBinary, tt.n, 0x01020304); !bytes.Equal(got, tt.want) {
			t.Errorf("n=%d: % x, want % x", tt.n, got, tt.want)
		}
	}
}

// Connections held open cost the tool no goroutine each: a WebSocket
// connection has none of its own.
func TestWSNoGoroutinePerConnection(t *testing.T) {
	ln := listenLoopback(t)
	var mu sync.Mutex
	var held []net.Conn
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	startWSServer(t, ln, nil, func(_ *testing.T, c net.Conn, _ *bufio.Reader) {
		mu.Lock()
		held = append(held, c)
		mu.Unlock()
	})
	before := runtime.NumGoroutine()
	var conns []net.Conn
	for range 100 {
		nc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		ws, err := wsUpgrade(nc, ln.Addr().String(), "/mqtt", 4096, time.Now().Add(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, ws)
	}
	if after := runtime.NumGoroutine(); after > before+5 {
		t.Errorf("%d goroutines for 100 idle connections, %d before", after, before)
	}
	for _, c := range conns {
		c.Close()
	}
}
