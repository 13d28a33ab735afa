package session

import (
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/router"
)

// memStore is a Store in a map, to check what the session layer writes and
// to feed Restore.
type memStore struct {
	mu       sync.Mutex
	sessions map[string]SessionRecord
	subs     map[string]map[string]router.SubOptions
	retained map[string]*router.Message
	pending  map[string]map[uint64]PendingRecord
	inbound  map[string]map[uint16]bool
	groups   []WriteGroup // copies of what Apply was given, in order
	closed   bool
	hold     bool     // AfterDurable callbacks wait for the test
	fail     error    // the "disk" fails: AfterDurable callbacks get it
	durable  []func() // the held callbacks
}

// AfterDurable runs fn at once (the "disk" commits instantly, or fails
// with m.fail), or, with hold set, keeps it for the test to run with
// takeDurable.
func (m *memStore) AfterDurable(fn func(error)) {
	m.mu.Lock()
	err := m.fail
	if !m.hold {
		m.mu.Unlock()
		fn(err)
		return
	}
	defer m.mu.Unlock()
	m.durable = append(m.durable, func() { fn(err) })
}

// takeDurable returns the callbacks waiting for the "disk".
func (m *memStore) takeDurable() []func() {
	m.mu.Lock()
	defer m.mu.Unlock()
	fs := m.durable
	m.durable = nil
	return fs
}

func newMemStore() *memStore {
	return &memStore{sessions: map[string]SessionRecord{}, subs: map[string]map[string]router.SubOptions{},
		retained: map[string]*router.Message{}, pending: map[string]map[uint64]PendingRecord{},
		inbound: map[string]map[uint16]bool{}}
}

func (m *memStore) PutInbound(id string, pid uint16) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.putInboundLocked(id, pid)
}

func (m *memStore) putInboundLocked(id string, pid uint16) {
	if m.inbound[id] == nil {
		m.inbound[id] = map[uint16]bool{}
	}
	m.inbound[id][pid] = true
}

func (m *memStore) DeleteInbound(id string, pid uint16) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.inbound[id], pid)
}

// inboundOf lists a client's stored inbound QoS 2 packet ids, sorted.
func (m *memStore) inboundOf(id string) []uint16 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []uint16
	for pid := range m.inbound[id] {
		out = append(out, pid)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Apply takes the whole group under one lock, as the real store commits it
// in one batch.
func (m *memStore) Apply(g *WriteGroup) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.groups = append(m.groups, WriteGroup{Pending: slices.Clone(g.Pending), Inbound: slices.Clone(g.Inbound)})
	for _, p := range g.Pending {
		if m.pending[p.ClientID] == nil {
			m.pending[p.ClientID] = map[uint64]PendingRecord{}
		}
		m.pending[p.ClientID][p.Record.Seq] = p.Record
	}
	for _, r := range g.Inbound {
		m.putInboundLocked(r.ClientID, r.PacketID)
	}
}

func (m *memStore) PutPending(id string, r PendingRecord) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pending[id] == nil {
		m.pending[id] = map[uint64]PendingRecord{}
	}
	m.pending[id][r.Seq] = r
}
func (m *memStore) DeletePending(id string, seq uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.pending[id], seq)
}

// pendingOf lists a client's stored messages in Seq order.
func (m *memStore) pendingOf(id string) []PendingRecord {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []PendingRecord
	for _, r := range m.pending[id] {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out
}

func (m *memStore) PutSession(r SessionRecord) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sessions[r.ClientID] = r
}
func (m *memStore) DeleteSession(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.sessions, id)
	delete(m.subs, id)
	delete(m.pending, id)
	delete(m.inbound, id)
}
func (m *memStore) PutSubscription(id, f string, o router.SubOptions) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.subs[id] == nil {
		m.subs[id] = map[string]router.SubOptions{}
	}
	m.subs[id][f] = o
}
func (m *memStore) DeleteSubscription(id, f string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.subs[id], f)
}
func (m *memStore) PutRetained(msg *router.Message) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.retained[msg.Topic] = msg
}
func (m *memStore) DeleteRetained(t string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.retained, t)
}

// Load visits a snapshot, so visitors may write (as they may with the real
// store, whose writes only queue).
func (m *memStore) Load(v LoadVisitor) error {
	m.mu.Lock()
	var sessions []SessionRecord
	for _, r := range m.sessions {
		sessions = append(sessions, r)
	}
	type sub struct {
		id, f string
		o     router.SubOptions
	}
	var subs []sub
	for id, fs := range m.subs {
		for f, o := range fs {
			subs = append(subs, sub{id, f, o})
		}
	}
	var retained []*router.Message
	for _, msg := range m.retained {
		retained = append(retained, msg)
	}
	var ids []string
	for id := range m.pending {
		ids = append(ids, id)
	}
	var inIDs []string
	for id := range m.inbound {
		inIDs = append(inIDs, id)
	}
	m.mu.Unlock()
	for _, r := range sessions {
		v.Session(r)
	}
	for _, s := range subs {
		v.Subscription(s.id, s.f, s.o)
	}
	for _, msg := range retained {
		v.Retained(msg)
	}
	for _, id := range ids {
		for _, r := range m.pendingOf(id) {
			v.Pending(id, r)
		}
	}
	if v.Inbound != nil {
		for _, id := range inIDs {
			for _, pid := range m.inboundOf(id) {
				v.Inbound(id, pid)
			}
		}
	}
	return nil
}
func (m *memStore) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

func (m *memStore) sessionIDs() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	for id := range m.sessions {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func (m *memStore) filters(id string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var fs []string
	for f := range m.subs[id] {
		fs = append(fs, f)
	}
	sort.Strings(fs)
	return fs
}

func TestStoreRecordsPersistentSessionsOnly(t *testing.T) {
	st := newMemStore()
	h := newHarness(t, Options{Store: st}, 1)
	keep := h.online(0, connectPacket(proto.V5, "keep", false, 0, 300))
	keep.subscribe("a/+", 1)
	keep.subscribe("b", 0)
	gone := h.online(0, connectPacket(proto.V5, "gone", true, 0, 0)) // expiry 0: never stored
	gone.subscribe("c", 0)
	v3 := h.online(0, connectPacket(proto.V311, "v3", false, 0, 0)) // clean session 0: kept
	v3.subscribe("d", 1)

	require.Equal(t, []string{"keep", "v3"}, st.sessionIDs())
	require.Equal(t, []string{"a/+", "b"}, st.filters("keep"))
	require.Equal(t, []string{"d"}, st.filters("v3"))

	keep.mustSend(&proto.Unsubscribe{PacketID: 2, Filters: [][]byte{[]byte("b")}})
	require.Equal(t, []string{"a/+"}, st.filters("keep"))

	// Going offline records when, so the expiry can be resumed after a restart.
	keep.drop()
	st.mu.Lock()
	require.NotZero(t, st.sessions["keep"].DisconnectedAt)
	require.EqualValues(t, 300, st.sessions["keep"].Expiry)
	st.mu.Unlock()

	// Clean Start discards the stored session [MQTT-3.1.2-4]; expiry 0
	// means none is stored for the new one either.
	h.online(0, connectPacket(proto.V5, "keep", true, 0, 0))
	require.Equal(t, []string{"v3"}, st.sessionIDs())
	require.Empty(t, st.filters("keep"))
}

func TestStoreRecordsRetainedMessages(t *testing.T) {
	st := newMemStore()
	h := newHarness(t, Options{Store: st}, 1)
	pub := h.online(0, connectPacket(proto.V5, "pub", true, 0, 0))
	pub.mustSend(&proto.Publish{Topic: []byte("r/1"), Payload: []byte("one"), Retain: true})
	pub.mustSend(&proto.Publish{Topic: []byte("r/2"), Payload: []byte("two"), Retain: true})
	pub.mustSend(&proto.Publish{Topic: []byte("n"), Payload: []byte("not retained")})
	pub.mustSend(&proto.Publish{Topic: []byte("r/2"), Retain: true}) // empty: delete
	st.mu.Lock()
	require.Len(t, st.retained, 1)
	require.Equal(t, "one", string(st.retained["r/1"].Payload))
	st.mu.Unlock()
}

func TestRestoreRebuildsSessionsSubscriptionsAndRetained(t *testing.T) {
	st := newMemStore()
	now := time.Now().UnixNano()
	st.PutSession(SessionRecord{ClientID: "dev", Version: proto.V5, Expiry: 3600, DisconnectedAt: now})
	st.PutSubscription("dev", "t/#", router.SubOptions{QoS: 1})
	st.PutSession(SessionRecord{ClientID: "old", Version: proto.V5, Expiry: 10, DisconnectedAt: now - int64(time.Minute)})
	st.PutSubscription("old", "x", router.SubOptions{})
	st.PutRetained(&router.Message{Topic: "t/r", Payload: []byte("kept"), QoS: 1, Retain: true})

	h := newHarness(t, Options{Store: st}, 1)
	require.NoError(t, h.b.Restore())
	h.settle()
	// The expired one is pruned while loading, from memory and store.
	require.Equal(t, 1, h.b.SessionCount())
	require.Equal(t, []string{"dev"}, st.sessionIDs())

	// Messages for the restored session queue while it is offline.
	pub := h.online(0, connectPacket(proto.V5, "pub", true, 0, 0))
	pub.publish("t/live", "queued", 1, 1)
	h.settle()

	c := h.dial(0)
	ack := c.connect(connectPacket(proto.V5, "dev", false, 0, 3600))
	require.True(t, ack.SessionPresent, "[MQTT-3.2.2-3] the session survived the restart")
	got := publishes(t, c.recv())
	require.Equal(t, []string{"queued"}, payloads(got))

	// The retained message is back in the router.
	c.mustSend(&proto.Subscribe{PacketID: 3, Subscriptions: []proto.Subscription{{Filter: []byte("t/r"), QoS: 1}}})
	h.settle()
	ps := c.recv()
	require.Equal(t, []string{"kept"}, payloads(publishes(t, ps[1:])))
}

func TestStoreKeepsQueuedAndInflightMessagesAcrossRestore(t *testing.T) {
	st := newMemStore()
	h := newHarness(t, Options{Store: st, MaxInflight: 2}, 1)
	sub := h.online(0, connectPacket(proto.V5, "dev", false, 0, 3600))
	sub.subscribe("t", 1)
	pub := h.online(0, connectPacket(proto.V5, "pub", true, 0, 0))
	for i := 1; i <= 4; i++ {
		pub.publish("t", string(rune('0'+i)), 1, uint16(i))
	}
	h.settle()
	got := publishes(t, sub.recv())
	require.Equal(t, []string{"1", "2"}, payloads(got), "a window of 2")
	sub.ack(proto.PUBACK, got[0].PacketID, proto.Success) // "1" is done
	h.settle()
	sub.recv() // "3" moved into the window
	recs := st.pendingOf("dev")
	require.Len(t, recs, 3, "2 and 3 in flight, 4 queued; 1 was acknowledged and removed")
	require.NotZero(t, recs[0].PacketID)
	require.NotZero(t, recs[1].PacketID)
	require.Zero(t, recs[2].PacketID)
	sub.drop()
	pub.publish("t", "5", 1, 5) // queued for the offline session
	h.settle()
	require.Len(t, st.pendingOf("dev"), 4)

	// A new broker on the same store: the session comes back with what it
	// had in flight (re-sent with DUP [MQTT-4.4.0-1]) and queued, in order.
	h2 := newHarness(t, Options{Store: st, MaxInflight: 10}, 1)
	require.NoError(t, h2.b.Restore())
	h2.settle()
	back := h2.dial(0)
	require.True(t, back.connect(connectPacket(proto.V5, "dev", false, 0, 3600)).SessionPresent)
	res := publishes(t, back.recv())
	require.Equal(t, []string{"2", "3", "4", "5"}, payloads(res))
	require.True(t, res[0].Dup)
	require.True(t, res[1].Dup)
	require.False(t, res[2].Dup)
	for _, p := range res {
		back.ack(proto.PUBACK, p.PacketID, proto.Success)
	}
	h2.settle()
	require.Empty(t, st.pendingOf("dev"), "delivered messages leave the store")
}

// Under every sync policy an ack waits for the commit of the copies its
// message left for stored sessions [MQTT-4.3.2-1] [MQTT-4.3.3-1].
func TestAcksWaitForTheCommitAndKeepTheirOrder(t *testing.T) {
	st := newMemStore()
	st.hold = true
	// One shard: routing finishes in PUBLISH order, so the callbacks below
	// come in that order and running them backwards is a true reversal.
	h := newHarness(t, Options{Store: st, Router: router.Options{Shards: 1}}, 1)
	sub := h.online(0, connectPacket(proto.V5, "sub", false, 0, 3600))
	sub.subscribe("#", 2)
	sub.drop()
	h.settle()
	pub := h.online(0, connectPacket(proto.V5, "pub", true, 0, 0))
	pub.mustSend(&proto.Publish{Topic: []byte("a/1"), QoS: 1, PacketID: 1, Payload: []byte("x")})
	pub.mustSend(&proto.Publish{Topic: []byte("b/1"), QoS: 2, PacketID: 2, Payload: []byte("x")})
	pub.mustSend(&proto.Publish{Topic: []byte("c/1"), QoS: 1, PacketID: 3, Payload: []byte("x")})
	pub.mustSend(&proto.Publish{Topic: []byte("d/1"), QoS: 0, Payload: []byte("x")})
	h.settle()
	pub.recvNone() // nothing is acknowledged before it is committed

	fs := st.takeDurable()
	require.Len(t, fs, 3, "one wait for each QoS 1/2 message")
	// The disk finishes the last message first: acks still leave in
	// PUBLISH order.
	var got []proto.Packet
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
		h.settle()
		got = append(got, pub.recv()...)
	}
	require.Len(t, got, 3)
	requireAck(t, got[0], proto.PUBACK, 1, proto.Success) // [MQTT-4.6.0-2] in PUBLISH order
	requireAck(t, got[1], proto.PUBREC, 2, proto.Success)
	requireAck(t, got[2], proto.PUBACK, 3, proto.Success)
}
