package persist

import (
	"fmt"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/router"
	"github.com/loom-mqtt/loom/session"
)

func loadInbound(t *testing.T, s *Store) []string {
	t.Helper()
	var got []string
	require.NoError(t, s.Load(session.LoadVisitor{Inbound: func(cid string, pid uint16) {
		got = append(got, fmt.Sprintf("%s:%d", cid, pid))
	}}))
	sort.Strings(got)
	return got
}

func TestInboundRoundTripAndDeleteSession(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, SyncNone)
	s.PutInbound("a", 1)
	s.PutInbound("a", 65535)
	s.PutInbound("a", 2)
	s.PutInbound("ab", 3) // an id that "a" is a prefix of keeps its records
	s.DeleteInbound("a", 2)
	require.NoError(t, s.Close())

	s = open(t, dir, SyncNone)
	defer s.Close()
	require.Equal(t, []string{"a:1", "a:65535", "ab:3"}, loadInbound(t, s))
	s.DeleteSession("a")
	require.NoError(t, s.Flush())
	require.Equal(t, []string{"ab:3"}, loadInbound(t, s))
}

// A group larger than the writer's batch limit still goes into one commit:
// it is what makes a QoS 2 record and its routed copies land together.
func TestApplyCommitsAGroupInOneBatch(t *testing.T) {
	s := open(t, t.TempDir(), SyncNone)
	defer s.Close()
	var g session.WriteGroup
	const n = 3 * maxBatchOps
	for i := range n {
		g.Pending = append(g.Pending, session.GroupPending{ClientID: fmt.Sprint("c", i%7), Record: session.PendingRecord{
			Seq: uint64(i + 1), QoS: 1, Msg: &router.Message{Topic: "t", Payload: []byte("x"), QoS: 1}}})
	}
	g.Inbound = append(g.Inbound, session.InboundRecord{ClientID: "pub", PacketID: 9})
	require.NoError(t, s.Flush())
	before := s.commits.Load()
	s.Apply(&g)
	g.Pending[0].Record.Msg.Payload[0] = 'y' // Apply kept its own copy
	require.NoError(t, s.Flush())
	require.Equal(t, int64(1), s.commits.Load()-before, "one commit for the whole group")

	c := load(t, s)
	total := 0
	for _, rs := range c.pending {
		total += len(rs)
	}
	require.Equal(t, n, total)
	require.Equal(t, "x", string(c.pending["c0"][0].Msg.Payload))
	require.Equal(t, []string{"pub:9"}, loadInbound(t, s))
}

// Writes never block their caller, even with the writer stuck, and what
// queued meanwhile is all committed once it goes on.
func TestBacklogNeverBlocks(t *testing.T) {
	s := open(t, t.TempDir(), SyncNone)
	defer s.Close()
	stuck, release := make(chan struct{}), make(chan struct{})
	s.AfterDurable(func(error) { close(stuck); <-release })
	<-stuck // the writer is inside the callback
	const n = 20000
	for i := range n {
		s.PutPending("c", session.PendingRecord{Seq: uint64(i + 1), QoS: 1})
	}
	require.Equal(t, n, s.Backlog())
	close(release)
	require.NoError(t, s.Flush())
	require.Len(t, load(t, s).pending["c"], n)
}
