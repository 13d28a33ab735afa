package session

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/proto"
)

// echoAuth is a two-step method: the client sends "hello", the server asks
// for "secret", the client sends it and the server answers "welcome".
type echoAuth struct{}

func (echoAuth) Method() string { return "ECHO" }
func (echoAuth) Begin(string, []byte) AuthExchange {
	return &echoExchange{}
}

type echoExchange struct{ step int }

func (e *echoExchange) Step(data []byte) ([]byte, bool, error) {
	e.step++
	switch {
	case e.step == 1 && string(data) == "hello":
		return []byte("secret?"), false, nil
	case e.step == 2 && string(data) == "secret":
		return []byte("welcome"), true, nil
	}
	return nil, false, errors.New("wrong answer")
}

func authConnect(id, data string) *proto.Connect {
	p := connectPacket(proto.V5, id, true, 0, 0)
	p.Props.AuthMethod, p.Props.AuthData = []byte("ECHO"), []byte(data)
	p.Props.Set(proto.PropAuthMethod)
	p.Props.Set(proto.PropAuthData)
	return p
}

func authPacket(rc proto.ReasonCode, method, data string) *proto.Auth {
	a := &proto.Auth{Reason: rc}
	a.Props.AuthMethod, a.Props.AuthData = []byte(method), []byte(data)
	a.Props.Set(proto.PropAuthMethod)
	a.Props.Set(proto.PropAuthData)
	return a
}

func requireAuth(t *testing.T, p proto.Packet, rc proto.ReasonCode, data string) {
	t.Helper()
	a, ok := p.(*proto.Auth)
	require.True(t, ok, "got %T", p)
	require.Equal(t, rc, a.Reason)
	require.Equal(t, "ECHO", string(a.Props.AuthMethod), "[MQTT-4.12.0-5] same method throughout")
	require.Equal(t, data, string(a.Props.AuthData))
}

func TestEnhancedAuthAtConnect(t *testing.T) {
	h := newHarness(t, Options{Authenticators: []Authenticator{echoAuth{}}}, 1)
	c := h.dial(0)
	require.NoError(t, c.send(authConnect("a", "hello")))
	// [MQTT-4.12.0-2] the server continues with AUTH 0x18
	requireAuth(t, c.recvOne(), proto.ContinueAuthentication, "secret?")
	require.Zero(t, h.b.SessionCount(), "no session before authentication ends")

	// Packets within the AUTH exchange of this CONNECT do not reach the session.
	require.NoError(t, c.send(authPacket(proto.ContinueAuthentication, "ECHO", "secret")))
	ack, ok := c.recvOne().(*proto.Connack)
	require.True(t, ok)
	require.Equal(t, proto.Success, ack.Reason)
	require.Equal(t, "ECHO", string(ack.Props.AuthMethod))
	require.Equal(t, "welcome", string(ack.Props.AuthData))
	require.Equal(t, 1, h.b.SessionCount())

	// The connection works as any other now.
	c.subscribe("t", 0)
}

func TestEnhancedAuthFailures(t *testing.T) {
	opts := Options{Authenticators: []Authenticator{echoAuth{}}}
	t.Run("unknown method", func(t *testing.T) {
		h := newHarness(t, opts, 1)
		c := h.dial(0)
		p := authConnect("a", "hello")
		p.Props.AuthMethod = []byte("NOPE")
		require.Error(t, c.send(p))
		ack := c.recvOne().(*proto.Connack)
		require.Equal(t, proto.BadAuthenticationMethod, ack.Reason) // [MQTT-4.12.0-1]
	})
	t.Run("wrong data at CONNECT", func(t *testing.T) {
		h := newHarness(t, opts, 1)
		c := h.dial(0)
		require.Error(t, c.send(authConnect("a", "bye")))
		ack := c.recvOne().(*proto.Connack)
		require.Equal(t, proto.NotAuthorized, ack.Reason) // [MQTT-4.12.0-4] CONNACK failure, then close
		require.Zero(t, h.b.SessionCount())
	})
	t.Run("wrong answer to the challenge", func(t *testing.T) {
		h := newHarness(t, opts, 1)
		c := h.dial(0)
		require.NoError(t, c.send(authConnect("a", "hello")))
		c.recvOne()
		require.Error(t, c.send(authPacket(proto.ContinueAuthentication, "ECHO", "guess")))
		require.Equal(t, proto.NotAuthorized, c.recvOne().(*proto.Connack).Reason) // [MQTT-4.12.0-4]
	})
	t.Run("other method in AUTH", func(t *testing.T) {
		h := newHarness(t, opts, 1)
		c := h.dial(0)
		require.NoError(t, c.send(authConnect("a", "hello")))
		c.recvOne()
		require.Error(t, c.send(authPacket(proto.ContinueAuthentication, "OTHER", "secret")))
		require.Equal(t, proto.ProtocolError, c.recvOne().(*proto.Connack).Reason) // [MQTT-4.12.0-5]
	})
	t.Run("PUBLISH before authentication ends", func(t *testing.T) {
		h := newHarness(t, opts, 1)
		c := h.dial(0)
		require.NoError(t, c.send(authConnect("a", "hello")))
		c.recvOne()
		// Section 4.12: only AUTH (or DISCONNECT) until CONNACK
		require.Error(t, c.send(&proto.Publish{Topic: []byte("t")}))
		require.Equal(t, proto.ProtocolError, c.recvOne().(*proto.Connack).Reason)
	})
	t.Run("AUTH without a method agreed", func(t *testing.T) {
		h := newHarness(t, opts, 1)
		c := h.dial(0)
		ack := c.connect(connectPacket(proto.V5, "plain", true, 0, 0))
		// [MQTT-4.12.0-6] no Authentication Method in CONNACK (nor AUTH)
		// for a client that named none
		require.False(t, ack.Props.Has(proto.PropAuthMethod))
		require.Error(t, c.send(authPacket(proto.ReAuthenticate, "ECHO", "hello")))
		requireDisconnect(t, c.recvOne(), proto.ProtocolError) // the client broke [MQTT-4.12.0-7]
	})
}

func TestReauthentication(t *testing.T) {
	h := newHarness(t, Options{Authenticators: []Authenticator{echoAuth{}}}, 1)
	c := h.dial(0)
	require.NoError(t, c.send(authConnect("a", "hello")))
	c.recvOne()
	require.NoError(t, c.send(authPacket(proto.ContinueAuthentication, "ECHO", "secret")))
	c.recvOne()

	// [MQTT-4.12.1-1] re-authentication with the same method, on a live
	// connection that keeps working meanwhile.
	c.mustSend(authPacket(proto.ReAuthenticate, "ECHO", "hello"))
	requireAuth(t, c.recvOne(), proto.ContinueAuthentication, "secret?")
	c.subscribe("still/working", 0)
	c.mustSend(authPacket(proto.ContinueAuthentication, "ECHO", "secret"))
	requireAuth(t, c.recvOne(), proto.Success, "welcome")

	// A different method is a protocol error [MQTT-4.12.1-1].
	require.Error(t, c.send(authPacket(proto.ReAuthenticate, "OTHER", "hello")))
	requireDisconnect(t, c.recvOne(), proto.ProtocolError)

	// A failed re-authentication ends the connection with DISCONNECT
	// [MQTT-4.12.1-2].
	c2 := h.dial(0)
	require.NoError(t, c2.send(authConnect("b", "hello")))
	c2.recvOne()
	require.NoError(t, c2.send(authPacket(proto.ContinueAuthentication, "ECHO", "secret")))
	c2.recvOne()
	c2.mustSend(authPacket(proto.ReAuthenticate, "ECHO", "hello"))
	c2.recvOne()
	require.Error(t, c2.send(authPacket(proto.ContinueAuthentication, "ECHO", "nope")))
	requireDisconnect(t, c2.recvOne(), proto.NotAuthorized)
}
