package reactor

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/session"
)

func startServer(t *testing.T, opts session.Options, listeners ...Listener) (*Server, string) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	opts.Logger = log
	b := session.NewBroker(opts)
	if len(listeners) == 0 {
		listeners = []Listener{{Address: "tcp://127.0.0.1:0"}}
	}
	s := New(b, Options{Listeners: listeners, Loops: 2, Logger: log})
	require.NoError(t, s.Start())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, s.Stop(ctx))
		b.Close()
	})
	return s, s.Addrs()[0].String()
}

// readPacket reads one whole packet from r.
func readPacket(t *testing.T, c net.Conn, r *bufio.Reader) proto.Packet {
	t.Helper()
	p, err := readPacketErr(c, r)
	require.NoError(t, err)
	return p
}

// TestFramingByteByByte sends packets one byte per write: each partial
// packet must wait in gnet's buffer and be decoded once whole.
func TestFramingByteByByte(t *testing.T) {
	_, addr := startServer(t, session.Options{})
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	c.(*net.TCPConn).SetNoDelay(true)
	r := bufio.NewReader(c)

	var wire []byte
	wire = (&proto.Connect{Version: proto.V311, CleanStart: true, KeepAlive: 30, ClientID: []byte("bytes")}).Append(wire, proto.V311)
	wire = (&proto.Subscribe{PacketID: 1, Subscriptions: []proto.Subscription{{Filter: []byte("t/#"), QoS: 1}}}).Append(wire, proto.V311)
	wire = (&proto.Publish{QoS: 1, PacketID: 2, Topic: []byte("t/1"), Payload: make([]byte, 300)}).Append(wire, proto.V311)
	for _, b := range wire {
		_, err := c.Write([]byte{b})
		require.NoError(t, err)
		time.Sleep(200 * time.Microsecond)
	}
	require.IsType(t, &proto.Connack{}, readPacket(t, c, r))
	require.IsType(t, &proto.Suback{}, readPacket(t, c, r))
	// PUBACK for our publish and the delivery of it come in either order.
	var gotAck, gotPub bool
	for range 2 {
		switch p := readPacket(t, c, r).(type) {
		case *proto.Ack:
			require.Equal(t, proto.PUBACK, p.Type)
			require.Equal(t, uint16(2), p.PacketID)
			gotAck = true
		case *proto.Publish:
			require.Equal(t, "t/1", string(p.Topic))
			require.Len(t, p.Payload, 300)
			gotPub = true
		}
	}
	require.True(t, gotAck && gotPub)
}

// TestFramingManyPacketsOneWrite sends a burst of packets in a single
// write: every one must be handled, not only the first of the read.
func TestFramingManyPacketsOneWrite(t *testing.T) {
	_, addr := startServer(t, session.Options{})
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	r := bufio.NewReader(c)

	wire := (&proto.Connect{Version: proto.V311, CleanStart: true, ClientID: []byte("burst")}).Append(nil, proto.V311)
	const n = 500
	for i := range n {
		wire = (&proto.Publish{QoS: 1, PacketID: uint16(i + 1), Topic: []byte("b"), Payload: []byte("x")}).Append(wire, proto.V311)
	}
	_, err = c.Write(wire)
	require.NoError(t, err)
	require.IsType(t, &proto.Connack{}, readPacket(t, c, r))
	for i := range n {
		a, ok := readPacket(t, c, r).(*proto.Ack)
		require.True(t, ok)
		require.Equal(t, uint16(i+1), a.PacketID)
	}
}

// TestOversizedHeaderClosesBeforeBody checks that a packet announcing more
// than MaxPacketSize is refused from its header alone.
func TestOversizedHeaderClosesBeforeBody(t *testing.T) {
	_, addr := startServer(t, session.Options{MaxPacketSize: 1024})
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write(proto.AppendFixedHeader(nil, proto.CONNECT, 0, 1<<20))
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = c.Read(make([]byte, 16))
	require.ErrorIs(t, err, io.EOF)
}

// TestStopIsClean checks that Stop ends the engine with nil on Done, and
// that connections are closed.
func TestStopIsClean(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	b := session.NewBroker(session.Options{Logger: log})
	defer b.Close()
	s := New(b, Options{Listeners: []Listener{{Address: "tcp://127.0.0.1:0"}}, Logger: log})
	require.NoError(t, s.Start())
	c, err := net.Dial("tcp", s.Addrs()[0].String())
	require.NoError(t, err)
	defer c.Close()
	require.Eventually(t, func() bool { return s.Connections() == 1 }, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, s.Stop(t.Context()))
	select {
	case err := <-s.Done():
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("engine did not end")
	}
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = c.Read(make([]byte, 1))
	require.Error(t, err)
}
