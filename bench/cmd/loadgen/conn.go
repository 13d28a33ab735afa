package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/loom-mqtt/loom/proto"
)

// mqttConn is one client connection. Reads happen on one goroutine (whoever
// calls readPacket); writes may come from two (a publisher and its ack
// reader), so they go through wmu.
type mqttConn struct {
	nc   net.Conn
	r    *bufio.Reader
	v    proto.Version
	body []byte // reused for each packet read

	// recvMax is the broker's Receive Maximum from a v5 CONNACK (0: none
	// given): QoS 1/2 publishes we may have unacknowledged [MQTT-3.3.4-9].
	recvMax int

	wmu sync.Mutex
	w   *bufio.Writer
	enc []byte // encoding scratch, guarded by wmu
}

// dialMQTT connects, sends CONNECT and waits for a successful CONNACK, all
// before deadline. sess says whether the broker keeps the session once the
// connection ends.
func dialMQTT(ctx context.Context, addr string, v proto.Version, clientID string, keepAlive uint16, sess sessionKind, deadline time.Time) (*mqttConn, error) {
	return dialOpts{bufSize: 4096}.dial(ctx, addr, v, clientID, keepAlive, sess, deadline)
}

// dialOpts tune a connection for modes that hold very many of them or one
// peculiar one.
type dialOpts struct {
	// bufSize is the size of the read and the write buffer (at least 64):
	// a storm of 19,000 clients that only connect needs far less than 4 KiB.
	bufSize int
	// rcvBuf, when positive, asks the kernel for this socket receive buffer
	// before connecting, so that a client that never reads fills it soon.
	rcvBuf int
}

func (o dialOpts) dial(ctx context.Context, addr string, v proto.Version, clientID string, keepAlive uint16, sess sessionKind, deadline time.Time) (*mqttConn, error) {
	d := net.Dialer{Deadline: deadline}
	local := srcs.local()
	if local != nil {
		d.LocalAddr = local
	}
	if o.rcvBuf > 0 || local != nil {
		// Control runs before the bind to LocalAddr and the connect.
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			if local != nil {
				if err := noPortControl(rc); err != nil {
					return err
				}
			}
			if o.rcvBuf <= 0 {
				return nil
			}
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, o.rcvBuf)
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	size := max(o.bufSize, 64)
	m := &mqttConn{nc: nc, v: v, r: bufio.NewReaderSize(nc, size), w: bufio.NewWriterSize(nc, size)}
	if err := m.handshake(connectPacket(v, clientID, keepAlive, sess), deadline); err != nil {
		nc.Close()
		return nil, err
	}
	return m, nil
}

func (m *mqttConn) handshake(c proto.Connect, deadline time.Time) error {
	m.nc.SetDeadline(deadline)
	defer m.nc.SetDeadline(time.Time{})
	if err := m.send(func(b []byte) []byte { return c.Append(b, m.v) }, true); err != nil {
		return err
	}
	h, body, err := m.readPacket()
	if err != nil {
		return fmt.Errorf("waiting for CONNACK: %w", err)
	}
	if h.Type != proto.CONNACK {
		return fmt.Errorf("expected CONNACK, got %v", h.Type)
	}
	var ack proto.Connack
	if err := ack.Decode(h, body, m.v); err != nil {
		return fmt.Errorf("decoding CONNACK: %w", err)
	}
	if ack.Reason != proto.Success {
		return fmt.Errorf("CONNACK refused: reason 0x%02x", byte(ack.Reason))
	}
	if ack.Props.Has(proto.PropReceiveMaximum) {
		m.recvMax = int(ack.Props.ReceiveMaximum)
	}
	return nil
}

// send encodes one packet with enc and writes it; flush pushes it to the
// socket now rather than when the buffer fills.
func (m *mqttConn) send(enc func([]byte) []byte, flush bool) error {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	m.enc = enc(m.enc[:0])
	if _, err := m.w.Write(m.enc); err != nil {
		return err
	}
	if flush {
		return m.w.Flush()
	}
	return nil
}

func (m *mqttConn) flush() error {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	return m.w.Flush()
}

// readPacket returns the next packet's header and body. The body is valid
// until the next call.
func (m *mqttConn) readPacket() (proto.FixedHeader, []byte, error) {
	// Peek only as many bytes as the header is known to need: a PINGRESP is
	// two bytes in all, and asking for five would wait for the next packet.
	var h proto.FixedHeader
	for n := 2; ; n++ {
		hdr, err := m.r.Peek(n)
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
		m.r.Discard(hn)
		break
	}
	if cap(m.body) < h.Remaining {
		m.body = make([]byte, h.Remaining)
	}
	body := m.body[:h.Remaining]
	if _, err := io.ReadFull(m.r, body); err != nil {
		return h, nil, err
	}
	return h, body, nil
}

// subscribe sends one SUBSCRIBE and waits for a SUBACK granting it. Call it
// before any reader goroutine starts on m.
func (m *mqttConn) subscribe(filter string, qos byte, deadline time.Time) error {
	m.nc.SetDeadline(deadline)
	defer m.nc.SetDeadline(time.Time{})
	s := proto.Subscribe{PacketID: 1, Subscriptions: []proto.Subscription{{Filter: []byte(filter), QoS: qos}}}
	if err := m.send(func(b []byte) []byte { return s.Append(b, m.v) }, true); err != nil {
		return err
	}
	h, body, err := m.readPacket()
	if err != nil {
		return fmt.Errorf("waiting for SUBACK: %w", err)
	}
	if h.Type != proto.SUBACK {
		return fmt.Errorf("expected SUBACK, got %v", h.Type)
	}
	var ack proto.Suback
	if err := ack.Decode(h, body, m.v); err != nil {
		return fmt.Errorf("decoding SUBACK: %w", err)
	}
	if len(ack.Reasons) != 1 || ack.Reasons[0] >= 0x80 {
		return fmt.Errorf("SUBACK refused %q: reasons %v", filter, ack.Reasons)
	}
	return nil
}

// ack sends PUBACK, PUBREC, PUBREL or PUBCOMP without flushing: the reader
// flushes once its input runs dry, so a burst of deliveries costs one write.
func (m *mqttConn) ack(t proto.Type, id uint16) error {
	a := proto.Ack{Type: t, PacketID: id}
	return m.send(func(b []byte) []byte { return a.Append(b, m.v) }, false)
}

// flushIfIdle flushes when no more input is already buffered.
func (m *mqttConn) flushIfIdle() error {
	if m.r.Buffered() > 0 {
		return nil
	}
	return m.flush()
}

// disconnect sends DISCONNECT and waits (up to linger) for the broker to
// close first, so the TIME_WAIT state stays on the broker's side and repeated
// runs do not exhaust the tool's ephemeral ports. Then it closes.
func (m *mqttConn) disconnect(linger time.Duration) {
	var d proto.Disconnect
	m.nc.SetWriteDeadline(time.Now().Add(linger))
	if m.send(func(b []byte) []byte { return d.Append(b, m.v) }, true) == nil && linger > 0 {
		m.nc.SetReadDeadline(time.Now().Add(linger))
		io.Copy(io.Discard, m.nc)
	}
	m.nc.Close()
}
