package session

import (
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/router"
)

// memStore keeps no wills or counters; extraStore, which wraps it, does.
func (m *memStore) PutWill(string, WillRecord) {}
func (m *memStore) DeleteWill(string)          {}
func (m *memStore) PutCounters(Counters)       {}

// extraStore is a memStore that also keeps wills and counters, as
// persist.Store does: removed with their session, visited before the rest.
type extraStore struct {
	*memStore
	xmu         sync.Mutex
	wills       map[string]WillRecord
	counters    *Counters
	counterPuts int
}

func newExtraStore() *extraStore {
	return &extraStore{memStore: newMemStore(), wills: map[string]WillRecord{}}
}

func (x *extraStore) PutWill(id string, w WillRecord) {
	x.xmu.Lock()
	defer x.xmu.Unlock()
	w.Msg = w.Msg.Clone() // the store's own copy: publishing stamps the original's expiry
	x.wills[id] = w
}

func (x *extraStore) DeleteWill(id string) {
	x.xmu.Lock()
	defer x.xmu.Unlock()
	delete(x.wills, id)
}

func (x *extraStore) PutCounters(c Counters) {
	x.xmu.Lock()
	defer x.xmu.Unlock()
	x.counters = &c
	x.counterPuts++
}

func (x *extraStore) DeleteSession(id string) {
	x.DeleteWill(id)
	x.memStore.DeleteSession(id)
}

func (x *extraStore) Load(v LoadVisitor) error {
	x.xmu.Lock()
	wills := make(map[string]WillRecord, len(x.wills))
	for id, w := range x.wills {
		wills[id] = w
	}
	c := x.counters
	x.xmu.Unlock()
	if v.Will != nil {
		for id, w := range wills {
			v.Will(id, w)
		}
	}
	if v.Counters != nil && c != nil {
		v.Counters(*c)
	}
	return x.memStore.Load(v)
}

func (x *extraStore) will(id string) (WillRecord, bool) {
	x.xmu.Lock()
	defer x.xmu.Unlock()
	w, ok := x.wills[id]
	return w, ok
}

func (x *extraStore) willIDs() []string {
	x.xmu.Lock()
	defer x.xmu.Unlock()
	var ids []string
	for id := range x.wills {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// The will of a stored session is part of its state in the store from
// CONNECT until it is published or discarded. MQTT 5 section 4.1 counts the
// Will Message and Will Delay Interval in the server's Session State.
func TestStoreKeepsWillsOfStoredSessions(t *testing.T) {
	tests := []struct {
		name    string
		connect *proto.Connect
		end     func(c *tclient)
		kept    bool // a will is stored after end
	}{
		{"v5 delayed, network failure: kept for its delay [MQTT-3.1.2-8]",
			withWillDelay(withWill(connectPacket(proto.V5, "dev", false, 0, 600), "bye"), 30),
			func(c *tclient) { c.drop() }, true},
		{"v5 delayed, DISCONNECT 0x04: kept [MQTT-3.1.2-8]",
			withWillDelay(withWill(connectPacket(proto.V5, "dev", false, 0, 600), "bye"), 30),
			func(c *tclient) { c.disconnect(proto.DisconnectWithWill) }, true},
		{"v5 delayed, DISCONNECT 0x00: discarded [MQTT-3.14.4-3] [MQTT-3.1.2-10]",
			withWillDelay(withWill(connectPacket(proto.V5, "dev", false, 0, 600), "bye"), 30),
			func(c *tclient) { c.disconnect(proto.Success) }, false},
		{"v5 no delay, network failure: published at once, so gone [MQTT-3.1.2-8]",
			withWill(connectPacket(proto.V5, "dev", false, 0, 600), "bye"),
			func(c *tclient) { c.drop() }, false},
		{"3.1.1 network failure: published at once [MQTT-3.1.2-8 v3.1.1]",
			withWill(connectPacket(proto.V311, "dev", false, 0, 0), "bye"),
			func(c *tclient) { c.drop() }, false},
		{"3.1.1 DISCONNECT: discarded [MQTT-3.1.2-10 v3.1.1]",
			withWill(connectPacket(proto.V311, "dev", false, 0, 0), "bye"),
			func(c *tclient) { c.disconnect(proto.Success) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newExtraStore()
			h := newHarness(t, Options{Store: st}, 1)
			c := h.online(0, tt.connect)
			w, ok := st.will("dev")
			require.True(t, ok, "stored while connected")
			require.Zero(t, w.DisconnectedAt, "0 while connected: a crash now leaves it so")
			require.Equal(t, "will/dev", w.Msg.Topic)
			require.Equal(t, "bye", string(w.Msg.Payload))
			require.Equal(t, byte(1), w.Msg.QoS)
			require.Equal(t, tt.connect.WillProps.WillDelay, w.Delay)

			before := time.Now().UnixNano()
			tt.end(c)
			w, ok = st.will("dev")
			require.Equal(t, tt.kept, ok)
			if ok {
				require.GreaterOrEqual(t, w.DisconnectedAt, before, "when the connection ended")
			}
		})
	}
}

func TestStoreWillFollowsTheSession(t *testing.T) {
	delayed := func(id string, clean bool, expiry uint32) *proto.Connect {
		return withWillDelay(withWill(connectPacket(proto.V5, id, clean, 0, expiry), "bye"), 30)
	}
	t.Run("no will for a session that is not stored", func(t *testing.T) {
		st := newExtraStore()
		h := newHarness(t, Options{Store: st}, 1)
		h.online(0, delayed("dev", true, 0)).drop()
		require.Empty(t, st.willIDs())
	})
	t.Run("a reconnect cancels the stored will [MQTT-3.1.3-9]", func(t *testing.T) {
		st := newExtraStore()
		h := newHarness(t, Options{Store: st}, 1)
		h.online(0, delayed("dev", false, 600)).drop()
		require.Equal(t, []string{"dev"}, st.willIDs())
		c := h.online(0, connectPacket(proto.V5, "dev", false, 0, 600)) // no will this time
		require.Empty(t, st.willIDs())
		c.drop()
		require.Empty(t, st.willIDs())
	})
	t.Run("a reconnect with a new will replaces it", func(t *testing.T) {
		st := newExtraStore()
		h := newHarness(t, Options{Store: st}, 1)
		h.online(0, delayed("dev", false, 600)).drop()
		p := withWill(connectPacket(proto.V5, "dev", false, 0, 600), "second")
		h.online(0, p)
		w, ok := st.will("dev")
		require.True(t, ok)
		require.Equal(t, "second", string(w.Msg.Payload))
		require.Zero(t, w.Delay)
		require.Zero(t, w.DisconnectedAt)
	})
	t.Run("Clean Start discards it with the session [MQTT-3.1.2-4]", func(t *testing.T) {
		st := newExtraStore()
		h := newHarness(t, Options{Store: st}, 1)
		h.online(0, delayed("dev", false, 600)).drop()
		h.online(0, connectPacket(proto.V5, "dev", true, 0, 600))
		require.Empty(t, st.willIDs())
	})
	t.Run("published after its delay, then gone", func(t *testing.T) {
		st := newExtraStore()
		h := newHarness(t, Options{Store: st}, 1)
		w := willWatcher(h)
		c := h.online(0, delayed("dev", false, 600))
		s := c.c.sess
		c.drop()
		s.willDue() // the delay timer's function, run now
		h.settle()
		require.Equal(t, []string{"bye"}, payloads(publishes(t, w.recv())))
		require.Empty(t, st.willIDs())
	})
	t.Run("the session's expiry publishes it and removes both", func(t *testing.T) {
		st := newExtraStore()
		h := newHarness(t, Options{Store: st}, 1)
		w := willWatcher(h)
		c := h.online(0, delayed("dev", false, 10))
		s := c.c.sess
		c.drop()
		s.expire()
		h.settle()
		require.Equal(t, []string{"bye"}, payloads(publishes(t, w.recv())))
		require.Empty(t, st.willIDs())
		require.NotContains(t, st.sessionIDs(), "dev")
	})
	t.Run("v5 properties and the retain flag are kept", func(t *testing.T) {
		st := newExtraStore()
		h := newHarness(t, Options{Store: st}, 1)
		p := delayed("dev", false, 600)
		p.WillRetain = true
		p.WillProps.ContentType = []byte("text/plain")
		p.WillProps.Set(proto.PropContentType)
		h.online(0, p)
		w, ok := st.will("dev")
		require.True(t, ok)
		require.True(t, w.Msg.Retain)
		require.NotNil(t, w.Msg.Props)
		require.Equal(t, "text/plain", string(w.Msg.Props.ContentType))
		require.False(t, w.Msg.Props.Has(proto.PropWillDelay), "only what subscribers get")
		require.Equal(t, "dev", w.Msg.Origin)
	})
}

// willMsg is a stored will on will/<id>.
func willMsg(id string) *router.Message {
	return &router.Message{Topic: "will/" + id, Payload: []byte(id), QoS: 1, Origin: id}
}

// TestRestoreSchedulesStoredWills rebuilds a broker from a store holding
// wills in every state a stop or crash can leave them.
func TestRestoreSchedulesStoredWills(t *testing.T) {
	st := newExtraStore()
	t0 := time.Now()
	now := t0.UnixNano()
	sec := int64(time.Second)
	// A watcher whose stored subscription sees every will, even the ones
	// published during Restore, before any client can connect.
	st.PutSession(SessionRecord{ClientID: "watch", Version: proto.V5, Expiry: 3600, DisconnectedAt: now})
	st.PutSubscription("watch", "will/#", router.SubOptions{QoS: 1})
	add := func(id string, v proto.Version, expiry uint32, disconnectedAt int64, delay uint32) {
		st.PutSession(SessionRecord{ClientID: id, Version: v, Expiry: expiry, DisconnectedAt: disconnectedAt})
		st.PutWill(id, WillRecord{Msg: willMsg(id), Delay: delay, DisconnectedAt: disconnectedAt})
	}
	// Went offline 9 s before the check with a 10 s delay: 1 s left.
	add("waiting", proto.V5, 3600, now-9*sec, 10)
	// Connected when the broker crashed: the delay runs from the restart.
	add("crashed", proto.V5, 3600, 0, 1)
	// 3.1.1, connected at the crash: no delay, so at once.
	add("v3", proto.V311, ExpiryNever, 0, 0)
	// Its delay passed while the broker was down: at once.
	add("overdue", proto.V5, 3600, now-20*sec, 10)
	// Its session expired while the broker was down, before the delay
	// ended: the session's end made the will due [MQTT-3.1.2-8].
	add("expired", proto.V5, 10, now-60*sec, 30)
	// Reconnects within its delay.
	add("back", proto.V5, 3600, now, 1)

	h := newHarness(t, Options{Store: st}, 1)
	require.NoError(t, h.b.Restore())
	h.settle()
	require.ElementsMatch(t, []string{"waiting", "crashed", "back"}, st.willIDs(),
		"published ones leave the store; the expired session took its will with it")
	require.NotContains(t, st.sessionIDs(), "expired")

	watch := h.dial(0)
	require.True(t, watch.connect(connectPacket(proto.V5, "watch", false, 0, 3600)).SessionPresent)
	h.settle()
	require.ElementsMatch(t, []string{"v3", "overdue", "expired"}, payloads(publishes(t, watch.recv())))

	// [MQTT-3.1.3-9] a reconnect within the delay: never published.
	h.online(0, connectPacket(proto.V5, "back", false, 0, 3600))
	require.ElementsMatch(t, []string{"waiting", "crashed"}, st.willIDs())

	arrived := map[string]time.Duration{}
	deadline := time.Now().Add(10 * time.Second)
	for len(arrived) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		h.settle()
		for _, p := range publishes(t, watch.recv()) {
			arrived[string(p.Payload)] = time.Since(t0)
			watch.ack(proto.PUBACK, p.PacketID, proto.Success)
		}
	}
	require.Len(t, arrived, 2, "got %v", arrived)
	// Neither came before its delay: 10 s from a disconnect 9 s before t0,
	// and 1 s from the restart, after t0.
	require.GreaterOrEqual(t, arrived["waiting"], time.Second)
	require.GreaterOrEqual(t, arrived["crashed"], time.Second)
	require.Empty(t, st.willIDs())

	// "back" would have been due by now: it never comes.
	time.Sleep(200 * time.Millisecond)
	h.settle()
	watch.recvNone()
}
