package main

import (
	"context"
	"syscall"
	"time"

	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
)

// mqttConn is one client connection: a loomtest.Conn, whose reads happen
// on one goroutine (whoever calls ReadFrame) and whose writes may come from
// two (a publisher and its ack reader), with what the tool keeps of the
// CONNACK.
type mqttConn struct {
	*loomtest.Conn
	// recvMax is the broker's Receive Maximum from a v5 CONNACK (0: none
	// given): QoS 1/2 publishes we may have unacknowledged [MQTT-3.3.4-9].
	recvMax int
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

// addr is a broker address as -addr takes it (parseEndpoint): plain TCP goes
// through loomtest.Dialer, TLS and WebSocket through dialStream.
func (o dialOpts) dial(ctx context.Context, addr string, v proto.Version, clientID string, keepAlive uint16, sess sessionKind, deadline time.Time) (*mqttConn, error) {
	e, err := parseEndpoint(addr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var c *loomtest.Conn
	if e.transport == transportTCP {
		d := loomtest.Dialer{Version: v, BufferSize: max(o.bufSize, 64), ReceiveBuffer: o.rcvBuf}
		if local := srcs.local(); local != nil {
			d.LocalAddr = local
			// Control runs before the bind to LocalAddr and the connect.
			d.Control = func(_, _ string, rc syscall.RawConn) error { return noPortControl(rc) }
		}
		if c, err = d.Dial(ctx, e.hostPort); err != nil {
			return nil, err
		}
	} else {
		nc, err := o.dialStream(ctx, e, o.bufSize, deadline)
		if err != nil {
			return nil, err
		}
		// loomtest.NewConn's buffers are 4 KiB whatever o.bufSize says.
		c = loomtest.NewConn(nc, v)
	}
	ack, err := c.Connect(connectPacket(v, clientID, keepAlive, sess), deadline)
	if err != nil {
		c.Close()
		return nil, err
	}
	m := &mqttConn{Conn: c}
	if ack.Props.Has(proto.PropReceiveMaximum) {
		m.recvMax = int(ack.Props.ReceiveMaximum)
	}
	return m, nil
}
