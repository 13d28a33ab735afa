package persist

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/router"
	"github.com/loom-mqtt/loom/session"
)

// Deleted sessions (with their subscriptions and pending messages) and
// retained messages leave tombstones; once compacted
// their space must come back, so a store whose live contents stay the same
// does not grow with churn. The broker gets this from Pebble's own
// compactions as the store grows, and from Store.Compact on a slow timer.
//
// What remains after each round is Pebble's fixed overhead: write-ahead log
// files kept for recycling (a few memtables' worth). Tables the compaction
// made obsolete are deleted asynchronously; the measure waits for that
// (boundedly), since whether a 1.5 MB table is gone yet or not is timing,
// not growth. It levels off after a few rounds.
func TestSpaceComesBack(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and deletes 160,000 sessions and retained messages")
	}
	const n, rounds = 20_000, 8
	s, err := Open(Options{Dir: t.TempDir(), Sync: SyncNone, Logger: quiet})
	require.NoError(t, err)
	defer s.Close()
	payload := make([]byte, 100)
	var sizes []uint64
	for r := range rounds {
		for i := range n {
			cid := fmt.Sprintf("client-%d-%d", r, i)
			s.PutSession(session.SessionRecord{ClientID: cid, Version: proto.V5, Expiry: 60})
			s.PutSubscription(cid, "a/b", router.SubOptions{QoS: 1})
			s.PutRetained(&router.Message{Topic: fmt.Sprintf("t/%d/%d", r, i), Payload: payload})
			s.PutPending(cid, session.PendingRecord{Seq: 1, QoS: 1, SubIDs: []uint32{7},
				Msg: &router.Message{Topic: "a/b", Payload: payload, QoS: 1}})
		}
		require.NoError(t, s.Flush())
		for i := range n {
			s.DeleteSession(fmt.Sprintf("client-%d-%d", r, i))
			s.DeleteRetained(fmt.Sprintf("t/%d/%d", r, i))
		}
		require.NoError(t, s.Flush())
		require.NoError(t, s.Compact())
		m := settledMetrics(s)
		require.Zero(t, m.Table.Local.LiveSize, "round %d: live tables hold deleted data", r)
		sizes = append(sizes, m.DiskSpaceUsage())
	}
	t.Logf("disk space after each round: %v bytes", sizes)
	half := rounds / 2
	early, late := slices.Max(sizes[:half]), slices.Max(sizes[half:])
	require.LessOrEqual(t, late, early+1<<20, "store grows with churn: %v", sizes)
	require.Less(t, late, uint64(4*DefaultMemTableSize+4<<20), "overhead past a few memtables: %v", sizes)
	c := load(t, s)
	require.Empty(t, c.sessions)
	require.Empty(t, c.subs)
	require.Empty(t, c.retained)
	require.Empty(t, c.pending)
}

// settledMetrics returns the metrics once no obsolete or zombie table
// awaits deletion, or after two seconds, whichever comes first.
func settledMetrics(s *Store) *pebble.Metrics {
	deadline := time.Now().Add(2 * time.Second)
	for {
		m := s.db.Metrics()
		if m.Table.ObsoleteSize+m.Table.ZombieSize == 0 || time.Now().After(deadline) {
			return m
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The store compacts on its own timer: deleted data leaves the live tables
// without anyone calling Compact.
func TestPeriodicCompaction(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir(), Sync: SyncNone, Logger: quiet, CompactEvery: 50 * time.Millisecond})
	require.NoError(t, err)
	defer s.Close()
	payload := make([]byte, 100)
	for i := range 2000 {
		s.PutRetained(&router.Message{Topic: fmt.Sprint("t/", i), Payload: payload})
	}
	require.NoError(t, s.Flush())
	require.NoError(t, s.db.Flush()) // into a table, as a long-running store's data is
	require.NotZero(t, s.db.Metrics().Table.Local.LiveSize)
	for i := range 2000 {
		s.DeleteRetained(fmt.Sprint("t/", i))
	}
	require.NoError(t, s.Flush())
	deadline := time.Now().Add(10 * time.Second)
	for s.db.Metrics().Table.Local.LiveSize != 0 {
		require.True(t, time.Now().Before(deadline), "deleted data still in live tables")
		time.Sleep(20 * time.Millisecond)
	}
}
