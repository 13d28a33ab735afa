package limits_test

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
)

// flood writes b to c over and over until a write fails or stop closes, as
// a client does that has not yet read the broker's last word; it reports
// the write error, if any.
func flood(c net.Conn, b []byte, stop <-chan struct{}) <-chan error {
	done := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			_ = c.SetWriteDeadline(time.Now().Add(loomtest.Wait))
			if _, err := c.Write(b); err != nil {
				done <- err
				return
			}
		}
	}()
	return done
}

// readToEnd reads packets in version v from c until the connection ends and
// returns them with the error that ended it (io.EOF for a clean close).
func readToEnd(c net.Conn, v proto.Version) ([]proto.Packet, error) {
	var got []proto.Packet
	var buf []byte
	var tmp [4096]byte
	deadline := time.Now().Add(loomtest.Wait)
	for {
		for len(buf) > 0 {
			p, n, err := proto.Decode(buf, v)
			if errors.Is(err, proto.ErrIncomplete) {
				break
			}
			if err != nil {
				return got, err
			}
			got = append(got, p)
			buf = append([]byte(nil), buf[n:]...)
		}
		_ = c.SetReadDeadline(deadline)
		n, err := c.Read(tmp[:])
		buf = append(buf, tmp[:n]...)
		if err != nil && n == 0 {
			return got, err
		}
	}
}

// lastDisconnect is the reason of the DISCONNECT that ends got, or false.
func lastDisconnect(got []proto.Packet) (proto.ReasonCode, bool) {
	if len(got) == 0 {
		return 0, false
	}
	d, ok := got[len(got)-1].(*proto.Disconnect)
	if !ok {
		return 0, false
	}
	return d.Reason, true
}

// TestLingerDisconnectReachesFloodingClient: a v5 client that goes on
// sending QoS 2 PUBLISH packets past the broker's Receive Maximum gets
// DISCONNECT 0x93 and then a clean end of stream — not a reset that
// would discard the reason code it had not read yet. The broker stops
// reading, shuts its write side once the DISCONNECT is out and closes
// once the client has [MQTT-3.14.4-1] [MQTT-3.14.4-2] [MQTT-4.13.1-1].
func TestLingerDisconnectReachesFloodingClient(t *testing.T) {
	srv, addr := loomtest.Start(t, loom.Options{Limits: loom.Limits{ReceiveMaximum: 2}})
	for round := range 5 {
		r := loomtest.Dial(t, addr, proto.V5)
		c := r.NetConn()
		r.Connect("flooder", nil)
		var pid atomic.Uint32
		var out []byte
		for range 64 {
			p := proto.Publish{Topic: []byte("t"), QoS: 2, PacketID: uint16(pid.Add(1)), Payload: make([]byte, 512)}
			out = p.Append(out, proto.V5)
		}
		stop := make(chan struct{})
		wrote := flood(c, out, stop)
		if round%2 == 1 {
			// Read late, as a busy client does: the broker has long
			// decided by then.
			time.Sleep(300 * time.Millisecond)
		}
		got, err := readToEnd(c, proto.V5)
		rc, ok := lastDisconnect(got)
		require.True(t, ok, "round %d: no DISCONNECT before the end (%v, then %v)", round, len(got), err)
		require.Equal(t, proto.ReceiveMaximumExceeded, rc, "round %d", round)
		require.ErrorIs(t, err, io.EOF, "round %d: the connection must end cleanly after DISCONNECT", round)
		close(stop)
		// The broker read on (and dropped) what the client sent until it
		// closed: no write failed with a broken pipe or a reset.
		require.NoError(t, <-wrote, "round %d", round)
		_ = c.Close()
	}
	loomtest.WaitConnections(t, srv, 0)
}

// TestLingerRefusedConnackReachesWritingClient: a CONNECT refused with a
// CONNACK code, from a client that keeps writing behind it, reaches the
// client before a clean end of stream: an unknown protocol level gets the
// 3.1.1 return code 1 [MQTT-3.1.2-2], a v5 CONNECT with an Authentication
// Method the broker lacks gets 0x8C [MQTT-3.2.2-7].
func TestLingerRefusedConnackReachesWritingClient(t *testing.T) {
	srv, addr := loomtest.Start(t, loom.Options{})
	level := proto.Connect{Version: proto.V311, CleanStart: true, ClientID: []byte("x")}
	badLevel := level.Append(nil, proto.V311)
	badLevel[8] = 9 // the protocol level: fixed header 2, "MQTT" 6
	auth := proto.Connect{Version: proto.V5, CleanStart: true, ClientID: []byte("y")}
	auth.Props.AuthMethod = []byte("no-such-method")
	auth.Props.Set(proto.PropAuthMethod)
	cases := []struct {
		name    string
		connect []byte
		v       proto.Version
		want    proto.ReasonCode
	}{
		{"unknown level", badLevel, proto.V311, 1},
		{"v5 bad auth method", auth.Append(nil, proto.V5), proto.V5, proto.BadAuthenticationMethod},
	}
	pings := make([]byte, 0, 2048)
	for range 1024 {
		pings = append(pings, 0xC0, 0)
	}
	for _, tc := range cases {
		for round := range 5 {
			c := loomtest.Dial(t, addr, proto.V5).NetConn()
			_, err := c.Write(tc.connect)
			require.NoError(t, err)
			stop := make(chan struct{})
			wrote := flood(c, pings, stop)
			if round%2 == 1 {
				time.Sleep(300 * time.Millisecond)
			}
			got, err := readToEnd(c, tc.v)
			require.Len(t, got, 1, "%s round %d: want exactly the CONNACK (then %v)", tc.name, round, err)
			ack, ok := got[0].(*proto.Connack)
			require.True(t, ok, "got %T", got[0])
			require.Equal(t, tc.want, ack.Reason)
			require.ErrorIs(t, err, io.EOF, "%s round %d: the connection must end cleanly after CONNACK", tc.name, round)
			close(stop)
			require.NoError(t, <-wrote, "%s round %d", tc.name, round)
			_ = c.Close()
		}
	}
	loomtest.WaitConnections(t, srv, 0)
}

// TestLingerEndsWithoutClientClose: a client that never closes after the
// broker's DISCONNECT (and never reads) is closed by the broker within
// the linger, so a lingering connection cannot hold a descriptor.
func TestLingerEndsWithoutClientClose(t *testing.T) {
	srv, addr := loomtest.Start(t, loom.Options{Limits: loom.Limits{ReceiveMaximum: 1}})
	r := loomtest.Dial(t, addr, proto.V5)
	r.Connect("stayer", nil)
	for pid := uint16(1); pid <= 2; pid++ {
		r.Send(&proto.Publish{Topic: []byte("t"), QoS: 2, PacketID: pid})
	}
	start := time.Now()
	loomtest.WaitConnections(t, srv, 0)
	require.Less(t, time.Since(start), 5*time.Second)
}
