package reactor

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/session"
)

// dialV311 connects a raw 3.1.1 client and reads its CONNACK.
func dialV311(t *testing.T, addr, id string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	_, err = c.Write((&proto.Connect{Version: proto.V311, CleanStart: true, KeepAlive: 60, ClientID: []byte(id)}).Append(nil, proto.V311))
	require.NoError(t, err)
	r := bufio.NewReaderSize(c, 1<<16)
	require.IsType(t, &proto.Connack{}, readPacket(t, c, r))
	return c, r
}

// subscribeV311 subscribes a raw 3.1.1 client to filter at QoS 0.
func subscribeV311(t *testing.T, c net.Conn, r *bufio.Reader, filter string) {
	t.Helper()
	_, err := c.Write((&proto.Subscribe{PacketID: 1, Subscriptions: []proto.Subscription{{Filter: []byte(filter)}}}).Append(nil, proto.V311))
	require.NoError(t, err)
	require.IsType(t, &proto.Suback{}, readPacket(t, c, r))
}

// A publisher that outruns the broker is paused while the routing backlog
// is over Options.IngestBacklog and read again once it falls: every
// message still arrives, in order [MQTT-4.6.0-6], and the pauses are
// counted.
func TestPublisherPausedWhileBacklogged(t *testing.T) {
	s, addr := startServer(t, session.Options{IngestBacklog: 32})
	pausedPublisher(t, s, addr, addr, nil)
}

// The same for a publisher with a transport in front of MQTT (here the
// PROXY protocol; TLS and WebSocket connections are the same tconn): it
// is resumed too. It was not, once: its messages stayed unread.
func TestTransportPublisherPausedWhileBacklogged(t *testing.T) {
	s, addr := startServer(t, session.Options{IngestBacklog: 32},
		Listener{Address: "tcp://127.0.0.1:0"}, Listener{Address: "tcp://127.0.0.1:0", Proxy: true})
	pausedPublisher(t, s, addr, s.Addrs()[1].String(), []byte("PROXY TCP4 192.0.2.1 192.0.2.2 50000 1883\r\n"))
}

// pausedPublisher sends 20,000 QoS 0 messages in one write from a client
// on pubAddr (after head) to a subscriber on subAddr.
func pausedPublisher(t *testing.T, s *Server, subAddr, pubAddr string, head []byte) {
	addr := subAddr
	sub, sr := dialV311(t, addr, "sub")
	subscribeV311(t, sub, sr, "p/#")

	const n = 20000
	var wire []byte
	for i := range n {
		var p [4]byte
		binary.BigEndian.PutUint32(p[:], uint32(i))
		wire = (&proto.Publish{Topic: []byte("p/x"), Payload: p[:]}).Append(wire, proto.V311)
	}
	pub, err := net.Dial("tcp", pubAddr)
	require.NoError(t, err)
	t.Cleanup(func() { pub.Close() })
	wire = append(append(head, (&proto.Connect{Version: proto.V311, CleanStart: true, KeepAlive: 60, ClientID: []byte("pub")}).Append(nil, proto.V311)...), wire...)
	go func() { _, _ = pub.Write(wire) }()

	for i := range n {
		p := readPacket(t, sub, sr)
		m, ok := p.(*proto.Publish)
		require.True(t, ok, "packet %d: %T", i, p)
		require.EqualValues(t, i, binary.BigEndian.Uint32(m.Payload), "order kept through the pauses")
	}
	if runtime.GOOS == "linux" {
		require.Positive(t, s.broker.Stats.ReadPauses.Load(), "20,000 publishes in one write never met a backlog of 32")
	}
	require.Zero(t, s.broker.Stats.Dropped.Load())
}

// A publisher that leaves while paused is forgotten with its connection:
// its descriptor, soon reused by a new connection, is not touched again,
// and the broker goes on serving.
func TestPausedPublisherLeaves(t *testing.T) {
	s, addr := startServer(t, session.Options{IngestBacklog: 32})
	sub, sr := dialV311(t, addr, "sub")
	subscribeV311(t, sub, sr, "p/#")
	var got atomic.Int64
	go func() {
		for {
			if _, err := readPacketErr(sub, sr); err != nil {
				return
			}
			got.Add(1)
		}
	}()

	var wire []byte
	for range 20000 {
		wire = (&proto.Publish{Topic: []byte("p/x"), Payload: []byte("abcd")}).Append(wire, proto.V311)
	}
	for round := range 5 {
		pub, _ := dialV311(t, addr, "pub")
		_, _ = pub.Write(wire)
		require.NoError(t, pub.Close(), "round %d", round)
	}
	// A new client on a reused descriptor is read normally.
	c, r := dialV311(t, addr, "after")
	subscribeV311(t, c, r, "q")
	_, err := c.Write((&proto.Publish{Topic: []byte("q"), Payload: []byte("hi")}).Append(nil, proto.V311))
	require.NoError(t, err)
	p := readPacket(t, c, r)
	require.Equal(t, []byte("hi"), p.(*proto.Publish).Payload)
	require.Eventually(t, func() bool { return s.Connections() == 2 }, 5*time.Second, 10*time.Millisecond)
	require.Positive(t, got.Load())
}

// readPacketErr reads one packet, returning the error instead of failing.
func readPacketErr(c net.Conn, r *bufio.Reader) (proto.Packet, error) {
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var head []byte
	for {
		b, err := r.ReadByte()
		if err != nil {
			return nil, err
		}
		head = append(head, b)
		h, n, err := proto.ParseFixedHeader(head)
		if err == proto.ErrIncomplete {
			continue
		}
		if err != nil {
			return nil, err
		}
		body := make([]byte, h.Remaining)
		if _, err := io.ReadFull(r, body); err != nil {
			return nil, err
		}
		p, _, err := proto.Decode(append(head[:n:n], body...), proto.V311)
		return p, err
	}
}
