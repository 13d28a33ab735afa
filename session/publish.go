package session

import (
	"time"
	"unsafe"

	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/router"
)

// handlePublish routes an inbound PUBLISH and acknowledges it by its QoS.
// The message takes the one publish path (route.go): check, then this
// client's QoS 2 bookkeeping and acknowledgement set-up, then route.
func (c *Client) handlePublish(h proto.FixedHeader, body []byte) error {
	b := c.loop.broker
	p := &c.loop.publish
	if err := p.Decode(h, body, c.version); err != nil {
		return c.fail(err)
	}
	if p.Props.Has(proto.PropSubscriptionID) {
		// [MQTT-3.3.4-6] only the server sends Subscription Identifiers
		return c.fail(proto.Errorf(proto.ProtocolError, "PUBLISH from a client carries a Subscription Identifier"))
	}
	if p.QoS > b.opts.MaxQoS.Level() {
		// Section 3.3.1.2: above the Maximum QoS given in CONNACK
		return c.fail(proto.Errorf(proto.QoSNotSupported, "QoS %d is above the maximum %d", p.QoS, b.opts.MaxQoS.Level()))
	}
	if p.Retain && b.opts.DisableRetain {
		// Section 3.3.1.3: Retain Available was 0
		return c.fail(proto.Errorf(proto.RetainNotSupported, "retained messages are not supported"))
	}
	topic, err := c.resolveTopic(p)
	if err != nil {
		return c.fail(err)
	}
	if b.has(OnACLCheck) {
		allow, wait := c.decide(OnACLCheck, topic, true, nil)
		if wait {
			return ErrWaiting // handled again with the answer (decide.go)
		}
		if !allow {
			c.countIn(p.QoS, h)
			b.Stats.ACLDenied.Add(1)
			b.drop(DropNotAuthorized)
			c.refusePublish(p, proto.NotAuthorized)
			return nil
		}
	}

	pub := publishing{m: newMessage(p, topic, c.sess.id), from: fromClient, now: c.loop.wall, loop: c.loop}
	if len(b.hooks.load().all) > 0 {
		pub.info = c.infoRef() // hooks get copies; this one is made once per connection
	}
	if rc, ok := b.check(&pub); !ok {
		c.countIn(p.QoS, h)
		c.refusePublish(p, rc)
		return nil
	}
	m := pub.m

	var ref *publishRef
	if p.QoS == 2 {
		s := c.sess
		s.mu.Lock()
		if _, seen := s.inQoS2[p.PacketID]; seen {
			// A re-sent QoS 2 PUBLISH whose PUBREL has not come yet: answer
			// again, deliver once [MQTT-4.3.3-10]. If the first one's ack
			// waits for the disk, so does this one.
			s.mu.Unlock()
			c.countIn(p.QoS, h)
			c.ackPublish(proto.PUBREC, p.PacketID, proto.Success, "", nil)
			return nil
		}
		if len(s.inQoS2) >= int(b.opts.ReceiveMaximum) {
			s.mu.Unlock()
			// [MQTT-3.3.4-7] more unacknowledged QoS 2 than Receive Maximum
			return c.fail(proto.Errorf(proto.ReceiveMaximumExceeded, "more than %d QoS 2 messages awaiting PUBREL", b.opts.ReceiveMaximum))
		}
		if s.inQoS2 == nil {
			s.inQoS2 = make(map[uint16]*publishRef)
		}
		if s.isStored() {
			ref = &publishRef{clientID: s.id, pid: p.PacketID, inbound: true}
		}
		s.inQoS2[p.PacketID] = ref
		s.mu.Unlock()
	}

	if p.QoS > 0 && b.opts.Store != nil && ref == nil && (m.Retain || b.storedSessions.Load() > 0) {
		// Something of it may be written: its ack waits to know.
		ref = &publishRef{stored: m.Retain}
	}
	if p.QoS > 0 && ref == nil && c.version == proto.V5 && b.pressured(c.loop.clock) {
		// Bounds are dropping messages: the ack waits for the routing pass,
		// to say 0x97 if this one reached no one (held.go).
		ref = &publishRef{}
	}
	if ref != nil {
		m.Ref = ref
	}
	c.loop.counts.pubBytesIn[p.QoS].n.Add(int64(packetSize(h))) // route counts the message
	b.route(&pub)

	switch p.QoS {
	case 1:
		c.ackPublish(proto.PUBACK, p.PacketID, proto.Success, m.Topic, m) // [MQTT-4.3.2-4]
	case 2:
		c.ackPublish(proto.PUBREC, p.PacketID, proto.Success, m.Topic, m) // [MQTT-4.3.3-8]
	}
	return nil
}

// countIn counts a PUBLISH received that is not routed: the message and
// its packet's bytes, by QoS. One that is routed is counted by route, its
// bytes by handlePublish.
func (c *Client) countIn(qos byte, h proto.FixedHeader) {
	c.loop.counts.msgsIn[qos].n.Add(1)
	c.loop.counts.pubBytesIn[qos].n.Add(int64(packetSize(h)))
}

// packetSize is the size of a whole packet with fixed header h.
func packetSize(h proto.FixedHeader) int { return 1 + proto.VarintSize(h.Remaining) + h.Remaining }

// refusePublish ends the flow of a PUBLISH that is not routed: rc says
// why (Success for one a hook dropped quietly). A QoS 1/2 flow still ends
// cleanly, in v5 with the reason; a 3.1.1 client, which has no way to be
// told, gets its plain acknowledgement (as Mosquitto does).
func (c *Client) refusePublish(p *proto.Publish, rc proto.ReasonCode) {
	if c.version != proto.V5 {
		rc = proto.Success
	}
	switch p.QoS {
	case 1:
		c.ackPublish(proto.PUBACK, p.PacketID, rc, "", nil)
	case 2:
		c.ackPublish(proto.PUBREC, p.PacketID, rc, "", nil)
	}
}

// heldAck is an acknowledgement waiting for the writes of its message to be
// committed, or for an earlier held one.
type heldAck struct {
	typ   proto.Type
	pid   uint16
	rc    proto.ReasonCode
	ready bool
	// lost: the store could not commit the packet's writes, so it must
	// not be acknowledged as done (releaseAck).
	lost bool
	ref  *publishRef // the publish's, for a PUBREC that ends its flow
}

// ackPublish acknowledges a QoS 1/2 PUBLISH (topic and m set) or a PUBREL
// (topic "", m nil). Whatever the sync policy, an acknowledgement leaves
// only once the store has committed the writes its packet caused, so that
// a message acknowledged to its publisher survives a kill of the process:
// under "always" the commit is synced, under "interval" and "none" it is in
// the operating system's hands. The wait happens off the loop — the store's
// writer batches the commits and posts the release back — and acks leave in
// the order their packets came [MQTT-4.6.0-2], whatever order the shards
// and the disk finish in.
//
// A publish that carries a publishRef waits until its shard has routed it
// (and queued the copies of the stored sessions it reached, see
// storeRouted); it then waits for the commit if anything of it was queued.
// stored says a PUBREL's record delete was queued. Without a store, or with
// nothing to wait for and nothing held before it, the ack goes at once.
func (c *Client) ackPublish(typ proto.Type, pid uint16, rc proto.ReasonCode, topic string, m *router.Message) {
	c.ackAfter(typ, pid, rc, topic, m, false)
}

// ackAfter is ackPublish; stored says a write for the packet was queued
// on the loop (a PUBREL's record delete), so the ack waits for the commit.
func (c *Client) ackAfter(typ proto.Type, pid uint16, rc proto.ReasonCode, topic string, m *router.Message, stored bool) {
	b := c.loop.broker
	st := b.opts.Store
	var ref *publishRef
	if m != nil {
		ref, _ = m.Ref.(*publishRef)
	}
	held := c.ext != nil && len(c.ext.acks) > 0
	if ref == nil && !stored && !held {
		c.writeAck(typ, pid, rc)
		return
	}
	x := c.x()
	seq := x.ackBase + uint64(len(x.acks))
	x.acks = append(x.acks, heldAck{typ: typ, pid: pid, rc: rc, ref: ref})
	// durable releases the ack once the store has committed, or reports
	// that it could not.
	durable := func(rc proto.ReasonCode) func(error) {
		return func(err error) { c.loop.run(func() { c.releaseAck(seq, rc, err != nil) }) }
	}
	switch {
	case ref != nil:
		b.router.After(topic, func() {
			// On the message's shard, after the routing pass that queued
			// its stored copies and counted its deliveries.
			b.settleInbound(m, ref)
			rc := rc
			if c.version == proto.V5 && ref.reached == 0 && ref.refused > 0 {
				// Every subscriber it matched was over a bound: say so
				// (0x97 is a PUBACK and a PUBREC reason code [MQTT-3.4.2-1]
				// [MQTT-3.5.2-1]).
				rc = proto.QuotaExceeded
			}
			if ref.stored {
				st.AfterDurable(durable(rc))
			} else {
				c.loop.run(func() { c.releaseAck(seq, rc, false) })
			}
		})
	case stored:
		st.AfterDurable(durable(rc))
	default:
		c.releaseAck(seq, rc, false) // nothing of its own to wait for: behind the held ones
	}
}

// endInbound forgets the received QoS 2 id pid, whose PUBREC failed, as a
// PUBREL would.
func (c *Client) endInbound(pid uint16, ref *publishRef) {
	s := c.sess
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client.Load() != c {
		return
	}
	if _, ok := s.inQoS2[pid]; ok {
		delete(s.inQoS2, pid)
		if len(s.inQoS2) == 0 {
			s.inQoS2 = nil
		}
		s.releaseInboundLocked(ref, pid)
	}
}

// releaseAck marks held ack seq ready, with reason code rc, and sends
// every ready one at the head. lost says the store could not commit the
// packet's writes: the packet is then never acknowledged as done. A v5
// PUBACK or PUBREC says 0x80 (Unspecified error) instead; a PUBCOMP, which
// has no such code, and every 3.1.1 ack end the connection (v5: DISCONNECT
// 0x80), so the client sends the packet again once it is back.
func (c *Client) releaseAck(seq uint64, rc proto.ReasonCode, lost bool) {
	x := c.ext
	if c.state != stateConnected || x == nil || seq < x.ackBase {
		return
	}
	a := &x.acks[seq-x.ackBase]
	a.ready, a.rc, a.lost = true, rc, lost
	if lost && c.version == proto.V5 && a.typ != proto.PUBCOMP {
		a.rc, a.lost = proto.UnspecifiedError, false
	}
	n := 0
	for n < len(x.acks) && x.acks[n].ready {
		a := &x.acks[n]
		if a.lost {
			c.loop.broker.opts.Logger.Warn("the store could not commit a client's packet: closing its connection", "client", c.sess.id, "packet", a.typ.String())
			c.disconnect(proto.UnspecifiedError, "")
			return
		}
		if a.typ == proto.PUBREC && a.rc >= 0x80 {
			// A failed PUBREC ends the QoS 2 flow: no PUBREL will come,
			// and the client may use the packet id again for a new
			// message [MQTT-4.3.3-9], so the id is forgotten first.
			c.endInbound(a.pid, a.ref)
		}
		c.writeAck(a.typ, a.pid, a.rc)
		n++
	}
	x.acks = x.acks[n:]
	x.ackBase += uint64(n)
	if len(x.acks) == 0 {
		x.acks = nil
	}
}

// resolveTopic applies v5 inbound topic aliases: an alias with a topic sets
// the mapping, an alias with an empty topic uses it.
func (c *Client) resolveTopic(p *proto.Publish) (string, error) {
	if c.version != proto.V5 || !p.Props.Has(proto.PropTopicAlias) {
		return string(p.Topic), nil
	}
	alias := p.Props.TopicAlias
	if alias == 0 || alias > c.loop.broker.opts.TopicAliasMaximum {
		// [MQTT-3.3.2-8] [MQTT-3.3.2-9]
		return "", proto.Errorf(proto.TopicAliasInvalid, "topic alias %d out of range", alias)
	}
	if len(p.Topic) == 0 {
		t, ok := c.x().aliasIn[alias]
		if !ok {
			return "", proto.Errorf(proto.ProtocolError, "unknown topic alias %d", alias)
		}
		return t, nil
	}
	t := string(p.Topic)
	x := c.x()
	if x.aliasIn == nil {
		x.aliasIn = make(map[uint16]string)
	}
	x.aliasIn[alias] = t
	return t, nil
}

// outAlias returns the topic alias to send topic with on this connection:
// one already set (isNew false), the next free one while the client's
// maximum allows (isNew true: the caller records it once the packet is
// written), or 0 for none [MQTT-3.1.2-26] [MQTT-3.1.2-27] [MQTT-3.3.2-11].
// Aliases are handed out 1, 2, ... and never reassigned: once all are
// taken, other topics go in full. Reassigning would still send the full
// topic, and with rotating topics would churn the table on every message.
func (c *Client) outAlias(topic string) (alias uint16, isNew bool) {
	if c.aliasCap == 0 {
		return 0, false
	}
	x := c.x()
	if a, ok := x.aliasOut[topic]; ok {
		return a, false
	}
	if len(x.aliasOut) >= int(c.aliasCap) {
		return 0, false
	}
	if x.aliasOut == nil {
		// Made on first use: most connections never receive a PUBLISH.
		x.aliasOut = make(map[string]uint16)
	}
	return uint16(len(x.aliasOut) + 1), true
}

// newMessage copies what must outlive the inbound buffer into one message.
func newMessage(p *proto.Publish, topic, origin string) *router.Message {
	m := &router.Message{
		Topic:   topic,
		Payload: append([]byte(nil), p.Payload...),
		QoS:     p.QoS,
		Retain:  p.Retain,
		Origin:  origin,
	}
	if p.Props.Present != 0 {
		m.Props = forwardProps(&p.Props)
	}
	return m
}

// stampExpiry sets when m expires, as it enters the router (a will: when it
// is published): after its Message Expiry Interval, but never later than
// MaxMessageExpiry, which also bounds a message without the property so
// that nothing is kept forever.
func (b *Broker) stampExpiry(m *router.Message) { b.stampExpiryAt(m, b.wallNow()) }

// stampExpiryAt is stampExpiry with the time given.
func (b *Broker) stampExpiryAt(m *router.Message, now int64) {
	limit := b.opts.MaxMessageExpiry
	if m.Props != nil && m.Props.Has(proto.PropMessageExpiry) {
		if d := time.Duration(m.Props.MessageExpiry) * time.Second; limit < 0 || d < limit {
			limit = d
		}
	}
	if limit >= 0 {
		m.Expiry = now + int64(limit)
	}
}

// wallNow is the time base of Message.Expiry, unix nanoseconds. It follows
// the broker's clock, so a test that moves that clock ages messages too.
func (b *Broker) wallNow() int64 { return b.epoch + int64(time.Since(b.start)) }

// expiredAt reports whether m's expiry has passed at now (wallNow, or a
// loop's cached wall clock): it is no longer sent [MQTT-3.3.2-5].
func expiredAt(m *router.Message, now int64) bool { return m.Expiry != 0 && now >= m.Expiry }

// forwardBits are the PUBLISH and will properties the server passes on to
// subscribers [MQTT-3.3.2-4] [MQTT-3.3.2-17] [MQTT-3.3.2-20].
const forwardBits = 1<<proto.PropPayloadFormat | 1<<proto.PropMessageExpiry |
	1<<proto.PropContentType | 1<<proto.PropResponseTopic |
	1<<proto.PropCorrelationData | 1<<proto.PropUserProperty

// forwardProps returns an owned copy of the forwarded properties of src, or
// nil when it carries none.
func forwardProps(src *proto.Properties) *proto.Properties {
	if src.Present&forwardBits == 0 {
		return nil
	}
	var f proto.Properties
	f.CopyFrom(src)
	out := proto.Properties{Present: f.Present & forwardBits,
		PayloadFormat: f.PayloadFormat, MessageExpiry: f.MessageExpiry,
		ContentType: f.ContentType, ResponseTopic: f.ResponseTopic,
		CorrelationData: f.CorrelationData, User: f.User}
	return &out
}

// handleAck processes PUBACK, PUBREC and PUBCOMP for outbound messages and
// PUBREL for inbound QoS 2 ones.
func (c *Client) handleAck(h proto.FixedHeader, body []byte) error {
	a := &c.loop.ack
	if err := a.Decode(h, body, c.version); err != nil {
		return c.fail(err)
	}
	s := c.sess
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client.Load() != c {
		return errTakenOver
	}
	if a.Type == proto.PUBREL {
		ref, known := s.inQoS2[a.PacketID]
		delete(s.inQoS2, a.PacketID)
		if len(s.inQoS2) == 0 {
			s.inQoS2 = nil
		}
		rc := proto.Success
		if known {
			s.releaseInboundLocked(ref, a.PacketID)
		} else {
			rc = proto.PacketIdentifierNotFound
		}
		// [MQTT-4.3.3-11] PUBCOMP, once the record's delete is committed: a
		// client told the flow is complete may reuse the packet id, and a
		// record left by a crash would swallow its next message.
		c.ackAfter(proto.PUBCOMP, a.PacketID, rc, "", nil, known && s.isStored())
		return nil
	}
	if !s.ackLocked(c, a.Type, a.PacketID, a.Reason) && a.Type == proto.PUBREC {
		// An unknown PUBREC still gets its PUBREL so the client can finish.
		c.writeAck(proto.PUBREL, a.PacketID, proto.PacketIdentifierNotFound)
	}
	return nil
}

// writePublish encodes p for this client. It reports false when the
// message is not to be sent at all: expired, or larger than the client takes.
// A re-send (dup) goes out even when expired: its delivery has begun, and
// the client may hold its packet id [MQTT-4.4.0-1].
func (c *Client) writePublish(p *pending, pid uint16, dup bool) bool {
	m := p.msg
	now := c.loop.wall
	if !dup && m.Expiry != 0 && now >= m.Expiry {
		c.sess.dropped(m, DropExpired) // expired while held [MQTT-3.3.2-5]
		return false
	}
	out := proto.Publish{
		Dup:      dup,
		QoS:      p.qos,
		Retain:   p.retain,
		Topic:    bytesOf(m.Topic),
		PacketID: pid,
		Payload:  m.Payload,
	}
	if c.version == proto.V5 {
		if m.Props != nil {
			out.Props = *m.Props
			if m.Expiry != 0 && out.Props.Has(proto.PropMessageExpiry) {
				// [MQTT-3.3.2-6] forward the interval that is left, never
				// more than MaxMessageExpiry allowed (stampExpiry); a message
				// that had no interval is sent without one.
				left := max(0, (m.Expiry-now+int64(time.Second)-1)/int64(time.Second))
				out.Props.MessageExpiry = uint32(left)
			}
		}
		if len(p.subIDs) > 0 {
			out.Props.SubscriptionIDs = p.subIDs // [MQTT-3.3.4-3]
			out.Props.Set(proto.PropSubscriptionID)
		}
		alias, isNew := c.outAlias(m.Topic)
		if alias != 0 {
			out.Props.TopicAlias = alias
			out.Props.Set(proto.PropTopicAlias)
			if !isNew {
				out.Topic = nil // set earlier on this connection
			}
		}
		if c.maxOut != 0 && out.Size(proto.V5) > int(c.maxOut) {
			// [MQTT-3.1.2-25] too large for the client: drop, as if sent
			c.sess.dropped(m, DropTooLarge)
			return false
		}
		if isNew {
			c.ext.aliasOut[m.Topic] = alias
		}
	}
	buf := c.buf()
	n := len(buf.B)
	buf.B = out.Append(buf.B, c.version)
	c.loop.counts.msgsOut[p.qos].n.Add(1)
	c.loop.counts.pubBytesOut[p.qos].n.Add(int64(len(buf.B) - n))
	return true
}

// bytesOf views s as bytes without copying; the encoder only reads it.
func bytesOf(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
