package reactor

import (
	"crypto/tls"
	"net"
	"os"
	"sync"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// TLS on the loop, with standard crypto/tls.
//
// gnet has no TLS, and crypto/tls's handshake reads from a blocking
// net.Conn and cannot resume once a read fails (its error is sticky). So
// the handshake runs on a goroutine over an adapter (tlsConn) that the
// loop feeds: OnTraffic hands it the bytes that arrived, and what the
// handshake writes is queued and sent by the loop, woken through gnet's
// Wake — one queue, so in order. At most Options.Handshakes handshakes run
// at once; the rest wait in a queue (their bytes held, charged to the
// pre-CONNECT budget), and a handshake that stalls ends at
// Options.HandshakeTimeout (the session's connect timeout closes a client
// that never finishes, as for one that never sends CONNECT).
//
// Once the handshake is done the goroutine is gone for good. The loop then
// reads records through the same tls.Conn: the adapter's Read returns what
// gnet has buffered, or a temporary error when there is nothing, which
// crypto/tls passes up without failing the connection, keeping a partial
// record for the next read. Every record after the handshake is written on
// the owning loop (sequence numbers must go out in order); the session
// writes only there.
//
// What an idle TLS connection costs is crypto/tls's: its read and
// handshake buffers (sized by the ClientHello; it never shrinks them,
// golang/go#43563) and the cipher state, measured at 6.2 KiB of heap for
// an idle TLS 1.3 connection (../shared/reactor-notes.md). The
// alternatives measured there: a goroutine per connection in front of
// gnet costs 27.5 KiB and a goroutine each; a TLS fork of gnet is a stale
// copy of crypto/tls. See doc.go.

// maxHandshakeIn bounds what a client may send before its handshake is
// done. A ClientHello is a few hundred bytes from a small device and
// ~1.5 KiB from a client offering post-quantum key shares; the client then
// waits for the server's flight, so more is hostile or broken.
const maxHandshakeIn = 64 << 10

// wouldBlock is what the adapter's Read returns on the loop when nothing
// is buffered: crypto/tls treats a temporary net.Error as "try again".
type wouldBlock struct{}

func (wouldBlock) Error() string   { return "reactor: no TLS bytes buffered" }
func (wouldBlock) Timeout() bool   { return false }
func (wouldBlock) Temporary() bool { return true }

// tlsConn is a connection's TLS state and the net.Conn crypto/tls runs
// over.
type tlsConn struct {
	conn *tls.Conn
	t    *tconn
	srv  *Server
	hs   *handshake // until the handshake succeeds; nil after
	rest []byte     // bytes the handshake was fed past its end
	bye  bool       // close_notify sent
}

// handshake is what the loop and a handshake's goroutine share.
type handshake struct {
	mu      sync.Mutex
	in      []byte // from the client, not yet read by the handshake
	out     []byte // from the handshake, not yet sent by the loop
	kick    chan struct{}
	started bool // the loop has started (or queued) it
	woken   bool // a Wake is pending for out or done
	done    bool
	closed  bool
	err     error
	timer   *time.Timer
}

func newTLSConn(t *tconn, l *listener, srv *Server) *tlsConn {
	c := &tlsConn{t: t, srv: srv, hs: &handshake{kick: make(chan struct{}, 1)}}
	c.conn = tls.Server(c, l.conf.Load())
	return c
}

// handshake runs t's handshake stage on the loop: it feeds the goroutine
// what arrived, sends what it wrote and, once it is done, opens the
// connection. more is false when the stage is not over.
func (h *handler) handshake(c gnet.Conn, t *tconn) (a gnet.Action, more bool) {
	tc := t.tls
	hs := tc.hs
	n := c.InboundBuffered()
	hs.mu.Lock()
	if n > 0 && !hs.done {
		b, _ := c.Peek(n)
		hs.in = append(hs.in, b...)
		_, _ = c.Discard(n)
		select {
		case hs.kick <- struct{}{}:
		default:
		}
	}
	out := hs.out
	hs.out = nil
	hs.woken = false
	done, err, held := hs.done, hs.err, len(hs.in)
	hs.mu.Unlock()
	if len(out) > 0 {
		_, _ = c.Write(out)
	}
	if !done {
		if held > maxHandshakeIn || !t.cl.HoldPreConnect(held+t.in.InboundBuffered()) {
			return gnet.Close, false
		}
		if !hs.started && firstRecordIn(hs) {
			// Only a whole first record (the ClientHello) takes a
			// handshake's goroutine: a client that sends part of one and
			// stalls holds no slot, only its bytes and its connect timeout.
			hs.started = true
			h.srv.startHandshake(tc)
		}
		return gnet.None, false
	}
	if err != nil {
		h.srv.TLSFailed.Add(1)
		h.debug(t, "TLS handshake", err)
		return gnet.Close, false
	}
	tc.hs = nil                // the handshake succeeded: records flow on the loop
	releaseTLSBuffers(tc.conn) // the ClientHello's buffers (tlsinternal.go)
	if len(hs.in) > 0 {
		// Records the client sent behind its Finished: read first. Copied,
		// so the handshake's buffer is not kept for them.
		tc.rest = append([]byte(nil), hs.in...)
	}
	if src := t.l.Username; src != "" {
		t.identity = certUsername(tc.conn.ConnectionState(), src)
	}
	t.stage = t.next(stageHandshake)
	t.cl.ConnectWithin(h.srv.broker.ConnectTimeout()) // the handshake's deadline is over
	return gnet.None, true
}

// firstRecordIn reports whether the handshake's input holds a whole TLS
// record (a 5-byte header and the length it gives), or bytes that cannot
// begin one — those the handshake refuses at once.
func firstRecordIn(hs *handshake) bool {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if len(hs.in) > 0 && hs.in[0] != 0x16 { // not a handshake record
		return true
	}
	if len(hs.in) < 5 {
		return false
	}
	return len(hs.in) >= 5+(int(hs.in[3])<<8|int(hs.in[4]))
}

// startHandshake runs c's handshake on a goroutine, or queues it while
// Options.Handshakes are running.
func (s *Server) startHandshake(c *tlsConn) {
	s.hsMu.Lock()
	if s.hsRunning >= s.opts.Handshakes {
		s.hsQueue = append(s.hsQueue, c)
		s.hsMu.Unlock()
		return
	}
	s.hsRunning++
	s.hsMu.Unlock()
	go s.handshakes(c)
}

// handshakesFull reports whether a new handshake would wait for one of
// Options.Handshakes to end.
func (s *Server) handshakesFull() bool {
	s.hsMu.Lock()
	defer s.hsMu.Unlock()
	return s.hsRunning >= s.opts.Handshakes
}

// handshakes runs c's handshake, then those queued, until none waits.
func (s *Server) handshakes(c *tlsConn) {
	for c != nil {
		c.run(s.opts.HandshakeTimeout)
		s.hsMu.Lock()
		c = nil
		if len(s.hsQueue) > 0 {
			c = s.hsQueue[0]
			s.hsQueue[0] = nil
			s.hsQueue = s.hsQueue[1:]
			if len(s.hsQueue) == 0 {
				s.hsQueue = nil
			}
		} else {
			s.hsRunning--
		}
		s.hsMu.Unlock()
	}
}

// run is the handshake, on its goroutine.
func (c *tlsConn) run(timeout time.Duration) {
	hs := c.hs
	hs.mu.Lock()
	closed := hs.closed
	hs.mu.Unlock()
	var err error
	if closed {
		err = net.ErrClosed
	} else {
		hs.timer = time.NewTimer(timeout)
		err = c.conn.Handshake()
		hs.timer.Stop()
	}
	hs.mu.Lock()
	hs.done, hs.err = true, err
	wake := !hs.woken && !hs.closed
	hs.woken = true
	hs.mu.Unlock()
	if wake {
		_ = c.t.Conn.Wake(nil)
	}
}

// held is what the handshake holds of the client's bytes.
func (c *tlsConn) held() int {
	if hs := c.hs; hs != nil {
		hs.mu.Lock()
		defer hs.mu.Unlock()
		return len(hs.in)
	}
	return len(c.rest)
}

// closed ends a handshake under way: its reads fail.
func (c *tlsConn) closed() {
	if hs := c.hs; hs != nil {
		hs.mu.Lock()
		hs.closed = true
		hs.in = nil
		hs.mu.Unlock()
		select {
		case hs.kick <- struct{}{}:
		default:
		}
	}
}

// read decrypts every whole record buffered into dst, on the loop.
func (c *tlsConn) read(dst *plainBuf) error {
	defer func() {
		if dst.InboundBuffered() == 0 {
			dst.release() // nothing decrypted: no buffer held
		}
		releaseTLSBuffers(c.conn) // tlsinternal.go
	}()
	for {
		n, err := c.conn.Read(dst.room(4 << 10))
		dst.b.B = dst.b.B[:len(dst.b.B)+n]
		if err != nil {
			c.flush() // an alert, a KeyUpdate's answer
			if _, ok := err.(wouldBlock); ok {
				return nil
			}
			return err
		}
	}
}

// write sends a and b in TLS records, on the loop: one record for both
// when they fit, and one write to the socket for all the records.
func (c *tlsConn) write(a, b []byte) error {
	if c.hs != nil || c.bye { // no handshake done, or closed
		return net.ErrClosed
	}
	var err error
	if len(b) == 0 {
		_, err = c.conn.Write(a)
	} else {
		buf := append(append(c.t.ls.plainOut[:0], a...), b...)
		_, err = c.conn.Write(buf)
		c.t.ls.plainOut = buf[:0]
		if cap(buf) > 64<<10 {
			c.t.ls.plainOut = nil // one large write must not stay held
		}
	}
	c.flush()
	return err
}

// flush sends the records crypto/tls wrote into the loop's buffer.
func (c *tlsConn) flush() {
	ls := c.t.ls
	if len(ls.tlsOut) == 0 {
		return
	}
	_, _ = c.t.Conn.Write(ls.tlsOut)
	ls.tlsOut = ls.tlsOut[:0]
	if cap(ls.tlsOut) > 256<<10 {
		ls.tlsOut = nil
	}
}

// closeNotify sends TLS's close_notify alert once, on the loop.
func (c *tlsConn) closeNotify() {
	if c.hs != nil || c.bye { // no handshake done, or closed
		return
	}
	c.bye = true
	_ = c.conn.CloseWrite()
	c.flush()
}

// Read is crypto/tls's read: from the handshake's feed on its goroutine,
// then on the loop from what the handshake was fed past its end and from
// gnet's buffer.
func (c *tlsConn) Read(p []byte) (int, error) {
	if hs := c.hs; hs != nil {
		return hs.read(p)
	}
	if len(c.rest) > 0 {
		n := copy(p, c.rest)
		c.rest = c.rest[n:]
		if len(c.rest) == 0 {
			c.rest = nil
		}
		return n, nil
	}
	raw := c.t.Conn
	n := min(raw.InboundBuffered(), len(p))
	if n == 0 {
		return 0, wouldBlock{}
	}
	b, _ := raw.Peek(n)
	copy(p, b)
	_, _ = raw.Discard(n)
	return n, nil
}

// read waits for the loop to feed the handshake.
func (hs *handshake) read(p []byte) (int, error) {
	for {
		hs.mu.Lock()
		if len(hs.in) > 0 {
			n := copy(p, hs.in)
			hs.in = hs.in[n:]
			hs.mu.Unlock()
			return n, nil
		}
		closed := hs.closed
		hs.mu.Unlock()
		if closed {
			return 0, net.ErrClosed
		}
		select {
		case <-hs.kick:
		case <-hs.timer.C:
			return 0, os.ErrDeadlineExceeded
		}
	}
}

// Write is crypto/tls's write: queued for the loop during the handshake,
// then into the loop's buffer, which flush sends.
func (c *tlsConn) Write(p []byte) (int, error) {
	if hs := c.hs; hs != nil {
		hs.mu.Lock()
		if hs.closed {
			hs.mu.Unlock()
			return 0, net.ErrClosed
		}
		hs.out = append(hs.out, p...)
		wake := !hs.woken
		hs.woken = true
		hs.mu.Unlock()
		if wake {
			_ = c.t.Conn.Wake(nil)
		}
		return len(p), nil
	}
	c.t.ls.tlsOut = append(c.t.ls.tlsOut, p...)
	return len(p), nil
}

// Close is never called by the reactor: the loop closes the socket.
func (c *tlsConn) Close() error                     { return nil }
func (c *tlsConn) LocalAddr() net.Addr              { return c.t.Conn.LocalAddr() }
func (c *tlsConn) RemoteAddr() net.Addr             { return c.t.RemoteAddr() }
func (c *tlsConn) SetDeadline(time.Time) error      { return nil }
func (c *tlsConn) SetReadDeadline(time.Time) error  { return nil }
func (c *tlsConn) SetWriteDeadline(time.Time) error { return nil }

// certUsername is the username a verified client certificate gives:
// its common name, or its first DNS name (else e-mail address, else URI).
func certUsername(st tls.ConnectionState, src string) string {
	if len(st.VerifiedChains) == 0 || len(st.PeerCertificates) == 0 {
		return ""
	}
	cert := st.PeerCertificates[0]
	if src == UsernameCN {
		return cert.Subject.CommonName
	}
	switch {
	case len(cert.DNSNames) > 0:
		return cert.DNSNames[0]
	case len(cert.EmailAddresses) > 0:
		return cert.EmailAddresses[0]
	case len(cert.URIs) > 0:
		return cert.URIs[0].String()
	}
	return ""
}
