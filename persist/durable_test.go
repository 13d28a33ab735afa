package persist

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
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

	before := s.syncs.Load()
	s.PutSession(session.SessionRecord{ClientID: "c", Version: proto.V5, Expiry: 60})
	done := make(chan int64, 1)
	s.AfterDurable(func(error) { done <- s.syncs.Load() })
	select {
	case syncs := <-done:
		require.Greater(t, syncs, before, "called only after a synced commit")
	case <-time.After(10 * time.Second):
		t.Fatal("AfterDurable never called")
	}
}

// Under the policies that do not sync every commit, AfterDurable still
// waits for the commit of what was queued before it: that is what makes an
// acknowledgement survive a kill of the process.
func TestAfterDurableWaitsForTheCommitUnderEveryPolicy(t *testing.T) {
	for _, p := range []SyncPolicy{SyncInterval, SyncNone} {
		s, err := Open(Options{Dir: t.TempDir(), Sync: p, Logger: quiet})
		require.NoError(t, err)
		before := s.commits.Load()
		s.PutSession(session.SessionRecord{ClientID: "c", Version: proto.V5, Expiry: 60})
		done := make(chan int64, 1)
		s.AfterDurable(func(error) { done <- s.commits.Load() })
		select {
		case commits := <-done:
			require.Greater(t, commits, before, "%v: called only after the commit", p)
		case <-time.After(10 * time.Second):
			t.Fatalf("%v: AfterDurable never called", p)
		}
		require.NoError(t, s.Close())
	}
	// On a closed store the callback runs at once, told that nothing will
	// be committed.
	s, err := Open(Options{Dir: t.TempDir(), Sync: SyncAlways, Logger: quiet})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	var got error
	s.AfterDurable(func(err error) { got = err })
	require.ErrorIs(t, got, ErrClosed)
}

// A commit that fails reaches the callbacks waiting on it, under every
// policy, and only them: the next commit that succeeds reports nil.
func TestAfterDurableReportsAFailedCommit(t *testing.T) {
	for _, p := range []SyncPolicy{SyncAlways, SyncInterval, SyncNone} {
		s, err := Open(Options{Dir: t.TempDir(), Sync: p, Logger: quiet})
		require.NoError(t, err)
		wait := func() error {
			t.Helper()
			s.PutSession(session.SessionRecord{ClientID: "c", Version: proto.V5, Expiry: 60})
			done := make(chan error, 1)
			s.AfterDurable(func(err error) { done <- err })
			select {
			case err := <-done:
				return err
			case <-time.After(10 * time.Second):
				t.Fatalf("%v: AfterDurable never called", p)
				return nil
			}
		}
		require.NoError(t, wait(), "%v", p)
		disk := fmt.Errorf("disk full")
		s.failCommits(disk)
		require.ErrorIs(t, wait(), disk, "%v", p)
		s.failCommits(nil)
		require.NoError(t, wait(), "%v: a failure is the commit's, not the store's for ever", p)
		// A write that failed in a batch of its own, with no callback
		// waiting, still reaches the next callback: it covers that write.
		s.failCommits(disk)
		s.PutSession(session.SessionRecord{ClientID: "d", Version: proto.V5, Expiry: 60})
		_ = s.Flush() // the store keeps its first error: not what this checks
		s.failCommits(nil)
		done := make(chan error, 1)
		s.AfterDurable(func(err error) { done <- err })
		require.ErrorIs(t, <-done, disk, "%v", p)
		require.NoError(t, wait(), "%v", p)
		require.Error(t, s.Close(), "%v: Close reports the store's first write error", p)
	}
}

// walHas says whether a write-ahead log in dir holds b: read straight from
// the files, it is what a kill of the process leaves behind.
func walHas(t *testing.T, dir string, b []byte) bool {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	require.NoError(t, err)
	for _, l := range logs {
		data, err := os.ReadFile(l)
		require.NoError(t, err)
		if bytes.Contains(data, b) {
			return true
		}
	}
	return false
}

// Under every policy, what AfterDurable follows is in the write-ahead log
// file when the callback runs, not only in Pebble's buffer in the process:
// an acknowledgement sent from the callback survives a kill. The callback
// runs on the writer goroutine, so the next commit cannot have written it.
func TestAfterDurableFollowsTheWriteToTheFile(t *testing.T) {
	for _, p := range []SyncPolicy{SyncAlways, SyncInterval, SyncNone} {
		dir := t.TempDir()
		s, err := Open(Options{Dir: dir, Sync: p, Interval: time.Hour, Logger: quiet})
		require.NoError(t, err)
		const n = 200
		missing := 0
		for i := range n {
			id := fmt.Sprintf("written-before-the-ack-%04d", i)
			s.PutSession(session.SessionRecord{ClientID: id, Version: proto.V5, Expiry: 60})
			done := make(chan bool, 1)
			s.AfterDurable(func(error) { done <- walHas(t, dir, []byte(id)) })
			if !<-done {
				missing++
			}
		}
		require.Zero(t, missing, "%v: %d of %d commits were not in the log file when AfterDurable ran", p, missing, n)
		if p != SyncAlways {
			require.Zero(t, s.syncs.Load(), "%v: no fsync before the interval or Close", p)
		}
		require.NoError(t, s.Close())
	}
}
