package session

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/proto"
)

func TestPreConnectDefaults(t *testing.T) {
	o := (&Options{}).withDefaults()
	require.Equal(t, 64<<10, o.MaxConnectSize)
	require.Equal(t, 8<<20, o.PreConnectBudget)
	o = (&Options{MaxPacketSize: 1000, MaxConnectSize: 5000}).withDefaults()
	require.Equal(t, 1000, o.MaxConnectSize, "never above MaxPacketSize")
}

// connectHead is the start of a CONNECT in v announcing a packet of total
// bytes, as the reactor peeks it: the fixed header, the protocol name and
// level, and whatever of the rest fits in ConnectPeek.
func connectHead(t *testing.T, v proto.Version, total int) (proto.FixedHeader, int, []byte) {
	t.Helper()
	body := (&proto.Connect{Version: v, ClientID: []byte("x")}).Append(nil, v)
	h, hl, err := proto.ParseFixedHeader(body)
	require.NoError(t, err)
	vh := body[hl:]
	// Announce total bytes: a fresh fixed header over the same start.
	rem := total - len(proto.AppendFixedHeader(nil, proto.CONNECT, 0, total))
	head := proto.AppendFixedHeader(nil, proto.CONNECT, 0, rem)
	h, hl, err = proto.ParseFixedHeader(append(head, vh...))
	require.NoError(t, err)
	head = append(head, vh...)
	return h, hl, head[:min(len(head), ConnectPeek)]
}

func requireCode(t *testing.T, err error, rc proto.ReasonCode) {
	t.Helper()
	var pe *proto.Error
	require.True(t, errors.As(err, &pe), "error %v", err)
	require.Equal(t, rc, pe.Code)
}

// TestCheckPreConnect: a packet before CONNECT completes is held to
// MaxConnectSize from its fixed header. A v5 CONNECT is refused with
// CONNACK 0x95 and the connection lingers so the client reads it
// [MQTT-3.2.2-6] [MQTT-3.2.2-7]; 3.1.1 has no return code for it, so the
// connection closes without CONNACK [MQTT-3.1.4-1 v3.1.1].
func TestCheckPreConnect(t *testing.T) {
	h := newHarness(t, Options{MaxConnectSize: 1000}, 1)

	c := h.dial(0)
	fh, hl, head := connectHead(t, proto.V5, 1000)
	require.NoError(t, c.c.CheckPreConnect(fh, hl, 1000, head))
	fh, hl, head = connectHead(t, proto.V5, 1001)
	requireCode(t, c.c.CheckPreConnect(fh, hl, 1001, head), proto.PacketTooLarge)
	c.l.Flush()
	ack, ok := c.recvOne().(*proto.Connack)
	require.True(t, ok)
	require.Equal(t, proto.PacketTooLarge, ack.Reason)
	require.False(t, ack.SessionPresent)
	require.True(t, c.c.Lingering(), "closes once the client has read it")

	for _, v := range []proto.Version{proto.V311, proto.V31} {
		c := h.dial(0)
		c.v = v
		fh, hl, head := connectHead(t, v, 5000)
		requireCode(t, c.c.CheckPreConnect(fh, hl, 5000, head), proto.PacketTooLarge)
		c.l.Flush()
		c.recvNone()
		require.False(t, c.c.Lingering(), "closed at once")
	}

	// Only the fixed header has arrived: the version is unknown.
	c = h.dial(0)
	fh, hl, head = connectHead(t, proto.V5, 5000)
	requireCode(t, c.c.CheckPreConnect(fh, hl, 5000, head[:hl]), proto.PacketTooLarge)
	c.l.Flush()
	c.recvNone()

	require.Equal(t, int64(4), h.b.Stats.PreConnectRefused.Load())

	// Any other first packet is refused on its fixed header, whatever its
	// size: the first packet must be CONNECT [MQTT-3.1.0-1].
	for _, size := range []int{10, 4000} {
		c = h.dial(0)
		pub := proto.AppendFixedHeader(nil, proto.PUBLISH, 0, size)
		ph, phl, err := proto.ParseFixedHeader(pub)
		require.NoError(t, err)
		requireCode(t, c.c.CheckPreConnect(ph, phl, phl+size, pub), proto.ProtocolError)
		c.l.Flush()
		c.recvNone()
	}
}

// TestCheckPreConnectAuth: during enhanced authentication the client has
// not completed CONNECT either: an AUTH over MaxConnectSize gets CONNACK
// 0x95 (no CONNACK has been sent yet) [MQTT-3.2.2-7].
func TestCheckPreConnectAuth(t *testing.T) {
	h := newHarness(t, Options{MaxConnectSize: 1000, Authenticators: []Authenticator{echoAuth{}}}, 1)
	c := h.dial(0)
	require.NoError(t, c.send(authConnect("a", "hello")))
	requireAuth(t, c.recvOne(), proto.ContinueAuthentication, "secret?")
	require.True(t, c.c.PreConnect())
	raw := proto.AppendFixedHeader(nil, proto.AUTH, 0, 2000)
	fh, hl, err := proto.ParseFixedHeader(raw)
	require.NoError(t, err)
	requireCode(t, c.c.CheckPreConnect(fh, hl, hl+2000, raw), proto.PacketTooLarge)
	c.l.Flush()
	ack, ok := c.recvOne().(*proto.Connack)
	require.True(t, ok)
	require.Equal(t, proto.PacketTooLarge, ack.Reason)
	require.True(t, c.c.Lingering())
}

// TestPreConnectBudget: what clients that have not completed CONNECT leave
// buffered is charged to their loop's share of PreConnectBudget; one that
// would take the loop past it is refused — v5 with CONNACK 0x89, 3.1.1
// with return code 3 [MQTT-3.2.2-5 v3.1.1], an unknown version by
// closing — and charges are released as packets complete and connections
// close.
func TestPreConnectBudget(t *testing.T) {
	h := newHarness(t, Options{MaxConnectSize: 4096, PreConnectBudget: 16384}, 2)
	h.b.SetLoopCount(2) // a share of 8 KiB per loop
	l := h.loops[0]

	a := h.dial(0)
	require.True(t, a.c.HoldPreConnect(5000))
	require.Equal(t, 5000, l.PreConnectHeld())
	require.True(t, a.c.HoldPreConnect(10), "a charge that shrinks always fits")
	require.Equal(t, 1024, l.PreConnectHeld(), "at least gnet's ring")
	require.True(t, a.c.HoldPreConnect(6000))

	// The other loop has a share of its own.
	require.True(t, h.dial(1).c.HoldPreConnect(8000))

	b := h.dial(0)
	require.False(t, b.c.HoldPreConnect(3000), "6000+3000 is past the share")
	require.Equal(t, 6000, l.PreConnectHeld())
	_, _, head := connectHead(t, proto.V5, 4000)
	requireCode(t, b.c.RefuseBusy(head), proto.ServerBusy)
	b.l.Flush()
	ack, ok := b.recvOne().(*proto.Connack)
	require.True(t, ok)
	require.Equal(t, proto.ServerBusy, ack.Reason)
	require.False(t, ack.SessionPresent, "[MQTT-3.2.2-6]")
	require.True(t, b.c.Lingering(), "[MQTT-3.2.2-7]")

	b3 := h.dial(0)
	b3.v = proto.V311
	require.False(t, b3.c.HoldPreConnect(2500))
	_, _, head = connectHead(t, proto.V311, 4000)
	require.Error(t, b3.c.RefuseBusy(head))
	b3.l.Flush()
	ack, ok = b3.recvOne().(*proto.Connack)
	require.True(t, ok)
	require.Equal(t, proto.V3ServerUnavailable, ack.Reason)
	require.True(t, b3.c.Lingering())

	unknown := h.dial(0)
	require.False(t, unknown.c.HoldPreConnect(2500))
	require.Error(t, unknown.c.RefuseBusy(head[:2]))
	unknown.l.Flush()
	unknown.recvNone()
	require.Equal(t, int64(3), h.b.Stats.PreConnectRefused.Load())

	// A smaller partial still fits beside a's.
	d := h.dial(0)
	require.True(t, d.c.HoldPreConnect(2000))
	require.Equal(t, 8000, l.PreConnectHeld())
	d.drop()
	require.Equal(t, 6000, l.PreConnectHeld(), "a close releases the charge")

	// a's CONNECT completes: its charge goes, and what it buffers after is
	// not charged.
	a.connect(connectPacket(proto.V5, "a", true, 0, 0))
	require.True(t, a.c.HoldPreConnect(3000))
	require.Zero(t, l.PreConnectHeld())
	require.Nil(t, l.preHeld, "an empty table is dropped")
}

func TestPreConnectBudgetOff(t *testing.T) {
	h := newHarness(t, Options{PreConnectBudget: -1}, 1)
	for range 10 {
		require.True(t, h.dial(0).c.HoldPreConnect(1<<20))
	}
}

// TestPreConnectShare: each loop's share is the budget over the loops, but
// never below one CONNECT of the largest size.
func TestPreConnectShare(t *testing.T) {
	h := newHarness(t, Options{MaxConnectSize: 4096, PreConnectBudget: 16384}, 1)
	h.b.SetLoopCount(8)
	require.Equal(t, 4096, h.loops[0].preShareBytes())
	h = newHarness(t, Options{MaxConnectSize: 1024, PreConnectBudget: 16384}, 1)
	h.b.SetLoopCount(8)
	require.Equal(t, 2048, h.loops[0].preShareBytes())
}

func TestConnectVersion(t *testing.T) {
	for _, v := range []proto.Version{proto.V31, proto.V311, proto.V5} {
		raw := (&proto.Connect{Version: v, ClientID: []byte("x")}).Append(nil, v)
		_, hl, err := proto.ParseFixedHeader(raw)
		require.NoError(t, err)
		got, ok := connectVersion(raw[hl:])
		require.True(t, ok)
		require.Equal(t, v, got)
		_, ok = connectVersion(raw[hl : hl+5])
		require.False(t, ok, "too short to tell")
	}
	_, ok := connectVersion([]byte{0, 4, 'M', 'Q', 'T', 'T', 6})
	require.False(t, ok, "unknown level")
	_, ok = connectVersion([]byte{0, 4, 'M', 'Q', 'X', 'T', 4})
	require.False(t, ok, "unknown name")
}

// FuzzConnectVersion: what connectVersion reads from the first bytes of a
// CONNECT agrees with the full decoder's Version whenever that decodes.
func FuzzConnectVersion(f *testing.F) {
	for _, v := range []proto.Version{proto.V31, proto.V311, proto.V5} {
		raw := (&proto.Connect{Version: v, ClientID: []byte("x")}).Append(nil, v)
		_, hl, _ := proto.ParseFixedHeader(raw)
		f.Add(raw[hl:])
	}
	f.Add([]byte{0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 4})
	f.Fuzz(func(t *testing.T, body []byte) {
		v, known := connectVersion(body)
		var p proto.Connect
		err := p.Decode(proto.FixedHeader{Type: proto.CONNECT, Remaining: len(body)}, body)
		if err == nil {
			require.True(t, known, "decoded as %d", p.Version)
			require.Equal(t, p.Version, v)
		}
		if known {
			var pe *proto.Error
			require.False(t, errors.As(err, &pe) && pe.Code == proto.UnsupportedProtocolVersion, "level %d refused by the decoder", v)
		}
	})
}
