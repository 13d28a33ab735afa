package loom_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
)

func newQuiet(t *testing.T, opts loom.Options) *loom.Server {
	t.Helper()
	if opts.Listeners == nil {
		opts.Listeners = []loom.Listener{{Address: "tcp://127.0.0.1:0"}}
	}
	opts.Logger = quiet
	srv, err := loom.New(opts)
	require.NoError(t, err)
	return srv
}

// Close may come before Start, and more than once; a closed server does
// not start, and Done yields nil to every waiter.
func TestServerCloseIsIdempotent(t *testing.T) {
	srv := newQuiet(t, loom.Options{})
	require.NoError(t, srv.Close(context.Background()))
	require.NoError(t, srv.Close(context.Background()))
	require.Error(t, srv.Start())
	require.NoError(t, <-srv.Done())

	srv = newQuiet(t, loom.Options{})
	require.NoError(t, srv.Start())
	require.Error(t, srv.Start(), "started twice")
	first, second := srv.Done(), srv.Done()
	require.NoError(t, srv.Close(context.Background()))
	require.NoError(t, srv.Close(context.Background()))
	require.NoError(t, <-first)
	require.NoError(t, <-second)
}

// New opens the data folder, and Close releases it even when the server
// never started: a second server can then open it.
func TestServerDataDirReleasedOnClose(t *testing.T) {
	dir := t.TempDir()
	srv := newQuiet(t, loom.Options{DataDir: dir})
	_, err := loom.New(loom.Options{DataDir: dir, Logger: quiet})
	require.ErrorIs(t, err, loom.ErrLocked, "a second broker on a folder in use")
	require.Contains(t, err.Error(), dir)
	require.NoError(t, srv.Close(context.Background()))

	srv = newQuiet(t, loom.Options{DataDir: dir})
	require.NoError(t, srv.Start())
	require.NoError(t, srv.Close(context.Background()))
}

// Serve starts the server, stops it when its context ends and returns nil;
// one whose listener cannot be had returns the error and releases the rest.
func TestServerServe(t *testing.T) {
	srv := newQuiet(t, loom.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	require.Eventually(t, func() bool { return len(srv.Addrs()) == 1 }, 10*time.Second, 5*time.Millisecond)
	c, err := net.Dial("tcp", srv.Addrs()[0].String())
	require.NoError(t, err)
	defer c.Close()
	cancel()
	require.NoError(t, <-served)

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	srv = newQuiet(t, loom.Options{Listeners: []loom.Listener{{Address: taken.Addr().String()}}})
	err = srv.Serve(context.Background())
	require.Error(t, err, "served on a port another socket holds")
	require.False(t, errors.Is(err, context.Canceled))
}

// Stats reads every counter through one snapshot; a fresh broker's are
// zero but for its uptime.
func TestServerStatsFresh(t *testing.T) {
	srv := newQuiet(t, loom.Options{SysInterval: -1})
	defer srv.Close(context.Background())
	require.NoError(t, srv.Start())
	st := srv.Stats()
	require.Positive(t, st.Uptime)
	st.Uptime = 0
	require.Equal(t, loom.Stats{}, st)
}
