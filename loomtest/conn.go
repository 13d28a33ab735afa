package loomtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/loom-mqtt/loom/proto"
)

// Conn is a hand-driven MQTT connection: packets go out as the caller
// encodes them, well-formed or not, and come in one at a time, decoded in
// the connection's version or as raw bytes. It is for what a library
// client will not send (malformed packets, a re-sent QoS 2 PUBLISH with
// the id of the caller's choosing) or does not show (reason codes, the
// exact bytes, the moment the broker closes).
//
// One goroutine reads; writes may come from several (a publisher and its
// acknowledger), and are serialized. Writes are buffered: the Send methods
// flush, the Queue ones leave the bytes for a later Flush, so that a burst
// costs one system call.
type Conn struct {
	nc   net.Conn
	v    proto.Version
	r    *bufio.Reader
	hdr  [5]byte // the fixed header of the packet last read
	body []byte  // the body of the packet last read, reused

	wmu sync.Mutex
	w   *bufio.Writer
	enc []byte // encoding scratch, guarded by wmu
}

// Dialer says how a Conn connects. The zero value dials MQTT 5 with 4 KiB
// buffers.
type Dialer struct {
	// Version is the protocol version the connection speaks; default V5.
	Version proto.Version
	// BufferSize is the size of the read and of the write buffer; default
	// 4 KiB, at least 64. A tool holding thousands of connections that only
	// connect needs far less.
	BufferSize int
	// ReceiveBuffer, when positive, is the socket receive buffer (SO_RCVBUF)
	// asked for before connecting, so that the window the kernel offers the
	// broker stays small: a client that stops reading then holds little.
	ReceiveBuffer int
	// LocalAddr is the local address to dial from; nil lets the system pick.
	LocalAddr net.Addr
	// Control, when set, runs on the socket before it connects, after
	// ReceiveBuffer is applied (as net.Dialer's Control).
	Control func(network, address string, c syscall.RawConn) error
}

// Dial connects to addr ("host:port") over TCP. It sends nothing: Connect
// does the handshake.
func (d Dialer) Dial(ctx context.Context, addr string) (*Conn, error) {
	nd := net.Dialer{LocalAddr: d.LocalAddr}
	if d.ReceiveBuffer > 0 || d.Control != nil {
		nd.Control = func(network, address string, rc syscall.RawConn) error {
			if d.ReceiveBuffer > 0 {
				var serr error
				if err := rc.Control(func(fd uintptr) {
					serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, d.ReceiveBuffer)
				}); err != nil {
					return err
				}
				if serr != nil {
					return serr
				}
			}
			if d.Control != nil {
				return d.Control(network, address, rc)
			}
			return nil
		}
	}
	nc, err := nd.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	v := d.Version
	if v == 0 {
		v = proto.V5
	}
	return newConn(nc, v, d.BufferSize), nil
}

// NewConn drives a connection opened some other way, speaking version v.
func NewConn(nc net.Conn, v proto.Version) *Conn { return newConn(nc, v, 0) }

func newConn(nc net.Conn, v proto.Version, size int) *Conn {
	if size <= 0 {
		size = 4 << 10
	}
	size = max(size, 64)
	return &Conn{nc: nc, v: v, r: bufio.NewReaderSize(nc, size), w: bufio.NewWriterSize(nc, size)}
}

// Version is the protocol version the connection speaks.
func (c *Conn) Version() proto.Version { return c.v }

// NetConn is the underlying connection, for deadlines, socket options or a
// close the broker must see as a lost connection.
func (c *Conn) NetConn() net.Conn { return c.nc }

// Close closes the connection without a DISCONNECT.
func (c *Conn) Close() error { return c.nc.Close() }

// Encode appends one packet to the write buffer through enc, which must
// append the packet's bytes to dst and return the result; with flush the
// buffer goes to the socket now. It allocates nothing, for tools that send
// many packets.
func (c *Conn) Encode(enc func(dst []byte) []byte, flush bool) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.enc = enc(c.enc[:0])
	if _, err := c.w.Write(c.enc); err != nil {
		return err
	}
	if flush {
		return c.w.Flush()
	}
	return nil
}

// Send encodes p in the connection's version and writes it now.
func (c *Conn) Send(p proto.Packet) error {
	return c.Encode(func(b []byte) []byte { return p.Append(b, c.v) }, true)
}

// Queue encodes p into the write buffer without flushing it.
func (c *Conn) Queue(p proto.Packet) error {
	return c.Encode(func(b []byte) []byte { return p.Append(b, c.v) }, false)
}

// Write sends b as it is, well-formed or not, now.
func (c *Conn) Write(b []byte) error {
	return c.Encode(func(dst []byte) []byte { return append(dst, b...) }, true)
}

// Flush sends what Queue and the unflushed Encode calls left in the buffer.
func (c *Conn) Flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.w.Flush()
}

// FlushIfIdle flushes unless more input is buffered already: a reader that
// acknowledges with QueueAck and calls this after each packet writes once
// per burst of deliveries.
func (c *Conn) FlushIfIdle() error {
	if c.r.Buffered() > 0 {
		return nil
	}
	return c.Flush()
}

// Ack sends a PUBACK, PUBREC, PUBREL or PUBCOMP with reason Success now.
func (c *Conn) Ack(typ proto.Type, id uint16) error {
	a := proto.Ack{Type: typ, PacketID: id}
	return c.Encode(func(b []byte) []byte { return a.Append(b, c.v) }, true)
}

// QueueAck is Ack without the flush.
func (c *Conn) QueueAck(typ proto.Type, id uint16) error {
	a := proto.Ack{Type: typ, PacketID: id}
	return c.Encode(func(b []byte) []byte { return a.Append(b, c.v) }, false)
}

// Buffered is the number of received bytes not yet read.
func (c *Conn) Buffered() int { return c.r.Buffered() }

// ReadFrame returns the next packet's fixed header and body, without
// decoding it; the body is valid until the next read. It sets no deadline:
// it is the read path of tools, which set their own on NetConn.
func (c *Conn) ReadFrame() (proto.FixedHeader, []byte, error) {
	h, _, body, err := c.read()
	return h, body, err
}

// read reads the next packet; hn is the length of its fixed header, kept
// in c.hdr.
func (c *Conn) read() (h proto.FixedHeader, hn int, body []byte, err error) {
	// Peek only as many bytes as the header is known to need: a PINGRESP is
	// two bytes in all, and asking for five would wait for the next packet.
	for n := 2; ; n++ {
		hdr, err := c.r.Peek(n)
		if err != nil {
			return h, 0, nil, err
		}
		h, hn, err = proto.ParseFixedHeader(hdr)
		if errors.Is(err, proto.ErrIncomplete) && n < 5 {
			continue
		}
		if err != nil {
			return h, 0, nil, fmt.Errorf("bad fixed header from the broker % x: %w", hdr, err)
		}
		copy(c.hdr[:], hdr[:hn])
		_, _ = c.r.Discard(hn)
		break
	}
	if cap(c.body) < h.Remaining {
		c.body = make([]byte, h.Remaining)
	}
	body = c.body[:h.Remaining]
	if _, err := io.ReadFull(c.r, body); err != nil {
		return h, hn, nil, err
	}
	return h, hn, body, nil
}

// Frame returns the bytes of the next whole packet, undecoded, in a slice
// of its own, so that a test can look at them as sent. It waits until
// deadline (none if zero); io.EOF means the broker closed the connection
// between packets.
func (c *Conn) Frame(deadline time.Time) ([]byte, error) {
	_ = c.nc.SetReadDeadline(deadline)
	_, hn, body, err := c.read()
	if err != nil {
		return nil, closedOr(err)
	}
	out := make([]byte, 0, hn+len(body))
	return append(append(out, c.hdr[:hn]...), body...), nil
}

// Next returns the next packet, decoded in the connection's version (it
// owns its memory). It waits until deadline (none if zero): io.EOF means
// the broker closed the connection between packets, an error wrapping
// os.ErrDeadlineExceeded that nothing came in time.
func (c *Conn) Next(deadline time.Time) (proto.Packet, error) {
	b, err := c.Frame(deadline)
	if err != nil {
		return nil, err
	}
	p, _, err := proto.Decode(b, c.v)
	if err != nil {
		return nil, fmt.Errorf("broker sent undecodable bytes % x: %w", b, err)
	}
	return p, nil
}

// closedOr turns the ways a closed connection shows into io.EOF; a
// connection closed inside a packet is an error of its own.
func closedOr(err error) error {
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("closed inside a packet: %w", err)
	case Closed(err):
		return io.EOF
	}
	return err
}

// Closed reports whether err means the peer closed the connection: the end
// of the stream, or a reset.
func Closed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}

// TimedOut reports whether err is a deadline passing, as opposed to the
// connection breaking.
func TimedOut(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// Connect sends cp in the connection's version and waits, until deadline,
// for a CONNACK. A CONNACK that refuses is returned with an error naming
// its reason code.
func (c *Conn) Connect(cp proto.Connect, deadline time.Time) (*proto.Connack, error) {
	defer c.nc.SetDeadline(time.Time{})
	_ = c.nc.SetWriteDeadline(deadline)
	cp.Version = c.v
	if err := c.Send(&cp); err != nil {
		return nil, err
	}
	ack, err := expect[*proto.Connack](c, deadline)
	if err != nil {
		return nil, fmt.Errorf("waiting for CONNACK: %w", err)
	}
	if ack.Reason != proto.Success {
		return ack, fmt.Errorf("CONNACK refused %q: reason 0x%02X", cp.ClientID, byte(ack.Reason))
	}
	return ack, nil
}

// Subscribe sends one SUBSCRIBE (packet id 1) and waits, until deadline,
// for its SUBACK; a SUBACK that refuses is returned with an error.
func (c *Conn) Subscribe(filter string, qos byte, deadline time.Time) (*proto.Suback, error) {
	defer c.nc.SetDeadline(time.Time{})
	_ = c.nc.SetWriteDeadline(deadline)
	s := proto.Subscribe{PacketID: 1, Subscriptions: []proto.Subscription{{Filter: []byte(filter), QoS: qos}}}
	if err := c.Send(&s); err != nil {
		return nil, err
	}
	ack, err := expect[*proto.Suback](c, deadline)
	if err != nil {
		return nil, fmt.Errorf("waiting for SUBACK: %w", err)
	}
	if len(ack.Reasons) != 1 || ack.Reasons[0] >= 0x80 {
		return ack, fmt.Errorf("SUBACK refused %q: reasons %v", filter, ack.Reasons)
	}
	return ack, nil
}

// expect reads the next packet, which must be a T.
func expect[T proto.Packet](c *Conn, deadline time.Time) (T, error) {
	var zero T
	p, err := c.Next(deadline)
	if err != nil {
		return zero, err
	}
	v, ok := p.(T)
	if !ok {
		return zero, fmt.Errorf("got %T %+v, want %T", p, p, zero)
	}
	return v, nil
}

// Disconnect sends DISCONNECT (Normal disconnection) and waits up to
// linger for the broker to close first, so that TIME_WAIT stays on the
// broker's side and a tool that connects again and again does not run out
// of ports. Then it closes.
// With linger 0 it closes at once.
func (c *Conn) Disconnect(linger time.Duration) {
	_ = c.nc.SetWriteDeadline(time.Now().Add(max(linger, time.Second)))
	if c.Send(&proto.Disconnect{}) == nil && linger > 0 {
		_ = c.nc.SetReadDeadline(time.Now().Add(linger))
		_, _ = io.Copy(io.Discard, c.r)
	}
	_ = c.nc.Close()
}

// Rest reads packets until the broker closes the connection, which it must
// do before deadline; it returns what came before the close.
func (c *Conn) Rest(deadline time.Time) ([]proto.Packet, error) {
	var out []proto.Packet
	for {
		p, err := c.Next(deadline)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("the broker did not close the connection (got so far: %v): %w", out, err)
		}
		out = append(out, p)
	}
}

// RestBytes reads raw bytes until the broker closes the connection, which
// it must do before deadline.
func (c *Conn) RestBytes(deadline time.Time) ([]byte, error) {
	_ = c.nc.SetReadDeadline(deadline)
	var out []byte
	var tmp [4096]byte
	for {
		n, err := c.r.Read(tmp[:])
		out = append(out, tmp[:n]...)
		if err != nil {
			if Closed(err) {
				return out, nil
			}
			return out, fmt.Errorf("the broker did not close the connection (got % x): %w", out, err)
		}
	}
}

// Quiet returns nil if nothing arrives for d, and an error saying what
// came otherwise. It suits what no later packet can order (a message held
// back by a window): a slow machine can only make it pass, never fail.
func (c *Conn) Quiet(d time.Duration) error {
	if n := c.r.Buffered(); n > 0 {
		b, _ := c.r.Peek(n)
		return fmt.Errorf("unexpected bytes % x", b)
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(d))
	b, err := c.r.Peek(1)
	if TimedOut(err) {
		return nil
	}
	return fmt.Errorf("something arrived (% x), err %v", b, err)
}
