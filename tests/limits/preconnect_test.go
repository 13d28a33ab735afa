package limits_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
)

// What a connection that has not completed CONNECT may make the broker
// buffer (session/preconnect.go): a CONNECT over MaxConnectSize is refused
// from its fixed header, and partial packets of all such connections share
// PreConnectBudget.

// pcConnect is a CONNECT in v of exactly total bytes, its password as the
// filler.
func pcConnect(t *testing.T, v proto.Version, id string, total int) []byte {
	t.Helper()
	p := proto.Connect{Version: v, CleanStart: true, ClientID: []byte(id), UsernameFlag: true, Username: []byte("u"), PasswordFlag: true}
	base := len(p.Append(nil, v))
	for pad := total - base; pad >= 0 && pad > total-base-4; pad-- {
		p.Password = make([]byte, pad)
		if raw := p.Append(nil, v); len(raw) == total {
			return raw
		}
	}
	t.Fatalf("no CONNECT of %d bytes", total)
	return nil
}

// pcHead is the first n bytes of a CONNECT in v whose fixed header
// announces a packet of total bytes.
func pcHead(t *testing.T, v proto.Version, total, n int) []byte {
	t.Helper()
	raw := pcConnect(t, v, "big", n+100)
	_, hl, err := proto.ParseFixedHeader(raw)
	require.NoError(t, err)
	head := proto.AppendFixedHeader(nil, proto.CONNECT, 0, total-4) // 1 type byte, 3 length bytes
	require.Len(t, head, 4)
	return append(head, raw[hl:n-4+hl]...)
}

// TestPreConnectOversizedConnect sends the start of a CONNECT announcing
// more than MaxConnectSize (but less than MaxPacketSize) over a real
// socket. A v5 client gets CONNACK 0x95 at once, and the broker then
// closes [MQTT-3.2.2-6] [MQTT-3.2.2-7]; a 3.1.1 client, for which no return
// code fits, is closed without CONNACK [MQTT-3.1.4-1 v3.1.1] — both without
// waiting for the body or for the connect timeout.
func TestPreConnectOversizedConnect(t *testing.T) {
	srv, addr := loomtest.Start(t, loom.Options{Limits: loom.Limits{ConnectTimeout: time.Minute}})
	for _, v := range []proto.Version{proto.V5, proto.V311} {
		t.Run(fmt.Sprint("v", v), func(t *testing.T) {
			// 100 KiB announced (default MaxConnectSize: 64 KiB); only the
			// header and the start of the body are sent.
			r := loomtest.Dial(t, addr, v)
			start := time.Now()
			r.Write(pcHead(t, v, 100<<10, 200))
			ps := r.Rest()
			if v == proto.V5 {
				require.Len(t, ps, 1, "one CONNACK, then the end of the stream")
				ack, ok := ps[0].(*proto.Connack)
				require.True(t, ok, "got %v", ps[0].PacketType())
				require.Equal(t, proto.PacketTooLarge, ack.Reason)
				require.False(t, ack.SessionPresent)
			} else {
				require.Empty(t, ps, "3.1.1 has no return code for it")
			}
			require.Less(t, time.Since(start), 5*time.Second, "refused at the header, not at the connect timeout")
		})
	}
	require.Equal(t, int64(2), srv.Stats().PreConnectRefused)

	// A CONNECT under the cap that arrives in pieces is accepted.
	raw := pcConnect(t, proto.V5, "fits", 60<<10)
	r := loomtest.Dial(t, addr, proto.V5)
	r.Write(raw[:30000])
	time.Sleep(20 * time.Millisecond)
	r.Write(raw[30000:])
	require.Equal(t, proto.Success, loomtest.Expect[*proto.Connack](r).Reason)
}

// TestPreConnectBudget: with one loop and a budget of 12 KiB, a client
// that holds 6000 bytes of a CONNECT leaves no room for a second one
// trickling 7000 bytes: v5 is refused with CONNACK 0x89 Server busy, 3.1.1
// with return code 3 Server unavailable [MQTT-3.2.2-5 v3.1.1], and each is
// closed after [MQTT-3.2.2-7]. The first completes its CONNECT; after it,
// the budget is free again.
func TestPreConnectBudget(t *testing.T) {
	_, addr := loomtest.Start(t, loom.Options{Loops: 1, Limits: loom.Limits{
		MaxConnectSize: 8 << 10, PreConnectBudget: 12 << 10, ConnectTimeout: time.Minute}})

	// sync makes sure the loop has read what was written before: a CONNECT
	// round trip on a new connection of the same (only) loop.
	seq := 0
	sync := func() {
		seq++
		loomtest.Connect(t, addr, proto.V5, proto.Connect{CleanStart: true, ClientID: []byte("sync" + string(rune('a'+seq)))})
	}

	first := pcConnect(t, proto.V5, "first", 8000)
	a := loomtest.Dial(t, addr, proto.V5)
	a.Write(first[:6000])
	sync()

	for _, v := range []proto.Version{proto.V5, proto.V311} {
		raw := pcConnect(t, v, "second", 8000)
		b := loomtest.Dial(t, addr, v)
		b.Write(raw[:7000])
		ps := b.Rest()
		require.Len(t, ps, 1, "%v: one CONNACK, then the end of the stream", v)
		ack, ok := ps[0].(*proto.Connack)
		require.True(t, ok)
		want := proto.ServerBusy
		if v != proto.V5 {
			want = proto.V3ServerUnavailable
		}
		require.Equal(t, want, ack.Reason, "%v", v)
		require.False(t, ack.SessionPresent)
	}

	// A partial that fits beside a's is held.
	small := pcConnect(t, proto.V311, "small", 6000)
	s := loomtest.Dial(t, addr, proto.V311)
	s.Write(small[:3000])

	a.Write(first[6000:])
	require.Equal(t, proto.Success, loomtest.Expect[*proto.Connack](a).Reason)
	s.Write(small[3000:])
	require.Equal(t, proto.Success, loomtest.Expect[*proto.Connack](s).Reason)

	// Both completed: their charges are gone, and another large one fits.
	again := pcConnect(t, proto.V5, "again", 8000)
	c := loomtest.Dial(t, addr, proto.V5)
	c.Write(again[:7000])
	sync()
	c.Write(again[7000:])
	require.Equal(t, proto.Success, loomtest.Expect[*proto.Connack](c).Reason)
}
