package reactor

import (
	"io"
	"net"

	"github.com/panjf2000/gnet/v2"
	"github.com/valyala/bytebufferpool"

	"github.com/loom-mqtt/loom/session"
)

// Transports: TLS, WebSocket and the PROXY protocol, on the loop.
//
// The framing loop (traffic.go) reads MQTT bytes from a stream. A plain
// TCP or Unix connection is its own stream: the framing loop peeks gnet's
// buffer directly and a partial packet waits there, as before transports
// existed. Every other connection is a tconn: its gnet context, and the
// session's Conn. It unwraps what arrives, in front of the framing loop
// and on the loop, through the stages its listener asks for —
//
//	PROXY header → TLS handshake → WebSocket upgrade → open
//
// — and once open turns TLS records (tls.go) and WebSocket frames
// (ws.go) into MQTT bytes in its own buffer, which the framing loop reads
// as it reads gnet's. What the broker writes goes back through the same
// layers (a frame header, a TLS record) on the loop, in order.
//
// No goroutine runs for an open connection. The one exception is a TLS
// handshake: crypto/tls only handshakes over a blocking reader, so a
// handshake runs on a goroutine of its own, fed by the loop, among at most
// Options.Handshakes at once (tls.go). An idle connection holds no buffer
// of the transport's: the unwrapped bytes' buffer goes back to a pool when
// the framing loop has taken everything in it.

// stream is what the framing loop reads MQTT bytes from: gnet.Conn
// itself, or a tconn's buffer of unwrapped bytes.
type stream interface {
	InboundBuffered() int
	Peek(n int) ([]byte, error)
	Discard(n int) (int, error)
}

// stage is how far a tconn has come towards carrying MQTT.
type stage uint8

const (
	stageProxy     stage = iota // waiting for the PROXY header
	stageHandshake              // TLS handshake under way
	stageUpgrade                // waiting for the WebSocket upgrade request
	stageOpen                   // MQTT flows
)

// tconn is a connection with a transport in front of MQTT.
type tconn struct {
	gnet.Conn // the socket; session.Conn's Write and Close are tconn's own
	cl        *session.Client
	l         *listener
	ls        *loopState
	stage     stage
	wsClosed  bool     // a close frame went out: nothing more may
	remote    net.Addr // the client's address from a PROXY header
	tls       *tlsConn
	ws        *wsReader
	mid       plainBuf // wss: TLS plaintext, WebSocket frames still on
	in        plainBuf // MQTT bytes for the framing loop
	identity  string   // the username its client certificate gives
	// endCode, once set, ends the connection with a WebSocket close frame
	// of this code after the packets unwrapped before it are handled.
	endCode uint16
}

// newTconn makes the transport state of a connection on l.
func newTconn(c gnet.Conn, l *listener, ls *loopState, srv *Server) *tconn {
	t := &tconn{Conn: c, l: l, ls: ls}
	switch {
	case l.Proxy:
		t.stage = stageProxy
	case l.kind.tls():
		t.stage = stageHandshake
	case l.kind.ws():
		t.stage = stageUpgrade
	default:
		t.stage = stageOpen
	}
	if l.kind.tls() {
		t.tls = newTLSConn(t, l, srv)
	}
	if l.kind.ws() {
		t.ws = &wsReader{}
	}
	return t
}

// clientOf is the session client of a gnet connection, with or without a
// transport; nil for none.
func clientOf(c gnet.Conn) *session.Client {
	switch x := c.Context().(type) {
	case *session.Client:
		return x
	case *tconn:
		return x.cl
	}
	return nil
}

// next is the stage after s for t's listener.
func (t *tconn) next(s stage) stage {
	switch {
	case s < stageHandshake && t.l.kind.tls():
		return stageHandshake
	case s < stageUpgrade && t.l.kind.ws():
		return stageUpgrade
	}
	return stageOpen
}

// framed reports whether writes go out in WebSocket frames: the upgrade
// is done.
func (t *tconn) framed() bool { return t.ws != nil && t.stage == stageOpen }

// RemoteAddr is the client's address: the PROXY header's when there was
// one, so logs, hooks and ACL rules see the device, not the balancer.
func (t *tconn) RemoteAddr() net.Addr {
	if t.remote != nil {
		return t.remote
	}
	return t.Conn.RemoteAddr()
}

// CertUsername is the username the client's certificate gives it ("" for
// none): the session takes it instead of CONNECT's.
func (t *tconn) CertUsername() string { return t.identity }

// Write sends MQTT bytes to the client through the transport. It runs on
// the loop, as every session write does.
func (t *tconn) Write(b []byte) (int, error) {
	if t.framed() {
		if t.wsClosed {
			return 0, net.ErrClosed
		}
		hdr := appendFrameHeader(t.ls.hdr[:0], wsBinary, len(b))
		return len(b), t.writeWire(hdr, b)
	}
	return len(b), t.writeWire(b, nil)
}

// writeWire sends a and then b below the WebSocket layer: in TLS records
// when the listener has TLS, else on the socket.
func (t *tconn) writeWire(a, b []byte) error {
	if t.tls != nil {
		return t.tls.write(a, b)
	}
	if len(b) == 0 {
		_, err := t.Conn.Write(a)
		return err
	}
	vec := append(t.ls.vec[:0], a, b)
	_, err := t.Conn.Writev(vec)
	clear(vec)
	return err
}

// CloseWrite says goodbye at the transport's level — a WebSocket close
// frame, TLS's close_notify — and shuts the socket's write side: the
// session's linger (session/linger.go) calls it once its last packet is
// out.
func (t *tconn) CloseWrite() error {
	t.farewell(wsCloseNormal)
	return shutdownWrite(t.Conn.Fd())
}

// Close closes the connection after the transport's goodbye.
func (t *tconn) Close() error {
	t.farewell(wsCloseNormal)
	return t.Conn.Close()
}

// farewell sends a WebSocket close frame with code, once, and TLS's
// close_notify, when they apply. It runs on the loop.
func (t *tconn) farewell(code uint16) {
	if t.framed() && !t.wsClosed {
		t.wsClosed = true
		_ = t.writeWire(appendCloseFrame(t.ls.hdr[:0], code), nil)
	}
	if t.tls != nil {
		t.tls.closeNotify()
	}
}

// unwrap moves what arrived on c through t's stages into t.in. It returns
// gnet.Close when the connection must end now; a refusal that speaks HTTP
// or WebSocket has been written (and the session lingers, when it can).
func (h *handler) unwrap(c gnet.Conn, t *tconn) gnet.Action {
	for {
		switch t.stage {
		case stageProxy:
			if a, more := h.readProxy(c, t); !more {
				return a
			}
		case stageHandshake:
			if a, more := h.handshake(c, t); !more {
				return a
			}
		case stageUpgrade:
			if a, more := h.upgrade(c, t); !more {
				return a
			}
		case stageOpen:
			return h.readOpen(c, t)
		}
	}
}

// readOpen unwraps what an open connection sent: TLS records, then
// WebSocket frames.
func (h *handler) readOpen(c gnet.Conn, t *tconn) gnet.Action {
	if t.tls == nil && t.ws == nil {
		// PROXY header only: MQTT follows on the socket. Move it (one
		// copy, as TLS and WebSocket make) so the framing loop has one
		// stream per connection.
		if n := c.InboundBuffered(); n > 0 {
			b, _ := c.Peek(n)
			t.in.append(b)
			_, _ = c.Discard(n)
		}
		return gnet.None
	}
	src := stream(c)
	if t.tls != nil {
		dst := &t.in
		if t.ws != nil {
			dst = &t.mid
		}
		if err := t.tls.read(dst); err != nil {
			h.debug(t, "TLS read", err)
			return gnet.Close
		}
		src = &t.mid
	}
	if t.ws != nil {
		return h.readFrames(src, t)
	}
	return gnet.None
}

// transportHeld is what t holds for its client beyond t.in: bytes not yet
// unwrapped, charged to the pre-CONNECT budget with t.in.
func (t *tconn) transportHeld() int {
	n := t.Conn.InboundBuffered() + t.mid.InboundBuffered()
	if t.tls != nil {
		n += t.tls.held()
	}
	return n
}

// closed releases what t holds; the connection has closed.
func (t *tconn) closed() {
	t.in.release()
	t.mid.release()
	if t.tls != nil {
		t.tls.closed()
	}
}

// debug logs why a transport ended a connection, at debug level: a
// hostile or broken client must not be able to fill the log.
func (h *handler) debug(t *tconn, what string, err error) {
	if err == io.EOF {
		return
	}
	h.srv.log.Debug("reactor: "+what, "listener", t.l.ID, "remote", t.RemoteAddr().String(), "err", err)
}

// plainPool holds the buffers of unwrapped bytes; a connection keeps one
// only while it has bytes in it.
var plainPool bytebufferpool.Pool

// plainBuf is a stream over unwrapped bytes. It belongs to one connection
// and is used on its loop only.
type plainBuf struct {
	b   *bytebufferpool.ByteBuffer
	off int
}

func (p *plainBuf) InboundBuffered() int {
	if p.b == nil {
		return 0
	}
	return len(p.b.B) - p.off
}

func (p *plainBuf) Peek(n int) ([]byte, error) {
	have := p.InboundBuffered()
	if n > have {
		return nil, io.ErrShortBuffer
	}
	if n <= 0 {
		n = have
	}
	if n == 0 {
		return nil, nil
	}
	return p.b.B[p.off : p.off+n : p.off+n], nil
}

func (p *plainBuf) Discard(n int) (int, error) {
	have := p.InboundBuffered()
	if n <= 0 || n >= have {
		p.release()
		return have, nil
	}
	p.off += n
	return n, nil
}

// release gives the buffer back to the pool.
func (p *plainBuf) release() {
	if p.b != nil {
		p.b.Reset()
		plainPool.Put(p.b)
		p.b, p.off = nil, 0
	}
}

// tail is the buffer's bytes from its start, for appending to (compacted:
// what was discarded is gone). Set it back with setTail.
func (p *plainBuf) tail() []byte {
	if p.b == nil {
		p.b = plainPool.Get()
	}
	if p.off > 0 {
		n := copy(p.b.B, p.b.B[p.off:])
		p.b.B, p.off = p.b.B[:n], 0
	}
	return p.b.B
}

// setTail keeps b, tail's slice appended to, as the buffer's bytes; an
// empty buffer goes back to the pool.
func (p *plainBuf) setTail(b []byte) {
	p.b.B = b
	if len(b) == 0 {
		p.release()
	}
}

// room returns at least n bytes of free space after the buffer's bytes;
// wrote(k) keeps k of them.
func (p *plainBuf) room(n int) []byte {
	b := p.tail()
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), len(b)+max(n, len(b)))
		copy(nb, b)
		p.b.B = nb
		b = nb
	}
	return b[len(b):cap(b)]
}

func (p *plainBuf) wrote(k int) { p.setTail(p.b.B[:len(p.b.B)+k]) }

func (p *plainBuf) append(b []byte) { p.setTail(append(p.tail(), b...)) }

// readProxy reads the PROXY header every connection on a Proxy listener
// starts with; a connection without one is closed.
func (h *handler) readProxy(c gnet.Conn, t *tconn) (gnet.Action, bool) {
	n := c.InboundBuffered()
	if n == 0 {
		return gnet.None, false
	}
	b, _ := c.Peek(min(n, maxProxyHeader))
	k, src, _, err := parseProxy(b)
	if err != nil {
		h.srv.ProxyRefused.Add(1)
		h.debug(t, "PROXY header", err)
		return gnet.Close, false
	}
	if k == 0 {
		if n >= maxProxyHeader || !t.cl.HoldPreConnect(n) {
			return gnet.Close, false
		}
		return gnet.None, false
	}
	_, _ = c.Discard(k)
	if src != nil {
		t.remote = src
	}
	t.stage = t.next(stageProxy)
	return gnet.None, true
}

// drop forgets what t had unwrapped and not framed: the session has said
// its last word.
func (t *tconn) drop() {
	t.in.release()
	t.mid.release()
}
