package persist

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/session"
)

func TestAfterDurableRunsAfterTheSyncedCommit(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir(), Sync: SyncAlways, Logger: quiet})
	require.NoError(t, err)
	defer s.Close()
	require.True(t, s.AcksWaitForDisk())

	before := s.syncs.Load()
	s.PutSession(session.SessionRecord{ClientID: "c", Version: proto.V5, Expiry: 60})
	done := make(chan int64, 1)
	s.AfterDurable(func() { done <- s.syncs.Load() })
	select {
	case syncs := <-done:
		require.Greater(t, syncs, before, "called only after a synced commit")
	case <-time.After(10 * time.Second):
		t.Fatal("AfterDurable never called")
	}
}

func TestAcksWaitForDiskOnlyUnderAlways(t *testing.T) {
	for _, p := range []SyncPolicy{SyncInterval, SyncNone} {
		s, err := Open(Options{Dir: t.TempDir(), Sync: p, Logger: quiet})
		require.NoError(t, err)
		require.False(t, s.AcksWaitForDisk(), p.String())
		require.NoError(t, s.Close())
	}
	// On a closed store the callback runs at once.
	s, err := Open(Options{Dir: t.TempDir(), Sync: SyncAlways, Logger: quiet})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	ran := false
	s.AfterDurable(func() { ran = true })
	require.True(t, ran)
}
