package restart_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/persist"
	"github.com/loom-mqtt/loom/tests/internal/pahotest"
)

// storedBroker is persistentBroker with session options and the store
// handed back, so that a test can close the store under a running broker:
// what was written up to then is on disk, nothing after, as in a crash.
func storedBroker(t *testing.T, dir string, opts loom.Options) (*loom.Server, string, *persist.Store) {
	t.Helper()
	st, err := persist.Open(persist.Options{Dir: dir, Sync: persist.SyncAlways,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	opts.Store = st
	srv, addr := loomtest.Start(t, opts)
	return srv, addr, st
}

// TestRestartKeepsDelayedWills: a v5 client with a Will Delay Interval loses
// its connection, the broker restarts within the delay, and the will is
// published once the delay has passed, counted from the lost connection;
// another that reconnects within its delay has its will cancelled.
// [MQTT-3.1.2-8] published after the connection closed and the delay passed
// [MQTT-3.1.3-9] a new connection before the delay ends: not published
func TestRestartKeepsDelayedWills(t *testing.T) {
	const delay = 2
	dir := t.TempDir()
	srv, addr, _ := storedBroker(t, dir, loom.Options{})
	watch, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "dw-watch", Keep: true, Expiry: 3600})
	watch.Sub(t, pahotest.V5Opt("will/#", 1))
	dying, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "dw-dying", Keep: true, Expiry: 3600,
		Will: pahotest.V5Will("will/dying", false), WillProps: pahotest.V5WillDelay(delay)})
	back, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "dw-back", Keep: true, Expiry: 3600,
		Will: pahotest.V5Will("will/back", false), WillProps: pahotest.V5WillDelay(delay)})
	watch.Cut()
	cut := time.Now()
	dying.Cut()
	back.Cut()
	loomtest.WaitConnections(t, srv, 0)
	require.NoError(t, srv.Close(context.Background()))

	_, addr2, _ := storedBroker(t, dir, loom.Options{})
	pahotest.ConnectV5(t, addr2, pahotest.V5Conf{ID: "dw-back", Keep: true, Expiry: 3600}) // in time, without a will
	watch2, ack := pahotest.ConnectV5(t, addr2, pahotest.V5Conf{ID: "dw-watch", Keep: true, Expiry: 3600})
	require.True(t, ack.SessionPresent)
	got := watch2.Recv(t)
	require.Equal(t, "will/dying", got.Topic)
	require.Equal(t, "gone:will/dying", string(got.Payload))
	require.GreaterOrEqual(t, time.Since(cut), delay*time.Second, "published before its delay")
	watch2.Quiet(t, 500*time.Millisecond) // dw-back's would have been due with it
}

// TestRestartAfterCrashPublishesWills: clients connected when the broker
// dies never sent DISCONNECT, so their wills are due [MQTT-3.1.2-8]
// [MQTT-3.1.2-8 v3.1.1]: a 3.1.1 will (no delay) is published as the broker
// comes back, a v5 one once its delay has passed since the restart. Both
// reach a v5 and a 3.1.1 watcher whose stored sessions subscribed before.
func TestRestartAfterCrashPublishesWills(t *testing.T) {
	const delay = 1
	dir := t.TempDir()
	srv, addr, st := storedBroker(t, dir, loom.Options{})
	watch5, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "cw-watch5", Keep: true, Expiry: 3600})
	watch5.Sub(t, pahotest.V5Opt("will/#", 1))
	w3, _ := pahotest.V3Connect(t, pahotest.V3Options(addr, "cw-watch3").SetCleanSession(false))
	pahotest.V3Subscribe(t, w3, "will/#", 1, pahotest.NewV3Inbox())
	w3.Disconnect(100)
	watch5.Cut()
	pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "cw-v5", Keep: true, Expiry: 3600,
		Will: pahotest.V5Will("will/v5", false), WillProps: pahotest.V5WillDelay(delay)})
	pahotest.V3Connect(t, pahotest.V3Options(addr, "cw-v3").SetCleanSession(false).SetWill("will/v3", "gone:will/v3", 1, false))
	loomtest.WaitConnections(t, srv, 2)
	// The crash: the store stops here, so what the broker does as it
	// closes the two connections below never reaches the disk.
	require.NoError(t, st.Close())
	require.NoError(t, srv.Close(context.Background()))

	restart := time.Now()
	_, addr2, _ := storedBroker(t, dir, loom.Options{})
	in3 := pahotest.NewV3Inbox()
	o3 := pahotest.V3Options(addr2, "cw-watch3").SetCleanSession(false)
	o3.SetDefaultPublishHandler(in3.Handle)
	_, present := pahotest.V3Connect(t, o3)
	require.True(t, present)
	watch5b, _ := pahotest.ConnectV5(t, addr2, pahotest.V5Conf{ID: "cw-watch5", Keep: true, Expiry: 3600})

	got5 := map[string]time.Duration{}
	for range 2 {
		m := watch5b.Recv(t)
		got5[m.Topic] = time.Since(restart)
		require.Equal(t, "gone:"+m.Topic, string(m.Payload))
	}
	require.Contains(t, got5, "will/v3")
	require.Contains(t, got5, "will/v5")
	require.GreaterOrEqual(t, got5["will/v5"], delay*time.Second, "the v5 delay runs from the restart")
	got3 := map[string]string{}
	for range 2 {
		m := in3.Next(t)
		got3[m.Topic()] = string(m.Payload())
	}
	require.Equal(t, map[string]string{"will/v3": "gone:will/v3", "will/v5": "gone:will/v5"}, got3)
	watch5b.Quiet(t, 300*time.Millisecond) // each once
}

// TestRestartWillCancelledByReconnectAfterCrash: a v5 client connected at
// the crash whose will has a delay reconnects within it to the restarted
// broker: the will is never published [MQTT-3.1.3-9].
func TestRestartWillCancelledByReconnectAfterCrash(t *testing.T) {
	dir := t.TempDir()
	srv, addr, st := storedBroker(t, dir, loom.Options{})
	watch, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "rw-watch", Keep: true, Expiry: 3600})
	watch.Sub(t, pahotest.V5Opt("will/#", 1))
	watch.Cut()
	pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "rw-v5", Keep: true, Expiry: 3600,
		Will: pahotest.V5Will("will/v5", false), WillProps: pahotest.V5WillDelay(1)})
	loomtest.WaitConnections(t, srv, 1)
	require.NoError(t, st.Close())
	require.NoError(t, srv.Close(context.Background()))

	_, addr2, _ := storedBroker(t, dir, loom.Options{})
	_, ack := pahotest.ConnectV5(t, addr2, pahotest.V5Conf{ID: "rw-v5", Keep: true, Expiry: 3600})
	require.True(t, ack.SessionPresent)
	watch2, _ := pahotest.ConnectV5(t, addr2, pahotest.V5Conf{ID: "rw-watch", Keep: true, Expiry: 3600})
	watch2.Quiet(t, 1500*time.Millisecond)
	pub, _ := pahotest.ConnectV5(t, addr2, pahotest.V5Conf{ID: "rw-pub"})
	require.Empty(t, watch2.Until(t, pub, "will/marker"), "the cancelled will came")
}
