package session

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/proto"
)

// gated is a harness whose loops' connections arrive on the gates given.
func gated(t *testing.T, opts Options, loops int, gates ...*Gate) *harness {
	h := newHarness(t, opts, loops)
	for _, g := range gates {
		require.NoError(t, h.b.AddGate(g))
	}
	return h
}

// arrive opens a connection on loop i through gate g.
func (h *harness) arrive(i int, g *Gate) *tclient {
	tc := h.dial(i)
	tc.c.Arrive(g)
	return tc
}

// requireRefused requires a CONNACK with code, Session Present 0, and the
// connection lingering to its close [MQTT-3.2.2-6] [MQTT-3.2.2-7].
func requireRefused(t *testing.T, tc *tclient, p *proto.Connect, code proto.ReasonCode) {
	t.Helper()
	if p.Version != 0 {
		tc.v = p.Version
	}
	err := tc.send(p)
	require.Error(t, err)
	ack, ok := tc.recvOne().(*proto.Connack)
	require.True(t, ok)
	require.Equal(t, code, ack.Reason)
	require.False(t, ack.SessionPresent)
	require.True(t, tc.c.Lingering())
}

func TestGateCapRefusesAndReleases(t *testing.T) {
	g := NewGate("a", 2, 0, 0)
	other := NewGate("b", 0, 0, 0)
	h := gated(t, Options{}, 1, g, other)
	a1 := h.arrive(0, g)
	a1.connect(connectPacket(proto.V5, "a1", true, 0, 0))
	a2 := h.arrive(0, g)
	a2.connect(connectPacket(proto.V311, "a2", true, 0, 0))

	requireRefused(t, h.arrive(0, g), connectPacket(proto.V5, "a3", true, 0, 0), proto.QuotaExceeded)
	requireRefused(t, h.arrive(0, g), connectPacket(proto.V311, "a4", true, 0, 0), proto.V3ServerUnavailable)
	b1 := h.arrive(0, other)
	b1.connect(connectPacket(proto.V5, "b1", true, 0, 0)) // another listener is not full
	require.Equal(t, "b", b1.c.ListenerID())
	require.Equal(t, "a", a1.c.ListenerID())
	require.Empty(t, h.online(0, connectPacket(proto.V5, "no-gate", true, 0, 0)).c.ListenerID())

	st := g.Stats()
	require.Equal(t, GateStats{ID: "a", MaxClients: 2, V311: 1, V5: 1, RefusedCap: 2}, st)
	require.EqualValues(t, 2, h.b.Stats.RefusedCap.Load())
	require.EqualValues(t, 0, h.b.Stats.ProtocolFails.Load(), "a cap is not the client's fault")

	a1.drop()
	require.Equal(t, int64(0), g.Stats().V5)
	h.arrive(0, g).connect(connectPacket(proto.V5, "a5", true, 0, 0)) // the slot was given back
}

// A CONNECT holds its slot from its arrival, while the hooks authenticate
// it, and once: handled again with the answer, it takes no second slot.
// A connection that closes before its CONNECT completes gives it back.
func TestGateSlotHeldThroughAuthentication(t *testing.T) {
	g := NewGate("a", 1, 0, 0)
	h := gated(t, Options{}, 1, g)
	woke := wakeRecorder(h, 0)
	var answers []Answer
	require.NoError(t, h.b.AddHook(&recorder{name: "slow", provides: map[Event]bool{OnConnectAuthenticate: true},
		auth: func(cl ClientInfo, pk *proto.Connect, a Answer) Verdict {
			answers = append(answers, a)
			return Later
		}}, nil))

	first := h.arrive(0, g)
	p := connectPacket(proto.V5, "first", true, 0, 0)
	require.ErrorIs(t, first.send(p), ErrWaiting)
	require.EqualValues(t, 1, g.slots.Load())
	requireRefused(t, h.arrive(0, g), connectPacket(proto.V5, "second", true, 0, 0), proto.QuotaExceeded)

	answers[0](true)
	h.settle()
	require.Len(t, *woke, 1)
	first.connect(p) // handed over again, as the reactor does
	require.EqualValues(t, 1, g.slots.Load())
	require.Equal(t, int64(1), g.Stats().V5)
	first.drop()
	require.EqualValues(t, 0, g.slots.Load())

	// Closed while its authentication waits: the slot is back.
	third := h.arrive(0, g)
	require.ErrorIs(t, third.send(connectPacket(proto.V311, "third", true, 0, 0)), ErrWaiting)
	third.drop()
	require.EqualValues(t, 0, g.slots.Load())
	require.EqualValues(t, 0, h.b.admitted.Load())
	require.Equal(t, GateStats{ID: "a", MaxClients: 1, RefusedCap: 1}, g.Stats())
}

// A takeover frees the old connection's slot: a full listener takes a
// CONNECT with the id of one of its own clients [MQTT-3.1.4-3]; a full
// broker takes it whatever the listener.
func TestGateTakeoverNotRefused(t *testing.T) {
	a, b := NewGate("a", 1, 0, 0), NewGate("b", 1, 0, 0)
	h := gated(t, Options{MaxClients: 2}, 2, a, b)
	old := h.arrive(0, a)
	old.connect(connectPacket(proto.V5, "dev", true, 0, 0))
	h.arrive(1, b).connect(connectPacket(proto.V5, "other", true, 0, 0))

	// Listener a is full, and so is the broker: the same id still gets in.
	again := h.arrive(1, a)
	again.connect(connectPacket(proto.V5, "dev", true, 0, 0))
	h.settle()
	requireDisconnect(t, old.recvOne(), proto.SessionTakenOver)
	old.drop()
	require.EqualValues(t, 1, a.slots.Load())
	require.EqualValues(t, 2, h.b.admitted.Load())

	// Through listener b, full with another client, "dev" is refused: the
	// slot its takeover frees is listener a's.
	requireRefused(t, h.arrive(0, b), connectPacket(proto.V5, "dev", true, 0, 0), proto.QuotaExceeded)
	// A new id is refused by the broker's cap on any listener.
	c := NewGate("c", 0, 0, 0)
	h2 := gated(t, Options{MaxClients: 1}, 1, c)
	h2.arrive(0, c).connect(connectPacket(proto.V311, "x", true, 0, 0))
	requireRefused(t, h2.arrive(0, c), connectPacket(proto.V311, "y", true, 0, 0), proto.V3ServerUnavailable)
	require.EqualValues(t, 1, c.Stats().RefusedCap)
}

// Loops admitting at once never pass the cap between them.
func TestGateCapUnderConcurrency(t *testing.T) {
	const loops, each, most = 4, 50, 7
	g := NewGate("a", most, 0, 0)
	h := gated(t, Options{}, loops, g)
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted := 0
	for i := range loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				tc := h.dial(i)
				tc.c.Arrive(g)
				h.loops[i].Refresh()
				p := connectPacket(proto.V5, fmt.Sprintf("c%d-%d", i, j), true, 0, 0)
				raw := p.Append(nil, proto.V5)
				fh, n, _ := proto.ParseFixedHeader(raw)
				if tc.c.Handle(fh, raw[n:]) == nil {
					mu.Lock()
					admitted++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	require.Equal(t, most, admitted)
	require.EqualValues(t, most, g.slots.Load())
	require.EqualValues(t, loops*each-most, g.Stats().RefusedCap)
}

// Past the connect rate a connection is marked at arrival and refused at
// its CONNECT with 0x9F; the bucket refills at the rate.
func TestGateConnectRate(t *testing.T) {
	g := NewGate("a", 0, 2, 3) // 2 a second, bursts of 3
	h := gated(t, Options{}, 1, g)
	for i := range 3 {
		h.arrive(0, g).connect(connectPacket(proto.V5, fmt.Sprint("ok", i), true, 0, 0))
	}
	requireRefused(t, h.arrive(0, g), connectPacket(proto.V5, "over", true, 0, 0), proto.ConnectionRateExceeded)
	requireRefused(t, h.arrive(0, g), connectPacket(proto.V311, "over3", true, 0, 0), proto.V3ServerUnavailable)
	require.EqualValues(t, 2, g.Stats().RefusedRate)
	h.advanceClock(500 * time.Millisecond) // one token
	h.arrive(0, g).connect(connectPacket(proto.V5, "again", true, 0, 0))
	requireRefused(t, h.arrive(0, g), connectPacket(proto.V5, "over2", true, 0, 0), proto.ConnectionRateExceeded)
	h.advanceClock(10 * time.Second) // full again, no more than the burst
	for i := range 3 {
		h.arrive(0, g).connect(connectPacket(proto.V5, fmt.Sprint("later", i), true, 0, 0))
	}
	requireRefused(t, h.arrive(0, g), connectPacket(proto.V5, "over4", true, 0, 0), proto.ConnectionRateExceeded)
	require.EqualValues(t, 0, h.b.Stats.ProtocolFails.Load())
}

func TestTokenBucket(t *testing.T) {
	for _, tt := range []struct {
		rate  float64
		burst int
		takes []int64 // ms of each take
		want  []bool
	}{
		{1, 0, []int64{0, 0, 999, 1000, 1500, 2000}, []bool{true, false, false, true, false, true}},
		{10, 0, []int64{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 100}, []bool{true, true, true, true, true, true, true, true, true, true, false, true}},
		{0.5, 2, []int64{0, 0, 0, 1999, 2000, 10000, 10000, 10000}, []bool{true, true, false, false, true, true, true, false}},
	} {
		b := newTokenBucket(tt.rate, tt.burst)
		for i, at := range tt.takes {
			require.Equal(t, tt.want[i], b.take(at+5000), "rate %v burst %d take %d at %d ms", tt.rate, tt.burst, i, at)
		}
	}
}
