package session

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/proto"
)

// filed counts the slots that hold c: the wheel keeps a client in at most
// one.
func (w *wheel) filed(c *Client) int {
	n := 0
	for i := range w.slots {
		for _, x := range w.slots[i] {
			if x == c {
				n++
			}
		}
	}
	return n
}

// expiries advances w from its current time to end in steps of step ms and
// returns, per client, the clock at which expire was called for it.
func (w *wheel) expiries(t *testing.T, from, end, step int64) map[*Client][]int64 {
	got := make(map[*Client][]int64)
	for now := from; now <= end; now += step {
		w.advance(now, func(c *Client) {
			got[c] = append(got[c], now)
			c.state = stateClosed
		})
	}
	return got
}

func TestWheelExpiresAtFirstTickAtOrAfterDeadline(t *testing.T) {
	const res = wheelResolutionMs
	horizon := int64(wheelSlots * res)
	tests := []struct {
		name     string
		deadline int64
		want     int64 // clock at which expire runs; -1 = never
	}{
		{"1 ms", 1, res},
		{"exactly one tick", res, res},
		{"just past a tick", res + 1, 2 * res},
		{"one second", 1000, 1000},
		{"last slot of the turn", horizon - 1, horizon},
		{"exactly the horizon", horizon, horizon},
		{"one tick past the horizon: re-filed once", horizon + res, horizon + res},
		{"100 s: re-filed once", 100_000, 100_000},
		{"200 s: re-filed three times", 200_000, 200_000},
		{"no deadline", 0, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w wheel
			w.init(res, 0)
			c := &Client{deadline: tt.deadline, state: stateConnected}
			w.add(c)
			got := w.expiries(t, 0, 210_000, 50)
			if tt.want < 0 {
				require.Empty(t, got)
				require.Zero(t, w.filed(c), "a client without deadline leaves the wheel")
				require.Zero(t, c.wpos)
				return
			}
			// Never early, at most one tick late, exactly once.
			require.Equal(t, []int64{tt.want}, got[c])
			require.Zero(t, c.wpos)
			require.Zero(t, w.filed(c))
		})
	}
}

func TestWheelActivityMovesDeadline(t *testing.T) {
	var w wheel
	w.init(wheelResolutionMs, 0)
	c := &Client{deadline: 1000, state: stateConnected}
	w.add(c)
	var fired []int64
	// Activity every 400 ms pushes the deadline 1 s ahead, as touch does,
	// until 5 s; the client must then expire 1 s after the last activity.
	for now := int64(0); now <= 10_000; now += 50 {
		if now%400 == 0 && now <= 5000 {
			c.deadline = now + 1000
		}
		w.advance(now, func(c *Client) { fired = append(fired, now); c.state = stateClosed })
		if len(fired) == 0 {
			require.Equal(t, 1, w.filed(c), "at %d ms", now)
			require.NotZero(t, c.wpos)
		}
	}
	// Last activity at 4800 ms: deadline 5800, whose tick ends at 6000.
	require.Equal(t, []int64{6000}, fired)
}

func TestWheelFarDeadlineStaysFiledOnce(t *testing.T) {
	var w wheel
	w.init(wheelResolutionMs, 0)
	c := &Client{deadline: 150_000, state: stateConnected} // > 2 turns of 64 s
	w.add(c)
	for now := int64(0); now < 150_000; now += wheelResolutionMs {
		w.advance(now, func(*Client) { t.Fatalf("expired at %d ms, deadline 150000", now) })
		require.Equal(t, 1, w.filed(c), "at %d ms", now)
	}
	expired := false
	w.advance(150_000, func(*Client) { expired = true })
	require.True(t, expired)
}

func TestWheelDropsClosedAndDeadlineFreeClients(t *testing.T) {
	var w wheel
	w.init(wheelResolutionMs, 0)
	closed := &Client{deadline: 1000, state: stateClosed}
	cleared := &Client{deadline: 1000, state: stateConnected}
	live := &Client{deadline: 1000, state: stateConnected}
	for _, c := range []*Client{closed, cleared, live} {
		w.add(c)
	}
	cleared.deadline = 0 // no keepalive any more
	var got []*Client
	w.advance(1000, func(c *Client) { got = append(got, c) })
	require.Equal(t, []*Client{live}, got)
	for _, c := range []*Client{closed, cleared, live} {
		require.Zero(t, c.wpos)
		require.Zero(t, w.filed(c))
	}
	// Nothing is left to visit later either.
	w.advance(300_000, func(c *Client) { t.Fatalf("%p expired twice", c) })
}

func TestWheelPastDeadlineFiresOnNextTick(t *testing.T) {
	var w wheel
	w.init(wheelResolutionMs, 10_000)
	c := &Client{deadline: 5000, state: stateConnected} // already due when filed
	w.add(c)
	got := w.expiries(t, 10_000, 11_000, 50)
	require.Equal(t, []int64{10_250}, got[c])
}

func TestWheelStalledLoopCatchesUp(t *testing.T) {
	var w wheel
	w.init(wheelResolutionMs, 0)
	deadlines := []int64{1000, 30_000, 63_000, 64_250, 120_000, 599_000, 700_000}
	cs := make([]*Client, len(deadlines))
	for i, d := range deadlines {
		cs[i] = &Client{deadline: d, state: stateConnected}
		w.add(cs[i])
	}
	// The loop stalls for ten minutes, far more than one turn of the wheel.
	count := make(map[*Client]int)
	w.advance(600_000, func(c *Client) { count[c]++; c.state = stateClosed })
	for i, d := range deadlines {
		if d <= 600_000 {
			require.Equal(t, 1, count[cs[i]], "deadline %d expires once", d)
			require.Zero(t, w.filed(cs[i]))
		} else {
			require.Zero(t, count[cs[i]], "deadline %d is still ahead", d)
			require.Equal(t, 1, w.filed(cs[i]))
		}
	}
	// The one still ahead expires on time once the loop runs normally again.
	late := cs[len(cs)-1]
	got := w.expiries(t, 600_250, 710_000, 250)
	require.Equal(t, []int64{700_000}, got[late])
}

func TestConnectTimeoutClosesSilentConnection(t *testing.T) {
	h := newHarness(t, Options{ConnectTimeout: 2 * time.Second}, 1)
	tc := h.dial(0)
	h.advanceClock(1500 * time.Millisecond)
	h.tick()
	require.False(t, tc.conn.closed(), "closed before the connect timeout")
	h.advanceClock(750 * time.Millisecond)
	h.tick()
	require.True(t, tc.conn.closed(), "no CONNECT within the connect timeout")
	tc.recvNone() // nothing to say to a client that never connected
}

func TestKeepAliveClosesIdleClient(t *testing.T) {
	for _, v := range []proto.Version{proto.V311, proto.V5} {
		t.Run(versionName(v), func(t *testing.T) {
			// [MQTT-3.1.2-22] [MQTT-3.1.2-24 v3.1.1]: no packet within
			// one and a half keepalives closes the connection.
			h := newHarness(t, Options{}, 1)
			tc := h.online(0, connectPacket(v, "ka", true, 10, 0))
			h.advanceClock(10 * time.Second)
			h.tick()
			tc.mustSend(&proto.Ping{Type: proto.PINGREQ}) // activity at 10 s: deadline 25 s
			require.IsType(t, &proto.Ping{}, tc.recvOne())
			h.advanceClock(14500 * time.Millisecond)
			h.tick()
			require.False(t, tc.conn.closed(), "closed at 24.5 s, deadline 25 s")
			h.advanceClock(750 * time.Millisecond)
			h.tick()
			require.True(t, tc.conn.closed(), "still open past 1.5 keepalives")
			if v == proto.V5 {
				requireDisconnect(t, tc.recvOne(), proto.KeepAliveTimeout)
			} else {
				tc.recvNone()
			}
			require.Zero(t, tc.conn.lateWrites)
			tc.c.Closed(nil) // the reactor's OnClose
			require.Zero(t, h.b.Stats.Connected.Load(), "an expired client still counts as connected")
		})
	}
}

func TestKeepAliveZeroNeverTimesOut(t *testing.T) {
	// A Keep Alive of 0 turns the mechanism off (3.1.2.10): the connect
	// timeout must not linger past CONNECT either.
	h := newHarness(t, Options{ConnectTimeout: time.Second}, 1)
	tc := h.online(0, connectPacket(proto.V5, "idle", true, 0, 0))
	h.advanceClock(time.Hour)
	h.tick()
	require.False(t, tc.conn.closed(), "a client with keepalive 0 was closed")
	tc.recvNone()
}

func TestShortKeepAliveEnforcedBeforeConnectTimeout(t *testing.T) {
	// [MQTT-3.1.2-22] a keepalive shorter than the connect timeout: the
	// connection must close 1.5 keepalives after CONNECT, not when the
	// connect timeout would have passed.
	h := newHarness(t, Options{ConnectTimeout: 10 * time.Second}, 1)
	tc := h.online(0, connectPacket(proto.V5, "short", true, 2, 0))
	h.advanceClock(2500 * time.Millisecond)
	h.tick()
	require.False(t, tc.conn.closed())
	h.advanceClock(750 * time.Millisecond)
	h.tick()
	require.True(t, tc.conn.closed(), "keepalive 2 s not enforced by 3.25 s")
	requireDisconnect(t, tc.recvOne(), proto.KeepAliveTimeout)
}

func versionName(v proto.Version) string {
	switch v {
	case proto.V5:
		return "v5"
	case proto.V311:
		return "v3.1.1"
	case proto.V31:
		return "v3.1"
	}
	return "unknown"
}

func TestWheelRefileMovesDeadlineBack(t *testing.T) {
	tests := []struct {
		name           string
		filedAt, moved int64 // deadlines
		want           int64 // clock of expiry
	}{
		{"within the turn", 10_000, 3000, 3000},
		{"from beyond the horizon", 90_000, 1500, 1500},
		{"to the next tick", 10_000, 1, 250},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w wheel
			w.init(wheelResolutionMs, 0)
			c := &Client{deadline: tt.filedAt, state: stateConnected}
			w.add(c)
			c.deadline = tt.moved
			w.refile(c)
			require.Equal(t, 1, w.filed(c))
			got := w.expiries(t, 0, 100_000, 50)
			require.Equal(t, []int64{tt.want}, got[c])
		})
	}
}

func TestWheelRefileLeavesClientFiledForNextTick(t *testing.T) {
	var w wheel
	w.init(wheelResolutionMs, 10_000)
	c := &Client{deadline: 2000, state: stateConnected} // past: filed for the next tick
	w.add(c)
	c.deadline = 1000
	w.refile(c)
	require.Equal(t, 1, w.filed(c), "refile must not file a client twice")
	got := w.expiries(t, 10_000, 11_000, 50)
	require.Equal(t, []int64{10_250}, got[c])
}

// A client leaves the wheel the moment it is removed, wherever it sits in
// its slot, and the others keep their places.
func TestWheelRemove(t *testing.T) {
	var w wheel
	w.init(wheelResolutionMs, 0)
	cs := make([]*Client, 5)
	for i := range cs {
		cs[i] = &Client{deadline: 1000, state: stateConnected}
		w.add(cs[i])
	}
	w.remove(cs[1]) // middle: the last one moves into its place
	w.remove(cs[4]) // last
	w.remove(cs[1]) // twice: nothing
	for i, c := range cs {
		want := 1
		if i == 1 || i == 4 {
			want = 0
			require.Zero(t, c.wpos)
		}
		require.Equal(t, want, w.filed(c), "client %d", i)
	}
	got := w.expiries(t, 0, 2000, 50)
	require.Len(t, got, 3)
	for _, i := range []int{0, 2, 3} {
		require.Equal(t, []int64{1000}, got[cs[i]])
	}
}

// A closed client is not kept by the wheel: removing it on close frees it
// (and its session and connection) at once rather than at its slot.
func TestClosedClientLeavesTheWheel(t *testing.T) {
	h := newHarness(t, Options{}, 1)
	c := h.online(0, connectPacket(proto.V5, "dev", true, 60, 0))
	require.NotZero(t, c.c.wpos)
	c.drop()
	require.Zero(t, c.c.wpos)
	for _, b := range h.loops[0].wheel.slots {
		require.NotContains(t, b, c.c)
	}
}
