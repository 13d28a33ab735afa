package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/loom-mqtt/loom/proto"
)

// client is one raw MQTT connection. One goroutine reads; writes may come
// from two (a publisher and its pinger), so they go through wmu. Writes go
// straight to the socket: a blocked write is the broker's back-pressure, and
// an expired deadline set from another goroutine (stopWrites) ends it.
type client struct {
	nc   net.Conn
	r    *bufio.Reader
	v    proto.Version
	body []byte // reused for each packet read

	// recvMax is the Receive Maximum of a v5 CONNACK (0: none given).
	recvMax int
	// maxPacket is the Maximum Packet Size of a v5 CONNACK (0: none given).
	maxPacket int

	wmu sync.Mutex
	enc []byte // encoding scratch, guarded by wmu
}

// dialSpec says how a client connects.
type dialSpec struct {
	addr       string
	v          proto.Version
	id         string
	clean      bool // clean start / clean session
	persistent bool // v5: Session Expiry 3600 s (3.1.1: clean must be false)
	keepAlive  uint16
	// rcvBuf, when positive, is the SO_RCVBUF asked for before connecting,
	// so that the window the kernel offers the broker stays small.
	rcvBuf int
	// readBuf is the size of the client's own read buffer.
	readBuf int
}

// sessionExpiry is the v5 Session Expiry Interval of an offline hog: far
// longer than any run, finite, and removed by the tool at the end anyway.
const sessionExpiry = 3600

func dial(s dialSpec, deadline time.Time) (*client, error) {
	d := net.Dialer{Deadline: deadline}
	if s.rcvBuf > 0 {
		// Control runs before connect(), so the window scale offered in
		// the SYN already reflects the small buffer.
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, s.rcvBuf)
			}); err != nil {
				return err
			}
			return serr
		}
	}
	nc, err := d.Dial("tcp", s.addr)
	if err != nil {
		return nil, err
	}
	c := &client{nc: nc, v: s.v, r: bufio.NewReaderSize(nc, max(s.readBuf, 16))}
	conn := proto.Connect{
		ProtocolName: []byte("MQTT"),
		Version:      s.v,
		CleanStart:   s.clean,
		KeepAlive:    s.keepAlive,
		ClientID:     []byte(s.id),
	}
	if s.persistent && s.v == proto.V5 {
		conn.Props.Set(proto.PropSessionExpiry)
		conn.Props.SessionExpiry = sessionExpiry
	}
	if err := c.handshake(&conn, deadline); err != nil {
		nc.Close()
		return nil, fmt.Errorf("%s: %w", s.id, err)
	}
	return c, nil
}

func (c *client) handshake(conn *proto.Connect, deadline time.Time) error {
	c.nc.SetDeadline(deadline)
	defer c.nc.SetDeadline(time.Time{})
	if err := c.write(conn); err != nil {
		return err
	}
	h, body, err := c.read()
	if err != nil {
		return fmt.Errorf("waiting for CONNACK: %w", err)
	}
	if h.Type != proto.CONNACK {
		return fmt.Errorf("expected CONNACK, got %v", h.Type)
	}
	var ack proto.Connack
	if err := ack.Decode(h, body, c.v); err != nil {
		return fmt.Errorf("decoding CONNACK: %w", err)
	}
	if ack.Reason != proto.Success {
		return fmt.Errorf("CONNACK refused: reason 0x%02x", byte(ack.Reason))
	}
	if ack.Props.Has(proto.PropReceiveMaximum) {
		c.recvMax = int(ack.Props.ReceiveMaximum)
	}
	if ack.Props.Has(proto.PropMaximumPacketSize) {
		c.maxPacket = int(ack.Props.MaximumPacketSize)
	}
	return nil
}

// appender is any packet of package proto.
type appender interface {
	Append(dst []byte, v proto.Version) []byte
}

// write encodes p and writes it in one call.
func (c *client) write(p appender) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.enc = p.Append(c.enc[:0], c.v)
	_, err := c.nc.Write(c.enc)
	return err
}

// read returns the next packet. The body is valid until the next call.
func (c *client) read() (proto.FixedHeader, []byte, error) {
	var h proto.FixedHeader
	for n := 2; ; n++ {
		// Peek no further than the header needs: a PINGRESP is two bytes.
		hdr, err := c.r.Peek(n)
		if err != nil {
			return h, nil, err
		}
		var hn int
		h, hn, err = proto.ParseFixedHeader(hdr)
		if errors.Is(err, proto.ErrIncomplete) && n < 5 {
			continue
		}
		if err != nil {
			return h, nil, err
		}
		c.r.Discard(hn)
		break
	}
	if cap(c.body) < h.Remaining {
		c.body = make([]byte, h.Remaining)
	}
	body := c.body[:h.Remaining]
	if _, err := io.ReadFull(c.r, body); err != nil {
		return h, nil, err
	}
	return h, body, nil
}

// subscribe sends one SUBSCRIBE and waits for its SUBACK, before any reader
// goroutine runs on c. A PUBLISH that arrives first (a retained message may)
// goes to onPublish, or is dropped when that is nil.
func (c *client) subscribe(filter string, qos byte, deadline time.Time, onPublish func(*proto.Publish)) error {
	c.nc.SetDeadline(deadline)
	defer c.nc.SetDeadline(time.Time{})
	s := proto.Subscribe{PacketID: 1, Subscriptions: []proto.Subscription{{Filter: []byte(filter), QoS: qos}}}
	if err := c.write(&s); err != nil {
		return err
	}
	for {
		h, body, err := c.read()
		if err != nil {
			return fmt.Errorf("waiting for SUBACK of %q: %w", filter, err)
		}
		if h.Type == proto.PUBLISH {
			var p proto.Publish
			if err := p.Decode(h, body, c.v); err != nil {
				return fmt.Errorf("decoding PUBLISH: %w", err)
			}
			if onPublish != nil {
				onPublish(&p)
			}
			continue
		}
		if h.Type != proto.SUBACK {
			return fmt.Errorf("expected SUBACK, got %v", h.Type)
		}
		var ack proto.Suback
		if err := ack.Decode(h, body, c.v); err != nil {
			return fmt.Errorf("decoding SUBACK: %w", err)
		}
		if len(ack.Reasons) != 1 || ack.Reasons[0] >= 0x80 {
			return fmt.Errorf("SUBACK refused %q: reasons %v", filter, ack.Reasons)
		}
		return nil
	}
}

// stopWrites ends a blocked write now, and any later one at once.
func (c *client) stopWrites() { c.nc.SetWriteDeadline(time.Now()) }

// stopReads ends a blocked read now, and any later one at once.
func (c *client) stopReads() { c.nc.SetReadDeadline(time.Now()) }

// disconnect sends DISCONNECT (if the socket takes it within a second) and
// closes.
func (c *client) disconnect() {
	c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	c.write(&proto.Disconnect{})
	c.nc.Close()
}

// pinger sends PINGREQ every interval until stop is closed, so a broker that
// enforces the keep-alive sees traffic from clients that only read, or, for
// a hog, from one that never does. A ping is skipped while another write
// holds the connection (that write is traffic enough), and errors are
// ignored: the reader, or the end of the run, notices a dead connection. It
// sets no deadline of its own, so stopWrites ends a blocked ping too.
func (c *client) pinger(every time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(every)
	defer t.Stop()
	ping := proto.AppendPingreq(nil)
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if c.wmu.TryLock() {
				c.nc.Write(ping)
				c.wmu.Unlock()
			}
		}
	}
}
