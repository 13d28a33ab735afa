package scram_test

import (
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/hooks/scram"
	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/session"
)

// The Server is a hook that provides no events and an authenticator: the
// broker must find its method through AddHook alone.
var (
	_ session.Hook          = (*scram.Server)(nil)
	_ session.Authenticator = (*scram.Server)(nil)
)

func TestServerProvidesNoEvents(t *testing.T) {
	s := scram.NewServer()
	for _, e := range session.Events() {
		require.False(t, s.Provides(e), "%v", e)
	}
	require.Equal(t, "scram-sha-256", s.ID())
	require.Equal(t, scram.Method, s.Method())
}

func TestInitRefusesConfiguration(t *testing.T) {
	for _, tc := range []struct {
		name   string
		config any
		ok     bool
	}{
		{"nil", nil, true},
		{"a map of users", map[string]string{"alice": "wonderland"}, false},
		{"a string", "SCRAM-SHA-256", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := quietBroker(t)
			err := b.AddHook(scram.NewServer(), tc.config)
			if tc.ok {
				require.NoError(t, err)
				require.Len(t, b.Hooks(), 1)
			} else {
				require.Error(t, err)
				require.Empty(t, b.Hooks(), "a hook whose Init failed is not added")
			}
		})
	}
}

// TestAddHookOffersTheMethod drives the session layer without sockets,
// as the reactor would: CONNECT with the method, AUTH with the proof, and
// the CONNACK that ends it. Only AddHook tells the broker of the method.
func TestAddHookOffersTheMethod(t *testing.T) {
	for _, tc := range []struct {
		name     string
		added    bool
		password string
		want     proto.ReasonCode // the CONNACK's
	}{
		{"right password", true, "wonderland", proto.Success},
		{"wrong password", true, "looking-glass", proto.NotAuthorized},
		{"hook not added", false, "wonderland", proto.BadAuthenticationMethod},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := quietBroker(t)
			if tc.added {
				srv := scram.NewServer()
				require.NoError(t, srv.AddUser("alice", "wonderland"))
				require.NoError(t, b.AddHook(srv, nil))
			}
			cl := dial(t, b)

			const first = "n=alice,r=fyko+d2lbbFgONRv9qkxdawL"
			connect := &proto.Connect{ProtocolName: []byte("MQTT"), Version: proto.V5, CleanStart: true,
				KeepAlive: 30, ClientID: []byte("scram-client")}
			connect.Props.AuthMethod, connect.Props.AuthData = []byte(scram.Method), []byte("n,,"+first)
			connect.Props.Set(proto.PropAuthMethod)
			connect.Props.Set(proto.PropAuthData)
			pk, err := cl.send(connect)
			if !tc.added {
				require.Error(t, err, "the connection closes")
				ack := requireType[*proto.Connack](t, pk)
				require.Equal(t, tc.want, ack.Reason)
				return
			}
			require.NoError(t, err)

			challenge := requireType[*proto.Auth](t, pk)
			require.Equal(t, proto.ContinueAuthentication, challenge.Reason)
			require.Equal(t, scram.Method, string(challenge.Props.AuthMethod))
			final, wantSig, err := scram.ClientProof(tc.password, first, string(challenge.Props.AuthData), "biws")
			require.NoError(t, err)

			answer := &proto.Auth{Reason: proto.ContinueAuthentication}
			answer.Props.AuthMethod, answer.Props.AuthData = []byte(scram.Method), []byte(final)
			answer.Props.Set(proto.PropAuthMethod)
			answer.Props.Set(proto.PropAuthData)
			pk, err = cl.send(answer)
			ack := requireType[*proto.Connack](t, pk)
			require.Equal(t, tc.want, ack.Reason)
			if tc.want == proto.Success {
				require.NoError(t, err)
				require.Equal(t, wantSig, string(ack.Props.AuthData), "the server proves it knows the key")
			} else {
				require.Error(t, err, "the connection closes")
			}
		})
	}
}

func quietBroker(t *testing.T) *session.Broker {
	t.Helper()
	b := session.NewBroker(session.Options{
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		SysInterval: -1, // no $SYS goroutine: nothing runs that the test does not drive
	})
	t.Cleanup(b.Close)
	return b
}

// client is one connection to b's only loop, played by the test goroutine.
type client struct {
	t      *testing.T
	c      *session.Client
	l      *session.Loop
	conn   *memConn
	queued []func() // what the loop was asked to run, run after each packet
	mu     sync.Mutex
}

func dial(t *testing.T, b *session.Broker) *client {
	cl := &client{t: t, conn: &memConn{}}
	cl.l = b.NewLoop(func(f func()) {
		cl.mu.Lock()
		cl.queued = append(cl.queued, f)
		cl.mu.Unlock()
	})
	cl.c = cl.l.NewClient(cl.conn)
	return cl
}

// send hands pk to the session layer as the reactor hands it a whole
// packet, and returns the one packet written back, and Handle's error:
// non-nil when the connection is to close (a refusing CONNACK is written
// first).
func (cl *client) send(pk proto.Packet) (proto.Packet, error) {
	cl.t.Helper()
	raw := pk.Append(nil, proto.V5)
	h, n, err := proto.ParseFixedHeader(raw)
	require.NoError(cl.t, err)
	herr := cl.c.Handle(h, raw[n:])
	for {
		cl.mu.Lock()
		fs := cl.queued
		cl.queued = nil
		cl.mu.Unlock()
		if len(fs) == 0 {
			break
		}
		for _, f := range fs {
			f()
		}
	}
	cl.l.Flush()
	out := cl.conn.take()
	got, used, err := proto.Decode(out, proto.V5)
	require.NoError(cl.t, err)
	require.Len(cl.t, out, used, "one packet written back")
	return got, herr
}

func requireType[P proto.Packet](t *testing.T, pk proto.Packet) P {
	t.Helper()
	p, ok := pk.(P)
	require.True(t, ok, "got %T", pk)
	return p
}

// memConn is the network connection: it keeps what is written.
type memConn struct {
	mu   sync.Mutex
	data []byte
}

func (m *memConn) Write(b []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.data = append(m.data, b...)
	return len(b), nil
}

func (m *memConn) OutboundBuffered() int { return 0 }
func (m *memConn) Close() error          { return nil }

func (m *memConn) take() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.data
	m.data = nil
	return b
}
