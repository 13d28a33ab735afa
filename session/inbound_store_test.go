package session

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/router"
)

// groupWith returns the group that holds the inbound record of (id, pid).
func (m *memStore) groupWith(id string, pid uint16) *WriteGroup {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.groups {
		for _, r := range m.groups[i].Inbound {
			if r.ClientID == id && r.PacketID == pid {
				return &m.groups[i]
			}
		}
	}
	return nil
}

func pendingClients(g *WriteGroup) []string {
	var ids []string
	for _, p := range g.Pending {
		ids = append(ids, p.ClientID)
	}
	return ids
}

// The record that a QoS 2 PUBLISH was received is committed in the same
// group as the copies routed to stored sessions, offline and connected: a
// crash keeps both or neither, so a re-sent PUBLISH is neither lost nor
// delivered twice [MQTT-4.3.3-10].
func TestInboundQoS2RecordCommitsWithItsRoutedCopies(t *testing.T) {
	st := newMemStore()
	h := newHarness(t, Options{Store: st}, 1)
	off := h.online(0, connectPacket(proto.V5, "off", false, 0, 3600))
	off.subscribe("t", 2)
	off.drop()
	live := h.online(0, connectPacket(proto.V5, "live", false, 0, 3600))
	live.subscribe("t", 1)
	brief := h.online(0, connectPacket(proto.V5, "brief", true, 0, 0)) // not stored
	brief.subscribe("t", 2)
	pub := h.online(0, connectPacket(proto.V5, "pub", false, 0, 3600))

	pub.publish("t", "x", 2, 7)
	h.settle()
	g := st.groupWith("pub", 7)
	require.NotNil(t, g, "the inbound record is written in a group")
	require.ElementsMatch(t, []string{"off", "live"}, pendingClients(g),
		"with the copies for both stored sessions, and none for the unstored one")
	require.Equal(t, []uint16{7}, st.inboundOf("pub"))
	require.Len(t, publishes(t, live.recv()), 1)
	require.Len(t, publishes(t, brief.recv()), 1)

	// PUBREL ends the flow and removes the record [MQTT-4.3.3-11].
	pub.ack(proto.PUBREL, 7, proto.Success)
	h.settle() // the PUBCOMP waits for the record's delete to commit
	requireAck(t, pub.recvOne(), proto.PUBCOMP, 7, proto.Success)
	require.Empty(t, st.inboundOf("pub"))
}

// A QoS 2 message that reaches no stored session still leaves its record;
// one from a session that is not stored leaves none.
func TestInboundQoS2RecordWithoutStoredReceivers(t *testing.T) {
	st := newMemStore()
	h := newHarness(t, Options{Store: st}, 1)
	pub := h.online(0, connectPacket(proto.V5, "pub", false, 0, 3600))
	pub.publish("nobody/listens", "x", 2, 3)
	h.settle()
	require.Equal(t, []uint16{3}, st.inboundOf("pub"))

	tmp := h.online(0, connectPacket(proto.V5, "tmp", true, 0, 0))
	tmp.publish("nobody/listens", "x", 2, 4)
	h.settle()
	require.Empty(t, st.inboundOf("tmp"))
}

// After a restart, a QoS 2 PUBLISH whose record survived is not delivered
// again when the client re-sends it [MQTT-4.3.3-10] [MQTT-4.4.0-1], and its
// PUBREL completes normally rather than as an unknown packet id.
func TestRestoredInboundQoS2RecordStopsRedelivery(t *testing.T) {
	st := newMemStore()
	st.PutSession(SessionRecord{ClientID: "pub", Version: proto.V5, Expiry: 3600, DisconnectedAt: time.Now().UnixNano()})
	st.PutInbound("pub", 9)
	st.PutInbound("ghost", 1) // a session that is not there: removed on load

	h := newHarness(t, Options{Store: st}, 1)
	require.NoError(t, h.b.Restore())
	h.settle()
	require.Empty(t, st.inboundOf("ghost"))
	sub := h.online(0, connectPacket(proto.V5, "sub", true, 0, 0))
	sub.subscribe("t", 2)

	pub := h.dial(0)
	require.True(t, pub.connect(connectPacket(proto.V5, "pub", false, 0, 3600)).SessionPresent)
	pub.mustSend(&proto.Publish{Topic: []byte("t"), Payload: []byte("again"), QoS: 2, PacketID: 9, Dup: true})
	requireAck(t, pub.recvOne(), proto.PUBREC, 9, proto.Success)
	h.settle()
	sub.recvNone()
	pub.ack(proto.PUBREL, 9, proto.Success)
	h.settle() // the PUBCOMP waits for the record's delete to commit
	requireAck(t, pub.recvOne(), proto.PUBCOMP, 9, proto.Success)
	require.Empty(t, st.inboundOf("pub"))

	// The packet id is free again: a new message with it is delivered.
	pub.publish("t", "new", 2, 9)
	h.settle()
	require.Equal(t, []string{"new"}, payloads(publishes(t, sub.recv())))
}

// The PUBCOMP, too, waits until the record's removal is
// on disk: the client may reuse the id as soon as it has the PUBCOMP.
func TestPubcompWaitsForDisk(t *testing.T) {
	st := newMemStore()
	st.hold = true
	h := newHarness(t, Options{Store: st}, 1)
	pub := h.online(0, connectPacket(proto.V5, "pub", false, 0, 3600))
	pub.mustSend(&proto.Publish{Topic: []byte("t"), Payload: []byte("x"), QoS: 2, PacketID: 5})
	h.settle()
	pub.recvNone()
	for _, f := range st.takeDurable() {
		f()
	}
	h.settle()
	requireAck(t, pub.recvOne(), proto.PUBREC, 5, proto.Success)
	require.Equal(t, []uint16{5}, st.inboundOf("pub"))

	pub.ack(proto.PUBREL, 5, proto.Success)
	h.settle()
	pub.recvNone()
	require.Empty(t, st.inboundOf("pub"))
	fs := st.takeDurable()
	require.Len(t, fs, 1)
	fs[0]()
	h.settle()
	requireAck(t, pub.recvOne(), proto.PUBCOMP, 5, proto.Success)
}

// A PUBREL can beat the shard that writes the record (a client that sends it
// before its PUBREC came): the record must not be left behind either way.
func TestInboundRecordReleasedBeforeWritten(t *testing.T) {
	st := newMemStore()
	h := newHarness(t, Options{Store: st}, 1)
	s := newSession(h.b, "pub")
	s.setStored(true)

	// PUBREL first, then the shard's write: the shard deletes after writing.
	r := &publishRef{clientID: "pub", pid: 1}
	s.releaseInboundLocked(r, 1)
	require.Empty(t, st.inboundOf("pub"), "nothing written yet, nothing to delete")
	st.PutInbound("pub", 1)
	h.b.written(r)
	require.Empty(t, st.inboundOf("pub"))

	// The usual order: written, then released.
	r = &publishRef{clientID: "pub", pid: 2}
	st.PutInbound("pub", 2)
	h.b.written(r)
	require.Equal(t, []uint16{2}, st.inboundOf("pub"))
	s.releaseInboundLocked(r, 2)
	require.Empty(t, st.inboundOf("pub"))
}

// A stored session that is connected gets its copy written while routing,
// before its loop sends it: an ack that waits for the disk covers it.
func TestConnectedStoredSessionCopyWrittenWhileRouting(t *testing.T) {
	st := newMemStore()
	st.hold = true
	h := newHarness(t, Options{Store: st}, 1)
	live := h.online(0, connectPacket(proto.V5, "live", false, 0, 3600))
	live.subscribe("t", 1)
	pub := h.online(0, connectPacket(proto.V5, "pub", true, 0, 0))
	pub.mustSend(&proto.Publish{Topic: []byte("t"), Payload: []byte("x"), QoS: 1, PacketID: 1})
	h.b.Router().Barrier() // routed, but the subscriber's loop has not run
	recs := st.pendingOf("live")
	require.Len(t, recs, 1, "written on the shard, before any loop saw it")
	require.Zero(t, recs[0].PacketID)
	h.settle()
	got := publishes(t, live.recv())
	require.Len(t, got, 1)
	recs = st.pendingOf("live")
	require.Len(t, recs, 1)
	require.Equal(t, got[0].PacketID, recs[0].PacketID, "then updated with the packet id it was sent with")
	live.ack(proto.PUBACK, got[0].PacketID, proto.Success)
	h.settle()
	require.Empty(t, st.pendingOf("live"))
}

// Messages that expired while the broker was down are pruned while loading
// [MQTT-3.3.2-5]: queued ones and retained ones; one already in flight is
// kept, its delivery having begun.
func TestRestorePrunesExpiredMessages(t *testing.T) {
	st := newMemStore()
	now := time.Now()
	past, future := now.Add(-time.Minute).UnixNano(), now.Add(time.Hour).UnixNano()
	st.PutSession(SessionRecord{ClientID: "dev", Version: proto.V5, Expiry: 3600, DisconnectedAt: now.UnixNano()})
	st.PutPending("dev", PendingRecord{Seq: 1, QoS: 1, PacketID: 4, State: waitPuback,
		Msg: &router.Message{Topic: "t", Payload: []byte("in flight"), QoS: 1, Expiry: past}})
	st.PutPending("dev", PendingRecord{Seq: 2, QoS: 1, Msg: &router.Message{Topic: "t", Payload: []byte("stale"), QoS: 1, Expiry: past}})
	st.PutPending("dev", PendingRecord{Seq: 3, QoS: 1, Msg: &router.Message{Topic: "t", Payload: []byte("fresh"), QoS: 1, Expiry: future}})
	st.PutRetained(&router.Message{Topic: "r/old", Payload: []byte("x"), Retain: true, Expiry: past})
	st.PutRetained(&router.Message{Topic: "r/new", Payload: []byte("y"), Retain: true, Expiry: future})

	h := newHarness(t, Options{Store: st}, 1)
	require.NoError(t, h.b.Restore())
	h.settle()
	recs := st.pendingOf("dev")
	require.Len(t, recs, 2)
	require.Equal(t, []uint64{1, 3}, []uint64{recs[0].Seq, recs[1].Seq})
	st.mu.Lock()
	_, old := st.retained["r/old"]
	st.mu.Unlock()
	require.False(t, old, "expired retained message removed from the store")

	c := h.dial(0)
	require.True(t, c.connect(connectPacket(proto.V5, "dev", false, 0, 3600)).SessionPresent)
	require.Equal(t, []string{"in flight", "fresh"}, payloads(publishes(t, c.recv())))
	c.mustSend(&proto.Subscribe{PacketID: 9, Subscriptions: []proto.Subscription{{Filter: []byte("r/#")}}})
	h.settle()
	ps := c.recv()
	require.Equal(t, []string{"y"}, payloads(publishes(t, ps[1:])))
}
