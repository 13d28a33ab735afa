package loom_test

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
	watch, _ := connectV5(t, addr, v5Conf{id: "dw-watch", keep: true, expiry: 3600})
	watch.sub(t, v5Opt("will/#", 1))
	dying, _ := connectV5(t, addr, v5Conf{id: "dw-dying", keep: true, expiry: 3600,
		will: v5Will("will/dying", false), willProps: v5WillDelay(delay)})
	back, _ := connectV5(t, addr, v5Conf{id: "dw-back", keep: true, expiry: 3600,
		will: v5Will("will/back", false), willProps: v5WillDelay(delay)})
	watch.cut()
	cut := time.Now()
	dying.cut()
	back.cut()
	loomtest.WaitConnections(t, srv, 0)
	require.NoError(t, srv.Close(context.Background()))

	_, addr2, _ := storedBroker(t, dir, loom.Options{})
	connectV5(t, addr2, v5Conf{id: "dw-back", keep: true, expiry: 3600}) // in time, without a will
	watch2, ack := connectV5(t, addr2, v5Conf{id: "dw-watch", keep: true, expiry: 3600})
	require.True(t, ack.SessionPresent)
	got := watch2.recv(t)
	require.Equal(t, "will/dying", got.Topic)
	require.Equal(t, "gone:will/dying", string(got.Payload))
	require.GreaterOrEqual(t, time.Since(cut), delay*time.Second, "published before its delay")
	watch2.quiet(t, 500*time.Millisecond) // dw-back's would have been due with it
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
	watch5, _ := connectV5(t, addr, v5Conf{id: "cw-watch5", keep: true, expiry: 3600})
	watch5.sub(t, v5Opt("will/#", 1))
	w3, _ := v3Connect(t, v3Options(addr, "cw-watch3").SetCleanSession(false))
	v3Subscribe(t, w3, "will/#", 1, newV3Inbox())
	w3.Disconnect(100)
	watch5.cut()
	connectV5(t, addr, v5Conf{id: "cw-v5", keep: true, expiry: 3600,
		will: v5Will("will/v5", false), willProps: v5WillDelay(delay)})
	v3Connect(t, v3Options(addr, "cw-v3").SetCleanSession(false).SetWill("will/v3", "gone:will/v3", 1, false))
	loomtest.WaitConnections(t, srv, 2)
	// The crash: the store stops here, so what the broker does as it
	// closes the two connections below never reaches the disk.
	require.NoError(t, st.Close())
	require.NoError(t, srv.Close(context.Background()))

	restart := time.Now()
	_, addr2, _ := storedBroker(t, dir, loom.Options{})
	in3 := newV3Inbox()
	o3 := v3Options(addr2, "cw-watch3").SetCleanSession(false)
	o3.SetDefaultPublishHandler(in3.handle)
	_, present := v3Connect(t, o3)
	require.True(t, present)
	watch5b, _ := connectV5(t, addr2, v5Conf{id: "cw-watch5", keep: true, expiry: 3600})

	got5 := map[string]time.Duration{}
	for range 2 {
		m := watch5b.recv(t)
		got5[m.Topic] = time.Since(restart)
		require.Equal(t, "gone:"+m.Topic, string(m.Payload))
	}
	require.Contains(t, got5, "will/v3")
	require.Contains(t, got5, "will/v5")
	require.GreaterOrEqual(t, got5["will/v5"], delay*time.Second, "the v5 delay runs from the restart")
	got3 := map[string]string{}
	for range 2 {
		m := in3.next(t)
		got3[m.Topic()] = string(m.Payload())
	}
	require.Equal(t, map[string]string{"will/v3": "gone:will/v3", "will/v5": "gone:will/v5"}, got3)
	watch5b.quiet(t, 300*time.Millisecond) // each once
}

// TestRestartWillCancelledByReconnectAfterCrash: a v5 client connected at
// the crash whose will has a delay reconnects within it to the restarted
// broker: the will is never published [MQTT-3.1.3-9].
func TestRestartWillCancelledByReconnectAfterCrash(t *testing.T) {
	dir := t.TempDir()
	srv, addr, st := storedBroker(t, dir, loom.Options{})
	watch, _ := connectV5(t, addr, v5Conf{id: "rw-watch", keep: true, expiry: 3600})
	watch.sub(t, v5Opt("will/#", 1))
	watch.cut()
	connectV5(t, addr, v5Conf{id: "rw-v5", keep: true, expiry: 3600,
		will: v5Will("will/v5", false), willProps: v5WillDelay(1)})
	loomtest.WaitConnections(t, srv, 1)
	require.NoError(t, st.Close())
	require.NoError(t, srv.Close(context.Background()))

	_, addr2, _ := storedBroker(t, dir, loom.Options{})
	_, ack := connectV5(t, addr2, v5Conf{id: "rw-v5", keep: true, expiry: 3600})
	require.True(t, ack.SessionPresent)
	watch2, _ := connectV5(t, addr2, v5Conf{id: "rw-watch", keep: true, expiry: 3600})
	watch2.quiet(t, 1500*time.Millisecond)
	pub, _ := connectV5(t, addr2, v5Conf{id: "rw-pub"})
	require.Empty(t, watch2.until(t, pub, "will/marker"), "the cancelled will came")
}
