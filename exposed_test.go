package loom

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/proto"
)

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestOnLoopback(t *testing.T) {
	for l, want := range map[string]bool{
		"tcp://127.0.0.1:1883": true, "127.0.0.5:1": true, "tcp://[::1]:1883": true,
		"tcp://localhost:1883": true, "unix:///tmp/loom.sock": true,
		"tcp://0.0.0.0:1883": false, "tcp://:1883": false, ":1883": false, "tcp://[::]:1883": false,
		"tcp://192.0.2.1:1883": false, "tcp://10.0.0.1:0": false,
		"tls://127.0.0.1:8883": true, "ws://127.0.0.1:8080/mqtt": true, "wss://[::1]:0/mqtt": true, "ws://localhost:80": true,
		"tls://0.0.0.0:8883": false, "ws://:8080/mqtt": false, "wss://10.0.0.1:443/mqtt": false,
	} {
		require.Equal(t, want, LoopbackOnly(l), l)
	}
}

// noAuth is an authentication hook that lets everyone in: enough to say
// that authentication is configured.
type noAuth struct{ HookBase }

func (noAuth) Provides(e Event) bool                                            { return e == OnConnectAuthenticate }
func (noAuth) OnConnectAuthenticate(ClientInfo, *proto.Connect, Answer) Verdict { return Allow }

func TestStartRefusesAnExposedListenerWithoutAuth(t *testing.T) {
	start := func(opts Options, hooks ...Hook) error {
		opts.Logger = quietLog
		srv, err := New(opts)
		require.NoError(t, err)
		defer srv.Close(context.Background())
		for _, h := range hooks {
			require.NoError(t, srv.AddHook(h, nil))
		}
		return srv.Start()
	}
	// 0.0.0.0:0 binds every interface on a free port; Start refuses
	// before anything is bound.
	err := start(Options{Listeners: []Listener{{Address: "tcp://0.0.0.0:0"}}})
	require.True(t, errors.Is(err, ErrExposed), "%v", err)
	require.ErrorContains(t, err, "AllowAnonymous")
	require.NoError(t, start(Options{Listeners: []Listener{{Address: "tcp://0.0.0.0:0"}}, AllowAnonymous: true}))
	require.NoError(t, start(Options{Listeners: []Listener{{Address: "tcp://0.0.0.0:0"}}}, noAuth{}))
	require.NoError(t, start(Options{Listeners: []Listener{{Address: "tcp://127.0.0.1:0"}}}))
}
