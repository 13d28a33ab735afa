package limits_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
)

// The broker must close a connection that is silent for one and a half
// times its Keep Alive. The tests keep the default connect timeout (10 s),
// so a keepalive deadline that is shorter than the connect deadline it
// replaces is exercised too.

// rbSilentFor connects r with a 1 s keepalive, sends nothing more, and
// returns what the broker sent before closing and how long after CONNACK
// it closed.
func rbSilentFor(t *testing.T, r *loomtest.Client, id string, edit func(*proto.Connect)) ([]proto.Packet, time.Duration) {
	t.Helper()
	r.Connect(id, func(p *proto.Connect) {
		p.KeepAlive = 1
		if edit != nil {
			edit(p)
		}
	})
	start := time.Now()
	pkts := r.Rest() // fails unless the broker closes within loomtest.Wait
	return pkts, time.Since(start)
}

// rbNotEarly: one and a half times 1 s, less a margin for the time between
// the broker's clock reading at CONNECT and our reading of CONNACK.
const rbNotEarly = 1200 * time.Millisecond

func TestKeepaliveTimeoutV311(t *testing.T) {
	t.Parallel()
	_, addr := loomtest.Start(t, loom.Options{})
	pkts, after := rbSilentFor(t, loomtest.Dial(t, addr, proto.V311), "rb-ka-v3", nil)
	// [MQTT-3.1.2-24 v3.1.1] closed after 1.5 × Keep Alive without a packet, and
	// not before; 3.1.1 has no DISCONNECT from the server.
	require.Empty(t, pkts)
	require.GreaterOrEqual(t, after, rbNotEarly, "closed before 1.5 × Keep Alive")
}

func TestKeepaliveTimeoutV5(t *testing.T) {
	t.Parallel()
	_, addr := loomtest.Start(t, loom.Options{})
	pkts, after := rbSilentFor(t, loomtest.Dial(t, addr, proto.V5), "rb-ka-v5", nil)
	// [MQTT-3.1.2-22] closed after 1.5 × Keep Alive, and not before; the
	// broker says why first: DISCONNECT 0x8D (Keep Alive timeout).
	require.GreaterOrEqual(t, after, rbNotEarly, "closed before 1.5 × Keep Alive")
	require.Len(t, pkts, 1)
	d, ok := pkts[0].(*proto.Disconnect)
	require.True(t, ok, "got %T, want DISCONNECT", pkts[0])
	require.Equal(t, proto.KeepAliveTimeout, d.Reason)
}

// TestKeepaliveWillOnTimeout: a connection the broker closes for silence
// has its will published, in 5.0 [MQTT-3.1.2-8] and 3.1.1 [MQTT-3.1.2-8 v3.1.1], and the
// broker's connected count drops with it.
func TestKeepaliveWillOnTimeout(t *testing.T) {
	t.Parallel()
	for _, v := range []proto.Version{proto.V311, proto.V5} {
		t.Run(rbVersionName(v), func(t *testing.T) {
			t.Parallel()
			srv, addr := loomtest.Start(t, loom.Options{})
			sub := loomtest.Dial(t, addr, proto.V5)
			sub.Connect("rb-will-sub", nil)
			sub.Send(&proto.Subscribe{PacketID: 1, Subscriptions: []proto.Subscription{{Filter: []byte("rb/will/#"), QoS: 1}}})
			loomtest.Expect[*proto.Suback](sub)

			victim := loomtest.Dial(t, addr, v)
			pkts, _ := rbSilentFor(t, victim, "rb-will-victim", func(p *proto.Connect) {
				p.WillFlag, p.WillQoS = true, 1
				p.WillTopic, p.WillPayload = []byte("rb/will/victim"), []byte("gone")
			})
			if v == proto.V5 {
				require.Len(t, pkts, 1) // the 0x8D DISCONNECT
			}

			will := loomtest.Expect[*proto.Publish](sub)
			require.Equal(t, "rb/will/victim", string(will.Topic))
			require.Equal(t, "gone", string(will.Payload))
			loomtest.Eventually(t, "the victim no longer counts as connected", func() bool {
				return srv.Stats().Connected == 1 && srv.Stats().OpenConnections == 1
			})
		})
	}
}

// TestKeepalivePingsKeepConnectionOpen: PINGREQ every 0.5 s for 4 s holds a
// 1 s keepalive connection open, and each gets PINGRESP
// [MQTT-3.12.4-1] [MQTT-3.12.4-1 v3.1.1].
func TestKeepalivePingsKeepConnectionOpen(t *testing.T) {
	t.Parallel()
	for _, v := range []proto.Version{proto.V311, proto.V5} {
		t.Run(rbVersionName(v), func(t *testing.T) {
			t.Parallel()
			srv, addr := loomtest.Start(t, loom.Options{})
			r := loomtest.Dial(t, addr, v)
			r.Connect("rb-pinger", func(p *proto.Connect) { p.KeepAlive = 1 })
			tick := time.NewTicker(500 * time.Millisecond)
			defer tick.Stop()
			for i := 0; i < 8; i++ {
				<-tick.C
				r.Write(proto.AppendPingreq(nil))
				p := loomtest.Expect[*proto.Ping](r)
				require.Equal(t, proto.PINGRESP, p.Type, "ping %d", i)
			}
			require.EqualValues(t, 1, srv.Stats().OpenConnections)
		})
	}
}

// TestKeepaliveZeroIsNeverTimedOut: Keep Alive 0 turns the mechanism off
// (3.1.2.10), so no deadline may survive CONNECT, not even the connect
// timeout's.
func TestKeepaliveZeroIsNeverTimedOut(t *testing.T) {
	t.Parallel()
	_, addr := loomtest.Start(t, loom.Options{Limits: loom.Limits{ConnectTimeout: time.Second}})
	r := loomtest.Dial(t, addr, proto.V5)
	r.Connect("rb-ka0", nil) // KeepAlive 0
	time.Sleep(2500 * time.Millisecond)
	r.Write(proto.AppendPingreq(nil))
	p := loomtest.Expect[*proto.Ping](r)
	require.Equal(t, proto.PINGRESP, p.Type)
}

// TestConnectTimeout: a connection that has not completed CONNECT within
// ConnectTimeout is closed without an answer (a Server closes a
// connection that sends no CONNECT in reasonable time; 3.1.1 section 3.1,
// v5 section 4.1); one that did stays.
func TestConnectTimeout(t *testing.T) {
	t.Parallel()
	srv, addr := loomtest.Start(t, loom.Options{Limits: loom.Limits{ConnectTimeout: time.Second}})
	connect := (&proto.Connect{Version: proto.V311, CleanStart: true, ClientID: []byte("rb-partial")}).Append(nil, proto.V311)
	for _, tc := range []struct {
		name string
		send []byte
	}{
		{"silent", nil},
		{"partial CONNECT", connect[:len(connect)-3]},
		{"fixed header only", connect[:2]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			r := loomtest.Dial(t, addr, proto.V311)
			if tc.send != nil {
				r.Write(tc.send)
			}
			got := r.RestBytes()
			require.Empty(t, got, "the broker answered a connection without CONNECT")
			// The broker's clock starts at accept, after Dial returned here.
			require.GreaterOrEqual(t, time.Since(start), 800*time.Millisecond, "closed before ConnectTimeout")
		})
	}
	t.Run("connected in time", func(t *testing.T) {
		t.Parallel()
		r := loomtest.Dial(t, addr, proto.V311)
		r.Connect("rb-in-time", func(p *proto.Connect) { p.KeepAlive = 10 })
		time.Sleep(2 * time.Second)
		r.Write(proto.AppendPingreq(nil))
		require.Equal(t, proto.PINGRESP, loomtest.Expect[*proto.Ping](r).Type)
		require.GreaterOrEqual(t, srv.Stats().OpenConnections, int64(1))
	})
}

func rbVersionName(v proto.Version) string {
	switch v {
	case proto.V5:
		return "v5"
	case proto.V311:
		return "v3.1.1"
	}
	return "v3.1"
}
