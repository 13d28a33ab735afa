package session

import (
	"errors"

	"github.com/loom-mqtt/loom/proto"
)

// Authenticator runs one method of MQTT 5 enhanced authentication (the
// CONNECT/AUTH exchange of section 4.12), such as SCRAM-SHA-256 in
// hooks/scram. A Hook that is also an Authenticator offers its method
// once added with AddHook; Options.Authenticators takes others.
type Authenticator interface {
	// Method is the Authentication Method name clients ask for.
	Method() string
	// Begin starts an exchange for a client; it is called on an event loop
	// and must not block.
	Begin(clientID string, username []byte) AuthExchange
}

// AuthExchange is one authentication in progress. Step takes the client's
// Authentication Data and returns the server's: with done false the client
// is asked to continue (AUTH 0x18); with done true it is authenticated and
// resp goes out with the success. An error fails the authentication. Step
// runs on the event loop and must not block.
type AuthExchange interface {
	Step(data []byte) (resp []byte, done bool, err error)
}

// authState is an exchange under way on a connection: at CONNECT (with the
// CONNECT kept until it succeeds) or a re-authentication.
type authState struct {
	ex       AuthExchange
	connect  *proto.Connect // owned copy; nil for a re-authentication
	id       string
	assigned bool
}

// authenticator is the method's: from Options.Authenticators, or a hook
// added with AddHook that is an Authenticator too (hooks/scram), the
// first in the order given.
func (b *Broker) authenticator(method []byte) Authenticator {
	for _, a := range b.opts.Authenticators {
		if a.Method() == string(method) {
			return a
		}
	}
	for _, e := range b.hooks.load().all {
		if a, ok := e.h.(Authenticator); ok && a.Method() == string(method) {
			return a
		}
	}
	return nil
}

// beginAuth starts enhanced authentication for a CONNECT that names an
// Authentication Method [MQTT-4.12.0-1].
func (c *Client) beginAuth(p *proto.Connect, id string, assigned bool) error {
	a := c.loop.broker.authenticator(p.Props.AuthMethod)
	if a == nil {
		// [MQTT-4.12.0-1] an unsupported method: CONNACK 0x8C
		return c.refuse(c.version, proto.Errorf(proto.BadAuthenticationMethod, "authentication method %q not supported", p.Props.AuthMethod))
	}
	c.x().method = a.Method()
	st := &authState{ex: a.Begin(id, p.Username), connect: ownConnect(p), id: id, assigned: assigned}
	return c.authStep(st, p.Props.AuthData)
}

// authStep feeds the client's data to the exchange and answers: AUTH 0x18
// to continue, or the success (CONNACK, or AUTH 0x00 after a
// re-authentication), or the failure.
func (c *Client) authStep(st *authState, data []byte) error {
	resp, done, err := st.ex.Step(data)
	if err != nil {
		c.x().auth = nil
		e := proto.Errorf(proto.NotAuthorized, "authentication failed: %v", err)
		if st.connect != nil {
			return c.refuse(proto.V5, e) // [MQTT-4.12.0-2] CONNACK with a failure code
		}
		return c.fail(e) // [MQTT-4.12.1-2] re-authentication failed: DISCONNECT
	}
	if !done {
		c.x().auth = st
		if st.connect != nil {
			c.state = stateAuthenticating
		}
		c.writeAuth(proto.ContinueAuthentication, resp) // [MQTT-4.12.0-2]
		return nil
	}
	c.x().auth = nil
	if st.connect != nil {
		final := &proto.Properties{AuthMethod: []byte(c.x().method), AuthData: resp}
		return c.accept(st.connect, st.id, st.assigned, final)
	}
	c.writeAuth(proto.Success, resp) // re-authentication succeeded
	return nil
}

func (c *Client) writeAuth(rc proto.ReasonCode, data []byte) {
	a := proto.Auth{Reason: rc}
	a.Props.AuthMethod = []byte(c.x().method) // [MQTT-4.12.0-5] the same method throughout
	a.Props.Set(proto.PropAuthMethod)
	if len(data) > 0 {
		a.Props.AuthData = data
		a.Props.Set(proto.PropAuthData)
	}
	c.buf().B = a.Append(c.out.B, proto.V5)
}

// decodeAuth decodes an AUTH and checks its method against the one agreed.
func (c *Client) decodeAuth(h proto.FixedHeader, body []byte) (*proto.Auth, error) {
	var a proto.Auth
	if err := a.Decode(h, body, c.version); err != nil {
		return nil, err // malformed [MQTT-3.15.1-1]
	}
	if c.x().method == "" {
		// No enhanced authentication was agreed in CONNECT [MQTT-4.12.0-7].
		return nil, proto.Errorf(proto.ProtocolError, "AUTH without an authentication method")
	}
	if string(a.Props.AuthMethod) != c.x().method {
		// [MQTT-4.12.0-5] [MQTT-4.12.1-1] the method may not change
		return nil, proto.Errorf(proto.ProtocolError, "AUTH with method %q, not %q", a.Props.AuthMethod, c.x().method)
	}
	b := c.loop.broker
	if !b.has(OnAuthPacket) {
		return &a, nil
	}
	cl := c.info()
	pk, err := chain(b, OnAuthPacket, &a, func(h Hook, pk *proto.Auth) (*proto.Auth, error) {
		return h.OnAuthPacket(cl, pk)
	})
	switch {
	case errors.Is(err, ErrRejectPacket):
		return nil, nil
	case err != nil:
		return nil, proto.Errorf(proto.NotAuthorized, "AUTH refused: %v", err)
	}
	return pk, nil
}

// continueConnectAuth handles the packets of a connection still
// authenticating its CONNECT: only AUTH 0x18 (continue) is expected
// [MQTT-4.12.0-6]; the client may also give up with DISCONNECT.
func (c *Client) continueConnectAuth(h proto.FixedHeader, body []byte) error {
	if h.Type == proto.DISCONNECT {
		return ErrDisconnect
	}
	if h.Type != proto.AUTH {
		return c.refuse(proto.V5, proto.Errorf(proto.ProtocolError, "%v during authentication", h.Type))
	}
	a, err := c.decodeAuth(h, body)
	if err != nil {
		return c.refuse(proto.V5, err)
	}
	if a == nil {
		return nil // a hook dropped it (OnAuthPacket)
	}
	if a.Reason != proto.ContinueAuthentication {
		return c.refuse(proto.V5, proto.Errorf(proto.ProtocolError, "AUTH reason 0x%02X during authentication", byte(a.Reason)))
	}
	return c.authStep(c.x().auth, a.Props.AuthData)
}

// handleReauth handles AUTH on a connected client: 0x19 starts a
// re-authentication with the method of CONNECT [MQTT-4.12.1-1], 0x18
// continues one.
func (c *Client) handleReauth(h proto.FixedHeader, body []byte) error {
	a, err := c.decodeAuth(h, body)
	if err != nil {
		return c.fail(err)
	}
	if a == nil {
		return nil // a hook dropped it (OnAuthPacket)
	}
	switch {
	case a.Reason == proto.ReAuthenticate && c.x().auth == nil:
		au := c.loop.broker.authenticator([]byte(c.x().method))
		return c.authStep(&authState{ex: au.Begin(c.sess.id, nil)}, a.Props.AuthData)
	case a.Reason == proto.ContinueAuthentication && c.x().auth != nil:
		return c.authStep(c.x().auth, a.Props.AuthData)
	default:
		return c.fail(proto.Errorf(proto.ProtocolError, "AUTH reason 0x%02X out of turn", byte(a.Reason)))
	}
}

// ownConnect copies what accept needs of a CONNECT out of the loop's
// decoding buffer, for an accept that waits for an AUTH exchange.
func ownConnect(p *proto.Connect) *proto.Connect {
	o := &proto.Connect{
		Version: p.Version, CleanStart: p.CleanStart, KeepAlive: p.KeepAlive,
		ClientID: append([]byte(nil), p.ClientID...),
		WillFlag: p.WillFlag, WillQoS: p.WillQoS, WillRetain: p.WillRetain,
		WillTopic: append([]byte(nil), p.WillTopic...), WillPayload: append([]byte(nil), p.WillPayload...),
		UsernameFlag: p.UsernameFlag, Username: append([]byte(nil), p.Username...),
	}
	o.Props.CopyFrom(&p.Props)
	o.WillProps.CopyFrom(&p.WillProps)
	return o
}
