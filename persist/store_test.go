package persist

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/router"
	"github.com/loom-mqtt/loom/session"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func open(t testing.TB, dir string, p SyncPolicy) *Store {
	t.Helper()
	s, err := Open(Options{Dir: dir, Sync: p, Logger: quiet})
	require.NoError(t, err)
	return s
}

// contents is everything Load reports, keyed for comparison.
type contents struct {
	sessions map[string]session.SessionRecord
	subs     map[string]router.SubOptions // clientID + "|" + filter
	retained map[string]*router.Message
	pending  map[string][]session.PendingRecord // per client, in load order
}

func load(t testing.TB, s *Store) contents {
	t.Helper()
	c := contents{map[string]session.SessionRecord{}, map[string]router.SubOptions{}, map[string]*router.Message{},
		map[string][]session.PendingRecord{}}
	require.NoError(t, s.Load(session.LoadVisitor{
		Session:      func(r session.SessionRecord) { c.sessions[r.ClientID] = r },
		Subscription: func(cid, f string, o router.SubOptions) { c.subs[cid+"|"+f] = o },
		Retained:     func(m *router.Message) { c.retained[m.Topic] = m },
		Pending:      func(cid string, r session.PendingRecord) { c.pending[cid] = append(c.pending[cid], r) },
	}))
	return c
}

func fill(s *Store) {
	s.PutSession(session.SessionRecord{ClientID: "v5", Version: proto.V5, Expiry: 300, DisconnectedAt: 42})
	s.PutSession(session.SessionRecord{ClientID: "v3", Version: proto.V311, Expiry: session.ExpiryNever})
	s.PutSubscription("v5", "a/+/c", router.SubOptions{QoS: 2, NoLocal: true, RetainAsPublished: true, RetainHandling: 1, ID: 9})
	s.PutSubscription("v5", "#", router.SubOptions{QoS: 0})
	s.PutSubscription("v3", "x/y", router.SubOptions{QoS: 1})
	s.PutRetained(&router.Message{Topic: "a/b/c", Payload: []byte("on"), QoS: 1, Retain: true, Props: v5Props(),
		Origin: "v5", Expiry: 1_900_000_000_000_000_000})
	s.PutRetained(&router.Message{Topic: "plain", Payload: []byte("p"), Retain: true})
}

func checkFilled(t *testing.T, c contents) {
	t.Helper()
	assert.Equal(t, map[string]session.SessionRecord{
		"v5": {ClientID: "v5", Version: proto.V5, Expiry: 300, DisconnectedAt: 42},
		"v3": {ClientID: "v3", Version: proto.V311, Expiry: session.ExpiryNever},
	}, c.sessions)
	assert.Equal(t, map[string]router.SubOptions{
		"v5|a/+/c": {QoS: 2, NoLocal: true, RetainAsPublished: true, RetainHandling: 1, ID: 9},
		"v5|#":     {QoS: 0},
		"v3|x/y":   {QoS: 1},
	}, c.subs)
	require.Len(t, c.retained, 2)
	m := c.retained["a/b/c"]
	require.NotNil(t, m)
	assert.Equal(t, "on", string(m.Payload))
	assert.Equal(t, byte(1), m.QoS)
	assert.True(t, m.Retain)
	assert.Equal(t, "v5", m.Origin)
	assert.Equal(t, int64(1_900_000_000_000_000_000), m.Expiry)
	assertPropsEqual(t, v5Props(), m.Props)
	assert.Nil(t, c.retained["plain"].Props)
}

func TestRoundTripAndReopen(t *testing.T) {
	for _, p := range []SyncPolicy{SyncInterval, SyncAlways, SyncNone} {
		t.Run(p.String(), func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, dir, p)
			fill(s)
			require.NoError(t, s.Flush())
			checkFilled(t, load(t, s))
			// Close commits without a Flush: these must survive too.
			s.PutSession(session.SessionRecord{ClientID: "late", Version: proto.V5})
			s.DeleteRetained("plain")
			require.NoError(t, s.Close())

			s = open(t, dir, p)
			defer s.Close()
			c := load(t, s)
			assert.Contains(t, c.sessions, "late")
			delete(c.sessions, "late")
			assert.NotContains(t, c.retained, "plain")
			c.retained["plain"] = &router.Message{Topic: "plain", Payload: []byte("p"), Retain: true}
			checkFilled(t, c)
		})
	}
}

func TestPutRetainedKeepsItsOwnCopy(t *testing.T) {
	s := open(t, t.TempDir(), SyncNone)
	defer s.Close()
	m := &router.Message{Topic: "t", Payload: []byte("before")}
	s.PutRetained(m)
	copy(m.Payload, "AFTER!")
	require.NoError(t, s.Flush())
	assert.Equal(t, "before", string(load(t, s).retained["t"].Payload))
}

func TestDeleteSession(t *testing.T) {
	s := open(t, t.TempDir(), SyncNone)
	defer s.Close()
	for _, cid := range []string{"a", "ab", "a/b", "b"} {
		s.PutSession(session.SessionRecord{ClientID: cid, Version: proto.V5})
		s.PutSubscription(cid, "t/1", router.SubOptions{QoS: 1})
		s.PutSubscription(cid, "#", router.SubOptions{})
	}
	s.PutRetained(&router.Message{Topic: "a", Payload: []byte("r")})
	s.DeleteSession("a")
	require.NoError(t, s.Flush())
	c := load(t, s)
	assert.NotContains(t, c.sessions, "a")
	assert.NotContains(t, c.subs, "a|t/1")
	assert.NotContains(t, c.subs, "a|#")
	for _, cid := range []string{"ab", "a/b", "b"} {
		assert.Contains(t, c.sessions, cid)
		assert.Contains(t, c.subs, cid+"|t/1")
		assert.Contains(t, c.subs, cid+"|#")
	}
	assert.Contains(t, c.retained, "a", "a retained topic named like the client stays")

	s.DeleteSubscription("ab", "#")
	require.NoError(t, s.Flush())
	c = load(t, s)
	assert.NotContains(t, c.subs, "ab|#")
	assert.Contains(t, c.subs, "ab|t/1")
}

// Changes to one key land in the order they were made, also when a range
// delete and a later write to the same range share one batch.
func TestOrderWithinABatch(t *testing.T) {
	s := open(t, t.TempDir(), SyncNone)
	defer s.Close()
	s.PutSubscription("c", "old", router.SubOptions{})
	s.PutSession(session.SessionRecord{ClientID: "c", Expiry: 1})
	s.DeleteSession("c")
	s.PutSession(session.SessionRecord{ClientID: "c", Expiry: 2})
	s.PutSubscription("c", "new", router.SubOptions{QoS: 1})
	for i := range 100 {
		s.PutRetained(&router.Message{Topic: "t", Payload: fmt.Appendf(nil, "%d", i)})
	}
	require.NoError(t, s.Flush())
	c := load(t, s)
	assert.Equal(t, uint32(2), c.sessions["c"].Expiry)
	assert.Equal(t, map[string]router.SubOptions{"c|new": {QoS: 1}}, c.subs)
	assert.Equal(t, "99", string(c.retained["t"].Payload))
}

func TestLoadSkipsNilVisitors(t *testing.T) {
	s := open(t, t.TempDir(), SyncNone)
	defer s.Close()
	fill(s)
	require.NoError(t, s.Flush())
	n := 0
	require.NoError(t, s.Load(session.LoadVisitor{Retained: func(*router.Message) { n++ }}))
	assert.Equal(t, 2, n)
}

func TestCloseTwiceAndUseAfterClose(t *testing.T) {
	s := open(t, t.TempDir(), SyncInterval)
	require.NoError(t, s.Close())
	assert.ErrorIs(t, s.Close(), ErrClosed)
	assert.ErrorIs(t, s.Flush(), ErrClosed)
	assert.ErrorIs(t, s.Compact(), ErrClosed)
	assert.ErrorIs(t, s.Load(session.LoadVisitor{}), ErrClosed)
	assert.NotPanics(t, func() {
		s.PutSession(session.SessionRecord{ClientID: "x"})
		s.DeleteRetained("t")
	})
}

func TestOpenLockedDir(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, SyncNone)
	defer s.Close()
	var err error
	require.NotPanics(t, func() { _, err = Open(Options{Dir: dir, Logger: quiet}) })
	require.Error(t, err)
	t.Log(err)
	assert.Contains(t, err.Error(), dir)
	// The first store is unharmed.
	s.PutSession(session.SessionRecord{ClientID: "still"})
	require.NoError(t, s.Flush())
	assert.Contains(t, load(t, s).sessions, "still")
}

func TestOpenCorrupt(t *testing.T) {
	tests := []struct {
		name  string
		match string // files whose contents are replaced with garbage
	}{
		{"manifest", "MANIFEST-*"},
		{"options", "OPTIONS-*"},
		{"manifest marker", "marker.manifest.*"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, dir, SyncAlways)
			fill(s)
			require.NoError(t, s.Close())
			files, err := filepath.Glob(filepath.Join(dir, tt.match))
			require.NoError(t, err)
			require.NotEmpty(t, files, "no %s in %s", tt.match, dir)
			for _, f := range files {
				if strings.HasPrefix(filepath.Base(f), "marker.") {
					// A marker's state is its name; a dangling one points
					// at a manifest that is not there.
					require.NoError(t, os.Rename(f, filepath.Join(dir, "marker.manifest.000009.MANIFEST-999999")))
					continue
				}
				require.NoError(t, os.WriteFile(f, []byte("this is not a pebble file \x00\xff\x13"), 0o644))
			}
			var s2 *Store
			require.NotPanics(t, func() { s2, err = Open(Options{Dir: dir, Logger: quiet}) })
			if err == nil {
				s2.Close()
				t.Fatal("opened a corrupt store")
			}
			t.Log(err)
			assert.Contains(t, err.Error(), dir)
		})
	}
}

func TestLoadCorruptRecord(t *testing.T) {
	tests := []struct{ key, val string }{
		{"s/\x01c", "\x01\x05"},
		{"s/\x09c", string(encodeSession(session.SessionRecord{}))},
		{"u/\x01c" + "f", "\x07"},
		{"r/t", "\x01garbage"},
		{"r/t", string(encodeRetained(&router.Message{Topic: "other", Payload: []byte("x")}))},
	}
	for _, tt := range tests {
		s := open(t, t.TempDir(), SyncNone)
		require.NoError(t, s.db.Set([]byte(tt.key), []byte(tt.val), nil))
		err := s.Load(session.LoadVisitor{
			Session:      func(session.SessionRecord) {},
			Subscription: func(string, string, router.SubOptions) {},
			Retained:     func(*router.Message) {},
		})
		if assert.Error(t, err, "key %q", tt.key) {
			assert.Contains(t, err.Error(), fmt.Sprintf("%q", tt.key))
		}
		require.NoError(t, s.Close(), "Load left an iterator open")
	}
}

func TestSyncPolicies(t *testing.T) {
	tests := []struct {
		policy SyncPolicy
		// check runs after one change and a wait, before any Flush.
		check func(t *testing.T, s *Store)
	}{
		{SyncAlways, func(t *testing.T, s *Store) {
			require.NoError(t, s.Flush())
			assert.Equal(t, s.commits.Load(), s.syncs.Load(), "every commit synced")
		}},
		{SyncNone, func(t *testing.T, s *Store) {
			require.NoError(t, s.Flush())
			time.Sleep(20 * time.Millisecond)
			assert.Zero(t, s.syncs.Load(), "synced under SyncNone")
		}},
		{SyncInterval, func(t *testing.T, s *Store) {
			// No Flush: the group-commit timer alone must sync.
			deadline := time.Now().Add(5 * time.Second)
			for s.syncs.Load() == 0 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			assert.NotZero(t, s.syncs.Load(), "no sync within the interval")
			assert.NotZero(t, s.commits.Load())
			// Idle: nothing more to sync, so the timer stays off.
			n := s.syncs.Load()
			time.Sleep(30 * time.Millisecond)
			assert.Equal(t, n, s.syncs.Load(), "synced while idle")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.policy.String(), func(t *testing.T) {
			s, err := Open(Options{Dir: t.TempDir(), Sync: tt.policy, Interval: 2 * time.Millisecond, Logger: quiet})
			require.NoError(t, err)
			defer s.Close()
			s.PutSession(session.SessionRecord{ClientID: "c"})
			tt.check(t, s)
			assert.Contains(t, load(t, s).sessions, "c")
		})
	}
}

func TestFlushUnderIntervalSyncs(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir(), Sync: SyncInterval, Interval: time.Hour, Logger: quiet})
	require.NoError(t, err)
	defer s.Close()
	s.PutSession(session.SessionRecord{ClientID: "c"})
	require.NoError(t, s.Flush())
	assert.NotZero(t, s.syncs.Load(), "Flush returned before a sync")
}

func TestParseSync(t *testing.T) {
	for _, p := range []SyncPolicy{SyncAlways, SyncInterval, SyncNone} {
		got, err := ParseSync(p.String())
		require.NoError(t, err)
		assert.Equal(t, p, got)
	}
	_, err := ParseSync("sometimes")
	assert.Error(t, err)
	assert.Equal(t, SyncInterval, SyncPolicy(0), "the zero value is the interval policy")
}

func TestOpenNeedsDir(t *testing.T) {
	_, err := Open(Options{})
	assert.Error(t, err)
}

func TestConcurrentWriters(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, SyncInterval)
	const writers, rounds = 8, 300
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			cid := fmt.Sprintf("client-%d", w)
			for i := range rounds {
				s.PutSession(session.SessionRecord{ClientID: cid, Expiry: uint32(i)})
				s.PutSubscription(cid, fmt.Sprintf("t/%d", i%10), router.SubOptions{QoS: byte(i % 3)})
				s.PutRetained(&router.Message{Topic: fmt.Sprintf("shared/%d", i%5), Payload: []byte(cid)})
				if i%50 == 0 {
					require.NoError(t, s.Flush())
				}
				if i == rounds-2 {
					s.DeleteSession(cid) // the last round puts it back
				}
			}
		})
	}
	wg.Wait()
	require.NoError(t, s.Close())

	s = open(t, dir, SyncInterval)
	defer s.Close()
	c := load(t, s)
	require.Len(t, c.sessions, writers)
	for w := range writers {
		cid := fmt.Sprintf("client-%d", w)
		assert.Equal(t, uint32(rounds-1), c.sessions[cid].Expiry)
		// Only the last round's filter survived the delete before it.
		assert.Contains(t, c.subs, fmt.Sprintf("%s|t/%d", cid, (rounds-1)%10))
	}
	assert.Len(t, c.subs, writers)
	assert.Len(t, c.retained, 5)
}

// Close while other goroutines are still writing: their late changes are
// dropped, nothing panics or races, and the store closes cleanly.
func TestCloseWhileWriting(t *testing.T) {
	s := open(t, t.TempDir(), SyncNone)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; i < 100_000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				s.PutSession(session.SessionRecord{ClientID: fmt.Sprintf("c%d-%d", w, i%100)})
				if err := s.Flush(); err != nil && !errors.Is(err, ErrClosed) {
					t.Error(err)
				}
			}
		})
	}
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, s.Close())
	close(stop)
	wg.Wait()
}
