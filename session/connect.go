package session

import (
	"errors"
	"time"

	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/router"
)

// handleConnect decodes CONNECT, settles the session (new, resumed or taken
// over) and answers CONNACK.
func (c *Client) handleConnect(h proto.FixedHeader, body []byte) error {
	b := c.loop.broker
	p := &c.loop.connect
	if err := p.Decode(h, body); err != nil {
		return c.refuse(p.Version, err)
	}
	c.version = p.Version
	certified := c.certUsername(p)
	if c.version == proto.V5 && p.Props.Has(proto.PropMaximumPacketSize) {
		c.maxOut = p.Props.MaximumPacketSize
	}
	if c.version == proto.V5 && p.Props.Has(proto.PropRequestProblemInfo) && p.Props.RequestProblemInfo == 0 {
		c.setFlag(flagNoProblemInfo)
	}
	if c.version == proto.V5 && p.Props.Has(proto.PropTopicAliasMaximum) {
		// absent or 0: no alias may be sent [MQTT-3.1.2-27]
		c.aliasCap = uint16(max(0, min(int(p.Props.TopicAliasMaximum), b.opts.MaxTopicAliasOut)))
	}
	if c.flags.Load()&flagOverRate != 0 {
		// Accepted past its listener's connect rate (gate.go): refused
		// before any hook or session work.
		return c.refuseRate()
	}
	if b.opts.Redirect != "" {
		code := proto.UseAnotherServer
		if b.opts.RedirectPermanent {
			code = proto.ServerMoved
		}
		return c.refuse(c.version, proto.Errorf(code, "use %s", b.opts.Redirect))
	}

	// A CONNECT handed over again once hooks answered (decide.go) keeps
	// the id it was given and is not announced twice.
	again := c.handledAgain()
	id := string(p.ClientID)
	assigned := false
	if again && id == "" && c.ext.info != nil {
		id, assigned = c.ext.info.ID, true
	} else if id == "" {
		if c.version < proto.V5 && !p.CleanStart {
			// [MQTT-3.1.3-8] an empty id needs Clean Session 1
			return c.refuse(c.version, proto.Errorf(proto.ClientIdentifierNotValid, "empty client id with clean session 0"))
		}
		// [MQTT-3.1.3-6] [MQTT-3.1.3-7] the server assigns a unique id
		id = b.assignClientID()
		assigned = true
	}
	if p.WillFlag && p.WillQoS > b.opts.MaxQoS.Level() {
		// [MQTT-3.2.2-12] a will QoS beyond the broker's is refused
		return c.refuse(c.version, proto.Errorf(proto.QoSNotSupported, "will QoS %d is above the maximum %d", p.WillQoS, b.opts.MaxQoS.Level()))
	}
	if p.WillFlag && p.WillRetain && b.opts.DisableRetain {
		// [MQTT-3.2.2-13] a retained will without retain support is refused
		return c.refuse(c.version, proto.Errorf(proto.RetainNotSupported, "retained wills are not supported"))
	}
	// The caps, before the hooks authenticate: a full listener spends no
	// password check on the clients it turns away (gate.go).
	taking := id
	if assigned {
		taking = "" // a new id takes nothing over
	}
	if err := c.admit(taking); err != nil {
		return err
	}
	if hooks := b.hooks.load(); len(hooks.all) > 0 {
		if !again {
			c.connectInfo(id, p)
		}
		if !again && len(hooks.by[OnConnect]) > 0 {
			if err := c.hookConnect(p); err != nil {
				return c.refuse(c.version, err)
			}
		}
		if len(hooks.by[OnConnectAuthenticate]) > 0 && !certified && !(c.version == proto.V5 && p.Props.Has(proto.PropAuthMethod)) {
			allow, wait := c.decide(OnConnectAuthenticate, "", false, p)
			if wait {
				return ErrWaiting // handled again with the answer
			}
			if !allow {
				return c.refuseAuth() // throttle.go
			}
		}
	}
	if c.version == proto.V5 && p.Props.Has(proto.PropAuthMethod) {
		return c.beginAuth(p, id, assigned) // enhanced authentication (auth.go)
	}
	return c.accept(p, id, assigned, nil)
}

// certUsername makes the username of a client whose listener takes it
// from the client certificate (reactor: Listener.Username) the one in its
// CONNECT, whatever the client wrote there, and reports whether it did:
// the verified certificate has authenticated the client, so the
// authentication hooks are not asked (ACL hooks are, with that username).
func (c *Client) certUsername(p *proto.Connect) bool {
	id, ok := c.conn.(interface{ CertUsername() string })
	if !ok {
		return false
	}
	u := id.CertUsername()
	if u == "" {
		return false
	}
	p.Username, p.UsernameFlag = []byte(u), true
	p.Password, p.PasswordFlag = nil, false
	return true
}

// connectInfo records what hooks see of c, from its CONNECT.
func (c *Client) connectInfo(id string, p *proto.Connect) {
	c.x().info = nil
	i := c.info()
	i.ID, i.Username, i.Version = id, string(p.Username), p.Version
	c.ext.info = &i
}

// hookConnect runs OnConnect; the first error refuses the CONNECT.
func (c *Client) hookConnect(p *proto.Connect) error {
	b := c.loop.broker
	cl := c.info()
	for _, e := range b.hooks.load().by[OnConnect] {
		var err error
		b.callOne(e, OnConnect, func(h Hook) { err = h.OnConnect(cl, p) })
		if err != nil {
			var pe *proto.Error
			if errors.As(err, &pe) {
				return pe
			}
			return proto.Errorf(proto.UnspecifiedError, "refused: %v", err)
		}
	}
	return nil
}

// accept settles the session of an accepted CONNECT and answers CONNACK;
// auth carries the Authentication Method and final data of an enhanced
// authentication that succeeded.
func (c *Client) accept(p *proto.Connect, id string, assigned bool, auth *proto.Properties) error {
	b := c.loop.broker
	c.keepAlive = p.KeepAlive
	serverKeepAlive := false
	if ka := b.opts.ServerKeepAlive; ka != 0 && (c.keepAlive == 0 || c.keepAlive > ka) {
		// A cap: none, or a longer keepalive, becomes the broker's; a
		// shorter one stays the client's (its will and its end are noticed
		// as soon as it asked). A v5 client is told and must use the
		// server's value [MQTT-3.2.2-21]; 3.1.1 cannot be told.
		c.keepAlive = ka
		serverKeepAlive = c.version == proto.V5
	}
	c.window = b.opts.MaxInflight
	expiry := uint32(0)
	if c.version == proto.V5 {
		if p.Props.Has(proto.PropReceiveMaximum) && p.Props.ReceiveMaximum < c.window {
			c.window = p.Props.ReceiveMaximum // [MQTT-3.3.4-9]
		}
		expiry = p.Props.SessionExpiry
	} else if !p.CleanStart {
		expiry = ExpiryNever
	}
	asked := expiry
	expiry = b.capSessionExpiry(expiry)
	if p.WillFlag {
		c.x().will = willMessage(p, id)
		if c.version == proto.V5 {
			c.ext.willDelay = p.WillProps.WillDelay
		}
	}

	if b.has(OnSessionEstablish) {
		cl := c.info()
		b.call(OnSessionEstablish, func(h Hook) { h.OnSessionEstablish(cl, p) })
	}
	s, present, expiry := b.attach(c, id, p.CleanStart, expiry)
	if s == nil {
		return c.refuseFull(id) // sessionlimit.go
	}
	c.sess = s
	c.state = stateConnected
	c.since = c.loop.wall
	if c.ext != nil && c.ext.info != nil {
		c.username = c.ext.info.Username // the hooks' copy: no second one
	} else {
		c.username = string(p.Username)
	}
	if c.ext != nil && c.ext.info != nil {
		// Fixed from here on: read by hooks off the loop (Session.who).
		c.ext.info.ID = id
		s.who.Store(c.ext.info)
	}
	b.Stats.raiseMaxConnected(b.Stats.Connected.Add(1))
	b.Stats.Connections.Add(1)
	c.countConnected() // gate.go

	ack := proto.Connack{SessionPresent: present, Reason: proto.Success}
	if c.version == proto.V5 {
		pr := &ack.Props
		if assigned {
			pr.AssignedClientID = []byte(id)
			pr.Set(proto.PropAssignedClientID)
		}
		pr.ReceiveMaximum = b.opts.ReceiveMaximum
		pr.Set(proto.PropReceiveMaximum)
		pr.MaximumPacketSize = uint32(b.opts.MaxPacketSize)
		pr.Set(proto.PropMaximumPacketSize)
		pr.TopicAliasMaximum = b.opts.TopicAliasMaximum
		pr.Set(proto.PropTopicAliasMaximum)
		b.advertise(pr)
		if expiry != asked {
			// Section 3.2.2.3.2: the server says when it uses another value
			pr.SessionExpiry = expiry
			pr.Set(proto.PropSessionExpiry)
		}
		if serverKeepAlive {
			pr.ServerKeepAlive = c.keepAlive
			pr.Set(proto.PropServerKeepAlive)
		}
		if p.Props.RequestResponseInfo == 1 && b.opts.ResponseInformation != "" {
			// Sent only on request [MQTT-3.1.2-28]
			pr.ResponseInfo = []byte(b.opts.ResponseInformation)
			pr.Set(proto.PropResponseInfo)
		}
		if auth != nil {
			pr.AuthMethod, pr.AuthData = auth.AuthMethod, auth.AuthData
			pr.Set(proto.PropAuthMethod)
			if len(auth.AuthData) > 0 {
				pr.Set(proto.PropAuthData)
			}
		}
	}
	c.buf().B = ack.Append(c.out.B, c.version)
	c.touch()
	c.logConnected(id, c.username, present) // debuglog.go
	if b.has(OnSessionEstablished) {
		cl := c.info()
		b.call(OnSessionEstablished, func(h Hook) { h.OnSessionEstablished(cl, p) })
	}

	if present {
		s.mu.Lock()
		if s.client.Load() == c {
			s.resumeLocked(c)
		}
		s.mu.Unlock()
	}
	return nil
}

// refuse answers a CONNECT that cannot be accepted with the CONNACK code the
// specification names, in the client's protocol version where it is known
// [MQTT-3.2.2-6] [MQTT-3.2.2-7], and returns err so the reactor closes.
func (c *Client) refuse(v proto.Version, err error) error {
	c.loop.broker.Stats.ProtocolFails.Add(1)
	code := proto.UnspecifiedError
	var pe *proto.Error
	if errors.As(err, &pe) {
		code = pe.Code
	}
	if v != proto.V5 && v != proto.V311 && v != proto.V31 {
		if code != proto.UnsupportedProtocolVersion {
			return err // not even a CONNECT we can answer
		}
		// An unknown level: answer as 3.1.1 does [MQTT-3.1.2-2].
		v = proto.V311
	}
	c.logRefused(v, code, err) // debuglog.go
	ack := proto.Connack{Reason: code}
	if v == proto.V5 && (code == proto.UseAnotherServer || code == proto.ServerMoved) {
		ack.Props.ServerReference = []byte(c.loop.broker.opts.Redirect)
		ack.Props.Set(proto.PropServerReference)
	}
	if v == proto.V5 && pe != nil {
		c.reasonString(&ack.Props, pe.Msg, func() int { return len(ack.Append(nil, v)) })
	}
	if v != proto.V5 {
		switch code {
		case proto.UnsupportedProtocolVersion, proto.ClientIdentifierNotValid,
			proto.BadUserNameOrPassword, proto.NotAuthorized, proto.ServerUnavailable,
			proto.UseAnotherServer, proto.ServerMoved:
			ack.Reason = proto.V3ConnackCode(code)
		default:
			// 3.1.1 has no CONNACK code for a malformed CONNECT: close
			// without one [MQTT-4.8.0-1].
			return err
		}
	}
	c.buf().B = ack.Append(c.out.B, v)
	c.linger() // [MQTT-3.2.2-7] close, after the client has read it
	return err
}

// willMessage copies the will out of the CONNECT buffer.
func willMessage(p *proto.Connect, origin string) *router.Message {
	m := &router.Message{
		Topic:   string(p.WillTopic),
		Payload: append([]byte(nil), p.WillPayload...),
		QoS:     p.WillQoS,
		Retain:  p.WillRetain,
		Origin:  origin,
	}
	if p.Version == proto.V5 {
		m.Props = forwardProps(&p.WillProps)
	}
	return m
}

// attach binds client c to the session of id: a fresh one when cleanStart
// is set or none exists, otherwise the existing one, taken from any live
// connection that holds it [MQTT-3.1.4-3]. It returns the expiry used,
// which is 0 for a v5 client that asked for a new persistent session past
// MaxPersistentSessions; a 3.1.1 client is refused instead (nil session),
// before anything changed (sessionlimit.go).
func (b *Broker) attach(c *Client, id string, cleanStart bool, expiry uint32) (*Session, bool, uint32) {
	var stale []string
	var old *Session
	limited := false
	b.mu.Lock()
	s := b.sessions.get(id)
	if expiry > 0 && b.fullLocked(s) {
		if c.version != proto.V5 {
			b.mu.Unlock()
			return nil, false, 0
		}
		expiry, limited = 0, true
	}
	present := false
	if s != nil {
		s.mu.Lock()
		if prev := s.client.Load(); prev != nil {
			s.detachLocked()
			prev.takeOver()
		}
		s.stopTimerLocked() // and a reconnect cancels a delayed will [MQTT-3.1.3-9]
		if cleanStart || s.isEnded() {
			// [MQTT-3.1.2-4] Clean Start discards the old session
			old = s
			b.countLocked(s, false)
			s.forgetLocked()
			stale = s.endLocked()
			s.mu.Unlock()
			s = nil
		} else {
			present = true // [MQTT-3.2.2-3]
		}
	}
	if s == nil {
		s = newSession(b, id)
		s.mu.Lock()
		b.addSessionLocked(s)
	}
	s.expiry = expiry
	b.countLocked(s, expiry > 0)
	s.setBit(sessLimited, limited)
	s.attachLocked(c)
	s.persistLocked(c.version, 0)
	w, delay := c.willOf()
	s.persistWillLocked(w, delay, 0) // or drop the one a reconnect cancelled
	s.mu.Unlock()
	b.mu.Unlock()
	if limited {
		b.noteRefusedSession(id, c.version)
	}
	if old != nil {
		old.unsubscribeAll(stale)
	}
	return s, present, expiry
}

// takeOver is called, from another loop, on the connection that loses its
// session to a new one with the same client id: it gets DISCONNECT 0x8E in
// v5 and is closed on its own loop [MQTT-3.1.4-3].
func (c *Client) takeOver() {
	c.setFlag(flagTakenOver)
	c.loop.run(func() {
		if c.state != stateConnected {
			return
		}
		if c.version == proto.V5 {
			d := proto.Disconnect{Reason: proto.SessionTakenOver}
			c.buf().B = d.Append(c.out.B, proto.V5)
			c.linger() // the drain's Flush sends it and shuts the write side
			return
		}
		c.hangUp()
	})
}

// handleDisconnect ends the connection normally; in v5 it may change the
// session expiry and, with reason 0x04, keep the will.
func (c *Client) handleDisconnect(h proto.FixedHeader, body []byte) error {
	p := &c.loop.disc
	if err := p.Decode(h, body, c.version); err != nil {
		return c.fail(err)
	}
	if c.version == proto.V5 && p.Props.Has(proto.PropSessionExpiry) {
		s := c.sess
		s.mu.Lock()
		if s.bits&sessLimited != 0 {
			// Given 0 for a full broker: the server's value stands (sessionlimit.go).
			p.Props.SessionExpiry = 0
		}
		if s.expiry == 0 && p.Props.SessionExpiry != 0 {
			s.mu.Unlock()
			// Section 3.14.2.2.2: an expiry of 0 at CONNECT may not become non-zero
			return c.fail(proto.Errorf(proto.ProtocolError, "session expiry changed from 0 on DISCONNECT"))
		}
		s.expiry = c.loop.broker.capSessionExpiry(p.Props.SessionExpiry)
		s.mu.Unlock()
	}
	if !(c.version == proto.V5 && p.Reason == proto.DisconnectWithWill) {
		if c.ext != nil {
			c.ext.will = nil // [MQTT-3.14.4-3] a normal DISCONNECT discards the will
		}
	}
	return ErrDisconnect
}

// capSessionExpiry lowers a Session Expiry Interval (seconds) to
// MaxSessionExpiry, rounded up so that a positive maximum never turns into 0
// (which would end the session with the connection).
func (b *Broker) capSessionExpiry(sec uint32) uint32 {
	limit := b.opts.MaxSessionExpiry
	if limit <= 0 {
		return sec
	}
	if c := uint64((limit + time.Second - 1) / time.Second); uint64(sec) > c {
		return uint32(c)
	}
	return sec
}

// advertise sets the CONNACK properties that tell a v5 client which
// capabilities the broker lacks; an absent property means available.
func (b *Broker) advertise(pr *proto.Properties) {
	o := &b.opts
	if q := o.MaxQoS.Level(); q < 2 {
		pr.MaximumQoS = q // [MQTT-3.2.2-9]
		pr.Set(proto.PropMaximumQoS)
	}
	if o.DisableRetain {
		pr.RetainAvailable = 0
		pr.Set(proto.PropRetainAvailable)
	}
	if o.DisableWildcards {
		pr.WildcardSubAvailable = 0
		pr.Set(proto.PropWildcardSubAvailable)
	}
	if o.DisableSubscriptionIDs {
		pr.SubIDAvailable = 0
		pr.Set(proto.PropSubIDAvailable)
	}
	if o.DisableSharedSubscriptions {
		pr.SharedSubAvailable = 0
		pr.Set(proto.PropSharedSubAvailable)
	}
}

// reasonString adds msg as the Reason String of a CONNACK or DISCONNECT
// unless the packet would then exceed the client's Maximum Packet Size
// [MQTT-3.2.2-19] [MQTT-3.14.2-3], or the client asked for no problem
// information (Request Problem Information 0 allows it on these two
// packets [MQTT-3.1.2-29], but a client that asks for none gets none).
// size measures the packet as it stands.
func (c *Client) reasonString(pr *proto.Properties, msg string, size func() int) {
	if msg == "" || c.flags.Load()&flagNoProblemInfo != 0 {
		return
	}
	pr.ReasonString = []byte(msg)
	pr.Set(proto.PropReasonString)
	if c.maxOut != 0 && size() > int(c.maxOut) {
		pr.ReasonString = nil
		pr.Clear(proto.PropReasonString)
	}
}
