package session

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/proto"
)

// [MQTT-2.2.1-4] [MQTT-2.3.1-1 v3.1.1] [MQTT-2.3.1-4 v3.1.1]: each new outbound
// QoS 1/2 PUBLISH gets a non-zero packet id that is not in use.
func TestNextPacketID(t *testing.T) {
	all := func(except ...uint16) map[uint16]*inflight {
		m := make(map[uint16]*inflight, 65535)
		for id := 1; id <= 65535; id++ {
			m[uint16(id)] = &inflight{}
		}
		for _, id := range except {
			delete(m, id)
		}
		return m
	}
	some := func(ids ...uint16) map[uint16]*inflight {
		m := make(map[uint16]*inflight)
		for _, id := range ids {
			m[id] = &inflight{}
		}
		return m
	}
	tests := []struct {
		name     string
		last     uint16 // nextPID before the call
		inflight map[uint16]*inflight
		want     uint16
	}{
		{"first id is 1", 0, nil, 1},
		{"counts up", 41, nil, 42},
		{"wraps past 65535 to 1, never 0", 65535, nil, 1},
		{"skips ids in flight", 0, some(1, 2, 3), 4},
		{"skips ids in flight across the wrap", 65534, some(65535, 1, 2), 3},
		{"finds the one free id behind it", 1000, all(777), 777},
		{"0 when all 65,535 are in flight", 123, all(), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Session{nextPID: tt.last, inflight: tt.inflight}
			got := s.nextPacketIDLocked()
			require.Equal(t, tt.want, got)
			if got != 0 {
				require.NotContains(t, tt.inflight, got)
			}
		})
	}
}

// Packet ids on the wire: distinct while in flight, never 0 across the
// wrap, and an id comes free again only with its acknowledgement.
func TestPacketIDsOnTheWire(t *testing.T) {
	h := newHarness(t, Options{MaxInflight: 3}, 1)
	sub := h.online(0, connectPacket(proto.V5, "sub", true, 0, 0))
	sub.subscribe("ids", 1)
	pub := h.online(0, connectPacket(proto.V5, "pub", true, 0, 0))

	s := sub.c.sess
	s.mu.Lock()
	s.nextPID = 65533
	s.mu.Unlock()

	for i := range 3 {
		pub.publish("ids", string(rune('a'+i)), 1, uint16(i+1))
	}
	h.settle()
	got := publishes(t, sub.recv())
	require.Len(t, got, 3)
	var ids []uint16
	for _, p := range got {
		ids = append(ids, p.PacketID)
	}
	require.Equal(t, []uint16{65534, 65535, 1}, ids)

	// 65535 is acknowledged; 65534 and 1 stay in flight, and the next id
	// after 1 is 2.
	sub.ack(proto.PUBACK, 65535, proto.Success)
	pub.publish("ids", "d", 1, 4)
	h.settle()
	p := publishes(t, sub.recv())
	require.Len(t, p, 1)
	require.Equal(t, uint16(2), p[0].PacketID)
}
