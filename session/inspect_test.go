package session

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/proto"
)

// addrConn is a fakeConn with the addresses a gnet connection reports.
type addrConn struct {
	*fakeConn
	remote, local net.Addr
}

func (a *addrConn) RemoteAddr() net.Addr { return a.remote }
func (a *addrConn) LocalAddr() net.Addr  { return a.local }

var inspectListener = net.TCPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:1999"))

// dialFrom opens a connection on loop i from remote ("ip:port").
func (h *harness) dialFrom(i int, remote string) *tclient {
	fc := &fakeConn{}
	conn := &addrConn{fakeConn: fc, remote: net.TCPAddrFromAddrPort(netip.MustParseAddrPort(remote)), local: inspectListener}
	l := h.loops[i]
	return &tclient{t: h.t, h: h, l: l, conn: fc, c: l.NewClient(conn), v: proto.V5}
}

// withLoops runs f on a goroutine of its own, as an operator's request
// does, while the test goroutine plays the loops it waits for.
func (h *harness) withLoops(f func()) {
	h.t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-done:
			return
		default:
		}
		for _, l := range h.loops {
			l.runQueued(h.t)
		}
		if time.Now().After(deadline) {
			h.t.Fatal("the inspection did not return")
		}
		time.Sleep(time.Millisecond)
	}
}

func (h *harness) clients(q ClientsQuery) ClientsPage {
	h.t.Helper()
	var p ClientsPage
	var err error
	h.withLoops(func() { p, err = h.b.Clients(context.Background(), q) })
	require.NoError(h.t, err)
	return p
}

func ids(p ClientsPage) []string {
	out := make([]string, len(p.Clients))
	for i, c := range p.Clients {
		out[i] = c.ID
	}
	return out
}

func withUser(p *proto.Connect, user string) *proto.Connect {
	p.Username, p.UsernameFlag = []byte(user), true
	return p
}

func TestClientsPagedByID(t *testing.T) {
	h := newHarness(t, Options{}, 2)
	before := time.Now()
	for i, id := range []string{"c3", "c1", "c5", "c2", "c4"} {
		tc := h.dialFrom(i%2, "10.0.0."+id[1:]+":4000")
		tc.connect(withUser(connectPacket(proto.V5, id, true, 30, 0), "user-"+id))
	}
	// c0 came through a listener named "plant-floor" (its gate, as the
	// reactor hands it over at accept); the others through none.
	g := NewGate("plant-floor", 0, 0, 0)
	require.NoError(t, h.b.AddGate(g))
	old := h.dialFrom(0, "10.0.1.1:4000")
	require.True(t, old.c.Arrive(g))
	old.connect(withUser(connectPacket(proto.V311, "c0", true, 45, 0), "legacy"))
	// Not listed: a connection without CONNECT, a session offline.
	h.dialFrom(1, "10.0.1.2:4000")
	gone := h.online(1, connectPacket(proto.V5, "c9", true, 0, 300))
	gone.drop()

	p := h.clients(ClientsQuery{Limit: 2})
	require.Equal(t, []string{"c0", "c1"}, ids(p))
	require.True(t, p.More)
	require.Equal(t, 6, p.Total)
	c0, c1 := p.Clients[0], p.Clients[1]
	require.Equal(t, "legacy", c0.Username)
	require.Equal(t, proto.V311, c0.Version)
	require.Equal(t, uint16(45), c0.KeepAlive)
	require.Equal(t, "10.0.1.1:4000", c0.Remote)
	require.Equal(t, "plant-floor", c0.Listener)
	require.Equal(t, "user-c1", c1.Username)
	require.Equal(t, proto.V5, c1.Version)
	require.Equal(t, "10.0.0.1:4000", c1.Remote)
	require.Empty(t, c1.Listener)
	require.WithinRange(t, c1.Since, before.Add(-time.Second), time.Now().Add(time.Second))

	p = h.clients(ClientsQuery{After: "c1", Limit: 3})
	require.Equal(t, []string{"c2", "c3", "c4"}, ids(p))
	require.True(t, p.More)
	p = h.clients(ClientsQuery{After: "c4", Limit: 3})
	require.Equal(t, []string{"c5"}, ids(p))
	require.False(t, p.More)
	p = h.clients(ClientsQuery{After: "c5", Limit: 3})
	require.Empty(t, p.Clients)
	require.False(t, p.More)
	require.Equal(t, 6, p.Total)
}

func TestClientsSearch(t *testing.T) {
	h := newHarness(t, Options{}, 2)
	h.dialFrom(0, "192.168.7.1:5000").connect(withUser(connectPacket(proto.V5, "sensor-a", true, 0, 0), "plant"))
	h.dialFrom(1, "192.168.7.2:5000").connect(withUser(connectPacket(proto.V5, "sensor-b", true, 0, 0), "office"))
	h.dialFrom(0, "10.1.1.1:5000").connect(withUser(connectPacket(proto.V5, "valve-1", true, 0, 0), "plant"))
	h.dialFrom(1, "10.1.1.2:5000").connect(connectPacket(proto.V5, "valve-2", true, 0, 0))

	for _, tt := range []struct {
		search string
		want   []string
	}{
		{"sensor", []string{"sensor-a", "sensor-b"}},     // id
		{"plant", []string{"sensor-a", "valve-1"}},       // username
		{"192.168.7.", []string{"sensor-a", "sensor-b"}}, // remote address
		{"-", []string{"sensor-a", "sensor-b", "valve-1", "valve-2"}},
		{"nothing", []string{}},
	} {
		p := h.clients(ClientsQuery{Search: tt.search, Limit: 10})
		require.Equal(t, tt.want, ids(p), "search %q", tt.search)
		require.Equal(t, len(tt.want), p.Total, "search %q", tt.search)
		require.False(t, p.More)
	}
	// Paged within a search: Total stays the search's.
	p := h.clients(ClientsQuery{Search: "-", Limit: 3})
	require.Equal(t, []string{"sensor-a", "sensor-b", "valve-1"}, ids(p))
	require.True(t, p.More)
	require.Equal(t, 4, p.Total)
	p = h.clients(ClientsQuery{Search: "-", After: "valve-1", Limit: 3})
	require.Equal(t, []string{"valve-2"}, ids(p))
	require.False(t, p.More)
	require.Equal(t, 4, p.Total)
}

func TestClientInflightAndQueued(t *testing.T) {
	h := newHarness(t, Options{}, 1)
	cp := connectPacket(proto.V5, "slow", true, 0, 0)
	cp.Props.ReceiveMaximum = 2
	cp.Props.Set(proto.PropReceiveMaximum)
	sub := h.online(0, cp)
	sub.subscribe("q/#", 1)
	pub := h.online(0, connectPacket(proto.V5, "pub", true, 0, 0))
	for i := range 5 {
		pub.publish("q/x", "m", 1, uint16(i+1))
	}
	h.settle()
	require.Len(t, sub.recv(), 2) // the window, unacknowledged

	var st ClientState
	var ok bool
	h.withLoops(func() { st, ok, _ = h.b.Client(context.Background(), "slow") })
	require.True(t, ok)
	require.Equal(t, 2, st.Inflight)
	require.Equal(t, 3, st.Queued)

	h.withLoops(func() { _, ok, _ = h.b.Client(context.Background(), "nobody") })
	require.False(t, ok)
}

func TestClientsSkipTakenOver(t *testing.T) {
	h := newHarness(t, Options{}, 2)
	first := h.online(0, connectPacket(proto.V5, "twin", false, 0, 300))
	h.online(1, connectPacket(proto.V5, "twin", false, 0, 300))
	// The takeover's closure for the first connection waits on loop 0:
	// until it runs, the first connection still says connected, but it is
	// no longer the session's.
	p := h.clients(ClientsQuery{Limit: 10})
	require.Equal(t, []string{"twin"}, ids(p))
	requireDisconnect(t, first.recvOne(), proto.SessionTakenOver)
}

func TestClientsWaitForTheLoopsAtMostUntilCtxEnds(t *testing.T) {
	h := newHarness(t, Options{}, 1)
	h.online(0, connectPacket(proto.V5, "a", true, 0, 0))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	// Nobody plays the loop: the call must give up, not hang.
	_, err := h.b.Clients(ctx, ClientsQuery{Limit: 10})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	h.settle() // the late answer goes nowhere
}

func TestSubscriptionsOfASession(t *testing.T) {
	h := newHarness(t, Options{}, 1)
	c := h.online(0, connectPacket(proto.V5, "s", false, 0, 300))
	c.mustSend(&proto.Subscribe{PacketID: 1, Subscriptions: []proto.Subscription{
		{Filter: []byte("b/#"), QoS: 1, NoLocal: true, RetainAsPublished: true, RetainHandling: 2},
		{Filter: []byte("$share/g/a/+"), QoS: 0},
	}, Props: func() proto.Properties {
		var p proto.Properties
		p.SubscriptionIDs = []uint32{7}
		p.Set(proto.PropSubscriptionID)
		return p
	}()})
	c.recvOne()
	h.settle()
	c.drop() // still listed offline: the session stays

	subs, ok := h.b.Subscriptions("s")
	require.True(t, ok)
	require.Len(t, subs, 2)
	require.Equal(t, "$share/g/a/+", subs[0].Filter)
	require.Equal(t, byte(0), subs[0].QoS)
	require.Equal(t, uint32(7), subs[0].ID)
	require.Equal(t, "b/#", subs[1].Filter)
	require.Equal(t, byte(1), subs[1].QoS)
	require.True(t, subs[1].NoLocal)
	require.True(t, subs[1].RetainAsPublished)
	require.Equal(t, byte(2), subs[1].RetainHandling)

	_, ok = h.b.Subscriptions("unknown")
	require.False(t, ok)
}

func TestDisconnectClient(t *testing.T) {
	h := newHarness(t, Options{}, 2)
	v5 := h.online(0, connectPacket(proto.V5, "five", true, 0, 0))
	v3 := h.online(1, connectPacket(proto.V311, "three", true, 0, 0))

	var err error
	h.withLoops(func() { err = h.b.DisconnectClient(context.Background(), "five", proto.AdministrativeAction) })
	require.NoError(t, err)
	h.settle()
	requireDisconnect(t, v5.recvOne(), proto.AdministrativeAction)

	h.withLoops(func() { err = h.b.DisconnectClient(context.Background(), "three", proto.AdministrativeAction) })
	require.NoError(t, err)
	require.True(t, v3.conn.closed())
	v3.recvNone() // 3.1.1 has no server DISCONNECT

	require.ErrorIs(t, h.b.DisconnectClient(context.Background(), "nobody", proto.AdministrativeAction), ErrNoClient)
}

func TestSysValues(t *testing.T) {
	h := newHarness(t, Options{}, 1) // SysInterval 0: no $SYS publisher
	h.online(0, connectPacket(proto.V5, "a", true, 0, 0))
	h.online(0, connectPacket(proto.V5, "b", true, 0, 0)).subscribe("x/#", 0)
	v := h.b.SysValues()
	require.Equal(t, "loom "+Version, v["$SYS/broker/version"])
	require.Equal(t, "2", v["$SYS/broker/clients/connected"])
	require.Equal(t, "1", v["$SYS/broker/subscriptions/count"])
	require.Equal(t, "0", v["$SYS/broker/publish/messages/dropped/queue_full"])
	require.Len(t, v, sysCount+1)
}
