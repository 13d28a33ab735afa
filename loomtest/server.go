package loomtest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/loom-mqtt/loom"
)

// Wait bounds every wait of this package's test helpers: generous, since a
// loaded 2-core machine under -race can be slow, and never a measure of
// speed.
const Wait = 10 * time.Second

// Start runs a broker for the test and returns it with its "host:port".
// Without Listeners it listens on a free loopback port; without a Logger
// it logs nothing. hooks are added before it starts (so they see
// OnStarted and every client): the way to test a hook of your own. The
// broker is closed when the test ends.
func Start(t testing.TB, opts loom.Options, hooks ...loom.Hook) (*loom.Server, string) {
	t.Helper()
	if len(opts.Listeners) == 0 {
		opts.Listeners = []loom.Listener{{Address: "tcp://127.0.0.1:0"}}
	}
	if opts.Logger == nil {
		opts.Logger = Quiet
	}
	srv, err := loom.New(opts)
	if err != nil {
		t.Fatalf("loomtest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), Wait)
		defer cancel()
		_ = srv.Close(ctx)
	})
	for _, h := range hooks {
		if err := srv.AddHook(h, nil); err != nil {
			t.Fatalf("loomtest: adding hook %s: %v", h.ID(), err)
		}
	}
	if err := srv.Start(); err != nil {
		t.Fatalf("loomtest: starting the broker: %v", err)
	}
	return srv, srv.Addrs()[0].String()
}

// Quiet is a logger that drops everything.
var Quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// Eventually polls cond until it holds, failing the test after Wait.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// WaitConnections waits until srv holds n network connections.
func WaitConnections(t testing.TB, srv *loom.Server, n int64) {
	t.Helper()
	Eventually(t, fmt.Sprintf("%d connections", n), func() bool { return srv.Stats().OpenConnections == n })
}
