package persist

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/router"
	"github.com/loom-mqtt/loom/session"
)

// Deleted sessions and retained messages leave tombstones; once compacted
// their space must come back, so a store whose live contents stay the same
// does not grow with churn. The broker gets this from Pebble's own
// compactions as the store grows, and from Store.Compact on a slow timer.
//
// What remains after each round is Pebble's fixed overhead: write-ahead log
// files kept for recycling (a few memtables' worth) and obsolete tables
// awaiting their asynchronous deletion. It levels off after a few rounds.
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
		}
		require.NoError(t, s.Flush())
		for i := range n {
			s.DeleteSession(fmt.Sprintf("client-%d-%d", r, i))
			s.DeleteRetained(fmt.Sprintf("t/%d/%d", r, i))
		}
		require.NoError(t, s.Flush())
		require.NoError(t, s.Compact())
		m := s.db.Metrics()
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
}
