package admin_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/admin"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/tests/internal/pahotest"
)

// stopGate holds Close in its OnStopped until the test lets it go, so the
// test can look at the API while the broker drains.
type stopGate struct {
	loom.HookBase
	entered, release chan struct{}
}

func (*stopGate) ID() string                 { return "stop-gate" }
func (*stopGate) Provides(e loom.Event) bool { return e == loom.OnStopped }
func (g *stopGate) OnStopped() {
	close(g.entered)
	<-g.release
}

type readyJSON struct {
	Ready   bool     `json:"ready"`
	Reasons []string `json:"reasons"`
}

func (a *api) ready() (int, readyJSON) {
	a.t.Helper()
	code, b, _ := a.call("GET", "/readyz")
	var r readyJSON
	require.NoError(a.t, json.Unmarshal(b, &r), "%s", b)
	return code, r
}

// TestReadyzWhileClosing: /readyz is 200 while the broker serves, turns
// 503 "draining" as soon as Close begins, while Close still runs, and
// names the store and the listeners once it is done; the API that needs
// the event loops says 503 meanwhile; /healthz stays 200.
func TestReadyzWhileClosing(t *testing.T) {
	gate := &stopGate{entered: make(chan struct{}), release: make(chan struct{})}
	srv, addr := loomtest.Start(t, loom.Options{DataDir: t.TempDir(), SysInterval: -1}, gate)
	a := startAPI(t, srv, admin.Options{Token: token})
	pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "r-1"})

	code, r := a.ready()
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, readyJSON{Ready: true}, r)

	closed := make(chan error, 1)
	go func() { closed <- srv.Close(context.Background()) }()
	select {
	case <-gate.entered:
	case <-time.After(loomtest.Wait):
		t.Fatal("Close did not reach OnStopped")
	}
	// Close is under way, held in OnStopped.
	code, r = a.ready()
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.False(t, r.Ready)
	require.Contains(t, r.Reasons, "draining")
	code, msg := a.status("GET", "/api/v1/clients")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, msg, "closing")
	code, _, _ = a.call("GET", "/healthz")
	require.Equal(t, http.StatusOK, code)
	select {
	case err := <-closed:
		t.Fatalf("Close returned while OnStopped held it: %v", err)
	default:
	}

	close(gate.release)
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-time.After(loomtest.Wait):
		t.Fatal("Close did not return")
	}
	code, r = a.ready()
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, []string{"draining", "store closed", "listeners not up"}, r.Reasons)
	var st struct {
		Store struct{ Open, Persistent bool }
	}
	a.get("/api/v1/stats", &st)
	require.False(t, st.Store.Open)
	require.True(t, st.Store.Persistent)
}

// TestReadyzBeforeStart: a broker built but not started is not ready.
func TestReadyzBeforeStart(t *testing.T) {
	srv, err := loom.New(loom.Options{Listeners: mainListener, SysInterval: -1, Logger: loomtest.Quiet})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close(context.Background()) })
	a := startAPI(t, srv, admin.Options{})
	code, r := a.ready()
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, []string{"listeners not up"}, r.Reasons)
	require.NoError(t, srv.Start())
	code, _ = a.ready()
	require.Equal(t, http.StatusOK, code)
}
