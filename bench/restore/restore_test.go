package restore_test

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/loom-mqtt/loom/persist"
	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/router"
	"github.com/loom-mqtt/loom/session"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// Building 100,000 of each takes longer than one restore, and the benchmark
// function runs several times while the framework picks b.N: the large store
// is built once per process, here, and removed by TestMain.
var (
	bigOnce sync.Once
	bigDir  string
	bigErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if bigDir != "" {
		_ = os.RemoveAll(bigDir)
	}
	os.Exit(code)
}

// fill writes n persistent sessions (each offline, expiry 3600 s, one
// subscription) and n retained messages of 64 bytes into a new store at dir.
func fill(dir string, n int) error {
	st, err := persist.Open(persist.Options{Dir: dir, Sync: persist.SyncNone, Logger: quiet})
	if err != nil {
		return err
	}
	now := time.Now().UnixNano()
	payload := make([]byte, 64)
	for i := range n {
		id := fmt.Sprintf("client-%06d", i)
		st.PutSession(session.SessionRecord{ClientID: id, Version: proto.V5, Expiry: 3600, DisconnectedAt: now})
		st.PutSubscription(id, fmt.Sprintf("devices/%06d/cmd/#", i), router.SubOptions{QoS: 1})
		st.PutRetained(&router.Message{Topic: fmt.Sprintf("devices/%06d/state", i), Payload: payload, QoS: 1, Retain: true})
	}
	if err := st.Flush(); err != nil {
		st.Close()
		return err
	}
	return st.Close()
}

// restore is what a start does: open the store, build the broker and load
// everything into it; the router has applied it all when it returns. The
// caller closes the broker, which closes the store.
func restore(dir string) (*session.Broker, error) {
	st, err := persist.Open(persist.Options{Dir: dir, Sync: persist.SyncNone, Logger: quiet})
	if err != nil {
		return nil, err
	}
	br := session.NewBroker(session.Options{Store: st, SysInterval: -1, Logger: quiet})
	if err := br.Restore(); err != nil {
		br.Close()
		return nil, err
	}
	br.Router().Barrier()
	return br, nil
}

// TestRestoreLarge checks that a restore brings back every stored session
// and retained message, at a size the race detector runs quickly.
func TestRestoreLarge(t *testing.T) {
	const n = 2000
	dir := t.TempDir()
	if err := fill(dir, n); err != nil {
		t.Fatal(err)
	}
	br, err := restore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	if got := br.SessionCount(); got != n {
		t.Errorf("SessionCount() = %d after restore, want %d", got, n)
	}
	st := br.Router().Stats()
	if st.Retained != n {
		t.Errorf("Router().Stats().Retained = %d after restore, want %d", st.Retained, n)
	}
	// One retained message per subscription's device: the subscriptions must
	// be in the trie too, not only in the sessions.
	if st.Subscriptions != n {
		t.Errorf("Router().Stats().Subscriptions = %d after restore, want %d", st.Subscriptions, n)
	}
}

// BenchmarkRestore100k reports the start-up time from a store of 100,000
// sessions (one subscription each) and 100,000 retained messages: opening
// the store, Restore, the router's barrier and the close, per op.
func BenchmarkRestore100k(b *testing.B) {
	const n = 100_000
	bigOnce.Do(func() {
		if bigDir, bigErr = os.MkdirTemp("", "loom-restore-"); bigErr == nil {
			bigErr = fill(bigDir, n)
		}
	})
	if bigErr != nil {
		b.Fatal(bigErr)
	}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		br, err := restore(bigDir)
		if err != nil {
			b.Fatal(err)
		}
		if i == b.N-1 {
			b.StopTimer()
			sessions, retained := br.SessionCount(), br.Router().Stats().Retained
			if sessions != n || retained != n {
				b.Fatalf("restored %d sessions and %d retained messages, want %d of each", sessions, retained, n)
			}
			var after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&after)
			b.Logf("heap in use after restore: %.1f MiB (%.1f MiB more than before opening the store)",
				float64(after.HeapInuse)/(1<<20), (float64(after.HeapInuse)-float64(before.HeapInuse))/(1<<20))
			b.ReportMetric(float64(sessions), "sessions")
			b.ReportMetric(float64(retained), "retained")
			b.StartTimer()
		}
		br.Close()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "ms/restore")
}
