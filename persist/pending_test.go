package persist

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/router"
	"github.com/loom-mqtt/loom/session"
)

// The three shapes the session layer stores: queued (no packet id), in
// flight with the PUBLISH sent (state 1, message kept for the resend) and in
// flight after PUBREC (state 2, message gone).
func pendingShapes() []session.PendingRecord {
	return []session.PendingRecord{
		{Seq: 1, QoS: 1, SubIDs: []uint32{3, 1<<28 - 1}, Msg: &router.Message{
			Topic: "a/b", Payload: []byte("queued"), QoS: 2, Retain: true, Props: v5Props(),
			Origin: "pub", Expiry: 1_900_000_000_000_000_000}},
		{Seq: 2, QoS: 2, Retain: true, PacketID: 65535, State: 1, Msg: &router.Message{
			Topic: "x", Payload: []byte{}, QoS: 2}},
		{Seq: 1<<64 - 1, QoS: 2, PacketID: 7, State: 3},
	}
}

func assertPendingEqual(t *testing.T, want, got session.PendingRecord) {
	t.Helper()
	wm, gm := want.Msg, got.Msg
	want.Msg, got.Msg = nil, nil
	assert.Equal(t, want, got)
	if wm == nil {
		assert.Nil(t, gm)
		return
	}
	require.NotNil(t, gm)
	assert.Equal(t, wm.Topic, gm.Topic)
	assert.Equal(t, string(wm.Payload), string(gm.Payload))
	assert.Equal(t, wm.QoS, gm.QoS)
	assert.Equal(t, wm.Retain, gm.Retain)
	assert.Equal(t, wm.Origin, gm.Origin)
	assert.Equal(t, wm.Expiry, gm.Expiry)
	if wm.Props == nil {
		assert.Nil(t, gm.Props)
	} else {
		assertPropsEqual(t, wm.Props, gm.Props)
	}
}

func TestPendingCodec(t *testing.T) {
	for _, r := range pendingShapes() {
		got, err := decodePending(r.Seq, encodePending(r))
		require.NoError(t, err, "seq %d", r.Seq)
		assertPendingEqual(t, r, got)
	}
}

func TestPendingDecodeRejects(t *testing.T) {
	shapes := pendingShapes()
	withMsg, noMsg := encodePending(shapes[0]), encodePending(shapes[2])
	set := func(v []byte, i int, b byte) []byte {
		v = bytes.Clone(v)
		v[i] = b
		return v
	}
	tests := []struct {
		name string
		v    []byte
	}{
		{"empty", nil},
		{"unknown format", set(noMsg, 0, 2)},
		{"short", noMsg[:pendingV1Head]},
		{"qos 3", set(noMsg, 1, 3)},
		{"unknown flag", set(noMsg, 2, 4)},
		{"state 4", set(noMsg, 5, 4)},
		{"id count past the end", set(noMsg, pendingV1Head, 5)},
		{"id count overlong varint", append(noMsg[:pendingV1Head:pendingV1Head], 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)},
		{"id over 32 bits", append(noMsg[:pendingV1Head:pendingV1Head], 1, 0x80, 0x80, 0x80, 0x80, 0x10)},
		{"trailing without message", append(bytes.Clone(noMsg), 0)},
		{"message flag without message", set(noMsg, 2, pendingHasMsg)},
		{"message truncated", withMsg[:len(withMsg)-1]},
		{"message trailing", append(bytes.Clone(withMsg), 0)},
	}
	for _, tt := range tests {
		if _, err := decodePending(1, tt.v); err == nil {
			t.Errorf("%s: decoded % x", tt.name, tt.v)
		}
	}
}

func TestPendingKeys(t *testing.T) {
	for _, cid := range []string{"", "a", "a/b", string(make([]byte, 300))} {
		for _, seq := range []uint64{0, 1, 255, 256, 1<<64 - 1} {
			gc, gs, err := parsePendingKey(pendingKey(cid, seq))
			if err != nil || gc != cid || gs != seq {
				t.Errorf("parsePendingKey(pendingKey(%q, %d)) = %q, %d, %v", cid, seq, gc, gs, err)
			}
		}
	}
	for _, k := range [][]byte{
		[]byte("q/\x01a"),                 // no sequence number
		[]byte("q/\x01a\x00\x00\x00\x01"), // short sequence number
		append(pendingKey("a", 1), 0),     // trailing byte
	} {
		if _, _, err := parsePendingKey(k); err == nil {
			t.Errorf("parsePendingKey(%q) accepted", k)
		}
	}
}

func TestPendingRoundTripAndReopen(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, SyncAlways)
	s.PutSession(session.SessionRecord{ClientID: "c", Version: proto.V5})
	want := pendingShapes()
	// Stored out of order: Load still reports them in Seq order.
	for i := len(want) - 1; i >= 0; i-- {
		s.PutPending("c", want[i])
	}
	require.NoError(t, s.Flush())
	check := func(c contents) {
		t.Helper()
		require.Len(t, c.pending["c"], len(want))
		for i := range want {
			assertPendingEqual(t, want[i], c.pending["c"][i])
		}
	}
	check(load(t, s))
	require.NoError(t, s.Close())

	s = open(t, dir, SyncAlways)
	defer s.Close()
	c := load(t, s)
	assert.Contains(t, c.sessions, "c")
	check(c)
}

// A little-endian or varint sequence number would put 256 before 2; the key
// must sort numerically, across byte boundaries.
func TestPendingLoadsInSeqOrder(t *testing.T) {
	s := open(t, t.TempDir(), SyncNone)
	defer s.Close()
	const n = 600
	// Interleave two clients and write the sequence numbers scrambled.
	for i := range uint64(n) {
		seq := (i*257 + 11) % n
		s.PutPending("c1", session.PendingRecord{Seq: seq, QoS: 1})
		s.PutPending("c2", session.PendingRecord{Seq: seq<<32 | 1, QoS: 2})
	}
	require.NoError(t, s.Flush())
	var got1, got2 []uint64
	require.NoError(t, s.Load(session.LoadVisitor{Pending: func(cid string, r session.PendingRecord) {
		switch cid {
		case "c1":
			got1 = append(got1, r.Seq)
		case "c2":
			got2 = append(got2, r.Seq)
		default:
			t.Errorf("record of unknown client %q", cid)
		}
	}}))
	require.Len(t, got1, n)
	require.Len(t, got2, n)
	for i := range uint64(n) {
		require.Equal(t, i, got1[i])
		require.Equal(t, i<<32|1, got2[i])
	}
}

func TestDeleteSessionRemovesPending(t *testing.T) {
	s := open(t, t.TempDir(), SyncNone)
	defer s.Close()
	ids := []string{"a", "ab", "a/b", "b", ""}
	for _, cid := range ids {
		s.PutSession(session.SessionRecord{ClientID: cid, Version: proto.V5})
		for seq := range uint64(3) {
			s.PutPending(cid, session.PendingRecord{Seq: seq, QoS: 1, Msg: &router.Message{Topic: "t", Payload: []byte(cid)}})
		}
	}
	s.DeleteSession("a")
	s.DeleteSession("")
	require.NoError(t, s.Flush())
	c := load(t, s)
	assert.NotContains(t, c.pending, "a")
	assert.NotContains(t, c.pending, "")
	for _, cid := range []string{"ab", "a/b", "b"} {
		require.Len(t, c.pending[cid], 3, cid)
		assert.Equal(t, cid, string(c.pending[cid][0].Msg.Payload))
	}
}

func TestDeletePending(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, SyncInterval)
	for seq := range uint64(5) {
		s.PutPending("c", session.PendingRecord{Seq: seq, QoS: 1})
		s.PutPending("c2", session.PendingRecord{Seq: seq, QoS: 1})
	}
	s.DeletePending("c", 0)
	s.DeletePending("c", 3)
	s.DeletePending("c", 99) // absent: no effect
	// Replacing a record: the state moves on, the message is dropped.
	s.PutPending("c", session.PendingRecord{Seq: 4, QoS: 2, PacketID: 9, State: 3})
	require.NoError(t, s.Close())

	s = open(t, dir, SyncInterval)
	defer s.Close()
	c := load(t, s)
	assert.Equal(t, []session.PendingRecord{
		{Seq: 1, QoS: 1}, {Seq: 2, QoS: 1}, {Seq: 4, QoS: 2, PacketID: 9, State: 3},
	}, c.pending["c"])
	assert.Len(t, c.pending["c2"], 5, "another client's record of the same seq stays")
}

// A session deleted and started again in one batch keeps only what was
// written after the delete.
func TestPendingOrderWithinABatch(t *testing.T) {
	s := open(t, t.TempDir(), SyncNone)
	defer s.Close()
	s.PutPending("c", session.PendingRecord{Seq: 1, QoS: 1})
	s.PutPending("c", session.PendingRecord{Seq: 2, QoS: 1})
	s.DeleteSession("c")
	s.PutPending("c", session.PendingRecord{Seq: 2, QoS: 2})
	require.NoError(t, s.Flush())
	assert.Equal(t, []session.PendingRecord{{Seq: 2, QoS: 2}}, load(t, s).pending["c"])
}

func TestPutPendingKeepsItsOwnCopy(t *testing.T) {
	s := open(t, t.TempDir(), SyncNone)
	defer s.Close()
	r := session.PendingRecord{Seq: 1, QoS: 1, SubIDs: []uint32{4}, Msg: &router.Message{Topic: "t", Payload: []byte("before")}}
	s.PutPending("c", r)
	copy(r.Msg.Payload, "AFTER!")
	r.SubIDs[0] = 5
	require.NoError(t, s.Flush())
	got := load(t, s).pending["c"]
	require.Len(t, got, 1)
	assert.Equal(t, "before", string(got[0].Msg.Payload))
	assert.Equal(t, []uint32{4}, got[0].SubIDs)
}

func TestLoadCorruptPending(t *testing.T) {
	for name, kv := range map[string][2][]byte{
		"bad key":   {[]byte("q/\x01c\x00"), encodePending(session.PendingRecord{Seq: 1, QoS: 1})},
		"bad value": {pendingKey("c", 1), {pendingFormat1, 3}},
	} {
		t.Run(name, func(t *testing.T) {
			s := open(t, t.TempDir(), SyncNone)
			defer s.Close()
			require.NoError(t, s.db.Set(kv[0], kv[1], nil))
			err := s.Load(session.LoadVisitor{Pending: func(string, session.PendingRecord) {}})
			require.Error(t, err)
			assert.Contains(t, err.Error(), fmt.Sprintf("%q", kv[0]))
		})
	}
}
