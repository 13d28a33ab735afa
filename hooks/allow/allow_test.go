package allow_test

import (
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/hooks/allow"
	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/session"
)

var (
	_ session.Hook = allow.Hook{}
	_ session.Hook = (*allow.Hook)(nil)
)

func TestProvides(t *testing.T) {
	want := map[session.Event]bool{session.OnConnectAuthenticate: true, session.OnACLCheck: true}
	var h allow.Hook
	for _, e := range session.Events() {
		require.Equal(t, want[e], h.Provides(e), "%v", e)
	}
	require.Equal(t, "allow-all", h.ID())
}

// neverCalled fails the test if the hook answers late: it answers at once.
func neverCalled(t *testing.T) session.Answer {
	return func(bool) { t.Error("the allow-all hook called its Answer") }
}

func TestAllowsConnect(t *testing.T) {
	for _, tc := range []struct {
		name string
		cl   session.ClientInfo
		pk   *proto.Connect
	}{
		{"no credentials", session.ClientInfo{ID: "c1", Version: proto.V311}, &proto.Connect{ClientID: []byte("c1")}},
		{"a username and password", session.ClientInfo{ID: "c2", Username: "u", Version: proto.V5},
			&proto.Connect{ClientID: []byte("c2"), UsernameFlag: true, Username: []byte("u"), PasswordFlag: true, Password: []byte("wrong?")}},
		{"an empty client id", session.ClientInfo{Version: proto.V5}, &proto.Connect{}},
		{"no packet at all", session.ClientInfo{ID: "c3"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, session.Allow, allow.Hook{}.OnConnectAuthenticate(tc.cl, tc.pk, neverCalled(t)))
		})
	}
}

func TestAllowsACL(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cl    session.ClientInfo
		topic string
		write bool
	}{
		{"publish", session.ClientInfo{ID: "c1"}, "a/b", true},
		{"subscribe", session.ClientInfo{ID: "c1"}, "a/+/#", false},
		{"shared subscription", session.ClientInfo{ID: "c1"}, "$share/g/a/#", false},
		{"the inline client", session.ClientInfo{ID: session.InlineClientID, Inline: true}, "x", true},
		{"an empty topic", session.ClientInfo{}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, session.Allow, allow.Hook{}.OnACLCheck(tc.cl, tc.topic, tc.write, neverCalled(t)))
		})
	}
}

func TestAddHook(t *testing.T) {
	for _, tc := range []struct {
		name   string
		config any
		ok     bool
	}{
		{"nil", nil, true},
		{"a configuration it does not take", struct{}{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := session.NewBroker(session.Options{SysInterval: -1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			t.Cleanup(b.Close)
			err := b.AddHook(new(allow.Hook), tc.config)
			if !tc.ok {
				require.Error(t, err)
				require.Empty(t, b.Hooks())
				return
			}
			require.NoError(t, err)
			require.Len(t, b.Hooks(), 1)
			require.Equal(t, "allow-all", b.Hooks()[0].ID())
		})
	}
}
