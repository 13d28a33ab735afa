package persist

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/router"
	"github.com/loom-mqtt/loom/session"
)

func TestWillCodec(t *testing.T) {
	tests := []struct {
		name string
		w    session.WillRecord
	}{
		{"3.1.1, connected", session.WillRecord{Msg: &router.Message{Topic: "will/a", Payload: []byte("bye"), Origin: "a"}}},
		{"v5 delayed, retained, properties", session.WillRecord{
			Msg: &router.Message{Topic: "will/b", Payload: []byte("gone"), QoS: 2, Retain: true,
				Props: v5Props(), Origin: "b"},
			Delay: 3600, DisconnectedAt: 1_700_000_000_123_456_789}},
		{"empty payload, max delay", session.WillRecord{
			Msg: &router.Message{Topic: "t", QoS: 1}, Delay: 0xFFFFFFFF, DisconnectedAt: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeWill(encodeWill(tt.w))
			require.NoError(t, err)
			assert.Equal(t, tt.w.Delay, got.Delay)
			assert.Equal(t, tt.w.DisconnectedAt, got.DisconnectedAt)
			m := got.Msg
			require.NotNil(t, m)
			assert.Equal(t, tt.w.Msg.Topic, m.Topic)
			assert.Equal(t, string(tt.w.Msg.Payload), string(m.Payload))
			assert.Equal(t, tt.w.Msg.QoS, m.QoS)
			assert.Equal(t, tt.w.Msg.Retain, m.Retain)
			assert.Equal(t, tt.w.Msg.Origin, m.Origin)
			if tt.w.Msg.Props == nil {
				assert.Nil(t, m.Props)
			} else {
				assertPropsEqual(t, tt.w.Msg.Props, m.Props)
			}
		})
	}
}

func TestCountersCodec(t *testing.T) {
	for _, c := range []session.Counters{
		{},
		{Connections: 1, MessagesIn: 2, MessagesOut: 3, BytesIn: 4, BytesOut: 5, Dropped: 6, ProtocolFails: 7, MaxConnected: 8, ReadPauses: 9,
			Drops: [...]int64{10, 11, 12, 13, 14, 15, 16, 17}},
		{MessagesIn: 1 << 62, BytesOut: 1<<63 - 1},
	} {
		got, err := decodeCounters(encodeCounters(c))
		require.NoError(t, err)
		assert.Equal(t, c, got)
	}
}

// A record with more counters (a later version) or fewer (an earlier one)
// still loads: the known ones are read, the rest skipped or left at zero.
func TestCountersCodecOtherLengths(t *testing.T) {
	longer := []byte{countersFormat1}
	longer = binary.AppendUvarint(longer, 30)
	for i := range 30 {
		longer = binary.AppendVarint(longer, int64(i+1))
	}
	got, err := decodeCounters(longer)
	require.NoError(t, err)
	want := session.Counters{Connections: 1, MessagesIn: 2, MessagesOut: 3, BytesIn: 4, BytesOut: 5,
		Dropped: 6, ProtocolFails: 7, MaxConnected: 8, ReadPauses: 9}
	for i := range want.Drops {
		want.Drops[i] = int64(10 + i) // the drops by cause follow, in DropCause order
	}
	assert.Equal(t, want, got)

	shorter := []byte{countersFormat1, 2, 2 * 40, 2 * 41} // zigzag varints 40, 41
	got, err = decodeCounters(shorter)
	require.NoError(t, err)
	assert.Equal(t, session.Counters{Connections: 40, MessagesIn: 41}, got)
}

func TestExtraDecodeRejects(t *testing.T) {
	goodWill := encodeWill(session.WillRecord{Msg: &router.Message{Topic: "t", Payload: []byte("x")}, Delay: 5})
	goodCounters := encodeCounters(session.Counters{MessagesIn: 300})
	tests := []struct {
		name   string
		decode func([]byte) error
		v      []byte
	}{
		{"will empty", decWill, nil},
		{"will unknown format", decWill, append([]byte{9}, goodWill[1:]...)},
		{"will header only", decWill, goodWill[:willV1Head]},
		{"will truncated message", decWill, goodWill[:len(goodWill)-1]},
		{"will trailing", decWill, append(append([]byte(nil), goodWill...), 0)},
		{"counters empty", decCounters, nil},
		{"counters unknown format", decCounters, append([]byte{2}, goodCounters[1:]...)},
		{"counters truncated", decCounters, goodCounters[:len(goodCounters)-1]},
		{"counters trailing", decCounters, append(append([]byte(nil), goodCounters...), 0)},
		{"counters count beyond the value", decCounters, []byte{countersFormat1, 200, 1}},
		{"counters huge count", decCounters, binary.AppendUvarint([]byte{countersFormat1}, 1<<62)},
	}
	for _, tt := range tests {
		if err := tt.decode(tt.v); err == nil {
			t.Errorf("%s: decoded % x", tt.name, tt.v)
		}
	}
}

func decWill(v []byte) error     { _, err := decodeWill(v); return err }
func decCounters(v []byte) error { _, err := decodeCounters(v); return err }

// extraContents is what Load reports of wills and counters, and the order
// in which it reported the kinds.
type extraContents struct {
	wills    map[string]session.WillRecord
	counters []session.Counters
	order    []string
}

func loadExtra(t testing.TB, s *Store) extraContents {
	t.Helper()
	c := extraContents{wills: map[string]session.WillRecord{}}
	kind := func(k string) {
		if n := len(c.order); n == 0 || c.order[n-1] != k {
			c.order = append(c.order, k)
		}
	}
	require.NoError(t, s.Load(session.LoadVisitor{
		Will: func(cid string, w session.WillRecord) {
			kind("will")
			c.wills[cid] = w
		},
		Counters: func(n session.Counters) {
			kind("counters")
			c.counters = append(c.counters, n)
		},
		Session:      func(session.SessionRecord) { kind("session") },
		Subscription: func(string, string, router.SubOptions) { kind("subscription") },
		Retained:     func(*router.Message) { kind("retained") },
		Pending:      func(string, session.PendingRecord) { kind("pending") },
	}))
	return c
}

func TestWillsAndCountersRoundTripAndReopen(t *testing.T) {
	for _, p := range []SyncPolicy{SyncInterval, SyncAlways, SyncNone} {
		t.Run(p.String(), func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, dir, p)
			fill(s)
			m := &router.Message{Topic: "will/v5", Payload: []byte("bye"), QoS: 1, Retain: true, Props: v5Props(), Origin: "v5"}
			s.PutWill("v5", session.WillRecord{Msg: m, Delay: 30, DisconnectedAt: 42})
			m.Expiry = 99 // stamped when published: the store has its own copy
			s.PutWill("v3", session.WillRecord{Msg: &router.Message{Topic: "will/v3", Payload: []byte("x")}})
			s.PutCounters(session.Counters{MessagesIn: 1})
			s.PutCounters(session.Counters{MessagesIn: 2, MaxConnected: 3}) // replaces
			require.NoError(t, s.Close())

			s = open(t, dir, p)
			defer s.Close()
			c := loadExtra(t, s)
			// Wills and counters before everything else: a visitor deleting an
			// expired session must not hide its will.
			assert.Equal(t, []string{"will", "counters", "session", "subscription", "retained"}, c.order)
			require.Len(t, c.wills, 2)
			w := c.wills["v5"]
			assert.Equal(t, uint32(30), w.Delay)
			assert.Equal(t, int64(42), w.DisconnectedAt)
			assert.Equal(t, "bye", string(w.Msg.Payload))
			assert.True(t, w.Msg.Retain)
			assert.Zero(t, w.Msg.Expiry)
			assertPropsEqual(t, v5Props(), w.Msg.Props)
			assert.Equal(t, []session.Counters{{MessagesIn: 2, MaxConnected: 3}}, c.counters)
			checkFilled(t, load(t, s))
		})
	}
}

func TestDeleteSessionTakesItsWill(t *testing.T) {
	s := open(t, t.TempDir(), SyncNone)
	defer s.Close()
	for _, cid := range []string{"a", "ab", "a/b", "b"} {
		s.PutSession(session.SessionRecord{ClientID: cid, Version: proto.V5})
		s.PutWill(cid, session.WillRecord{Msg: &router.Message{Topic: "will/" + cid}})
	}
	s.PutCounters(session.Counters{MessagesIn: 7})
	s.DeleteSession("a")
	s.DeleteWill("b")
	require.NoError(t, s.Flush())
	c := loadExtra(t, s)
	assert.NotContains(t, c.wills, "a")
	assert.NotContains(t, c.wills, "b")
	assert.Contains(t, c.wills, "ab", "a client whose id starts with the deleted one keeps its will")
	assert.Contains(t, c.wills, "a/b")
	assert.Equal(t, []session.Counters{{MessagesIn: 7}}, c.counters, "counters belong to no session")

	// A will put after its session's deletion in the same batch survives.
	s.DeleteSession("ab")
	s.PutSession(session.SessionRecord{ClientID: "ab", Version: proto.V5})
	s.PutWill("ab", session.WillRecord{Msg: &router.Message{Topic: "again"}})
	require.NoError(t, s.Flush())
	assert.Equal(t, "again", loadExtra(t, s).wills["ab"].Msg.Topic)
}

func TestLoadCorruptExtraRecord(t *testing.T) {
	goodWill := encodeWill(session.WillRecord{Msg: &router.Message{Topic: "t"}})
	tests := []struct{ key, val string }{
		{"w/\x01c", "\x01\x05"},
		{"w/\x05c", string(goodWill)}, // length prefix beyond the key
		{"w/\x01cX", string(goodWill)},
		{"c/broker", "\x07"},
		{"c/other", string(encodeCounters(session.Counters{}))},
	}
	for _, tt := range tests {
		s := open(t, t.TempDir(), SyncNone)
		require.NoError(t, s.db.Set([]byte(tt.key), []byte(tt.val), nil))
		err := s.Load(session.LoadVisitor{
			Will:     func(string, session.WillRecord) {},
			Counters: func(session.Counters) {},
		})
		if assert.Error(t, err, "key %q", tt.key) {
			assert.Contains(t, err.Error(), fmt.Sprintf("%q", tt.key))
		}
		// Without visitors for them, the records are not even read.
		assert.NoError(t, s.Load(session.LoadVisitor{Session: func(session.SessionRecord) {}}))
		require.NoError(t, s.Close(), "Load left an iterator open")
	}
}
