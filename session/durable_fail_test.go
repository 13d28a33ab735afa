package session

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/proto"
)

// A store whose commits fail never leads to an acknowledgement that claims
// the packet done: a v5 PUBACK or PUBREC says 0x80 (a PUBREC ending the
// flow, so its packet id is free again [MQTT-4.3.3-9]); a PUBCOMP, which
// has no failure code, and every 3.1.1 ack close the connection instead
// (v5: DISCONNECT 0x80 [MQTT-4.13.1-1]), so the client sends again.
func TestFailedCommitIsNeverAcknowledged(t *testing.T) {
	st := newMemStore()
	h := newHarness(t, Options{Store: st}, 1)
	sub := h.online(0, connectPacket(proto.V5, "sub", false, 0, 3600))
	sub.subscribe("#", 2)
	sub.drop() // a stored session: every QoS 1/2 message is written for it
	h.settle()
	st.mu.Lock()
	st.fail = errors.New("disk full")
	st.mu.Unlock()

	pub := h.online(0, connectPacket(proto.V5, "pub", true, 0, 0))
	pub.mustSend(&proto.Publish{Topic: []byte("t"), Payload: []byte("x"), QoS: 1, PacketID: 1})
	h.settle()
	requireAck(t, pub.recvOne(), proto.PUBACK, 1, proto.UnspecifiedError) // [MQTT-3.4.2-1]
	pub.mustSend(&proto.Publish{Topic: []byte("t"), Payload: []byte("x"), QoS: 2, PacketID: 2})
	h.settle()
	requireAck(t, pub.recvOne(), proto.PUBREC, 2, proto.UnspecifiedError) // [MQTT-3.5.2-1]
	s := pub.c.sess
	s.mu.Lock()
	require.Empty(t, s.inQoS2, "a failed PUBREC ends the flow")
	s.mu.Unlock()

	// A QoS 2 flow whose PUBREC was committed, whose PUBREL's record
	// delete is not: no PUBCOMP, the connection ends with the reason.
	st.mu.Lock()
	st.fail = nil
	st.mu.Unlock()
	q := h.online(0, connectPacket(proto.V5, "q", false, 0, 3600))
	q.mustSend(&proto.Publish{Topic: []byte("t"), Payload: []byte("x"), QoS: 2, PacketID: 3})
	h.settle()
	requireAck(t, q.recvOne(), proto.PUBREC, 3, proto.Success)
	st.mu.Lock()
	st.fail = errors.New("disk full")
	st.mu.Unlock()
	q.mustSend(&proto.Ack{Type: proto.PUBREL, PacketID: 3})
	h.settle()
	requireDisconnect(t, q.recvOne(), proto.UnspecifiedError)

	// 3.1.1 has no reason codes: the connection ends, nothing acknowledged.
	old := h.dial(0)
	old.connect(connectPacket(proto.V311, "old", true, 0, 0))
	old.mustSend(&proto.Publish{Topic: []byte("t"), Payload: []byte("x"), QoS: 1, PacketID: 4})
	h.settle()
	old.recvNone()
	require.True(t, old.conn.closed())
}
