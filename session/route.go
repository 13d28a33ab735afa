package session

import (
	"errors"

	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/router"
)

// The one publish path.
//
// Every message enters routing the same way, whatever its source: a
// client's PUBLISH (publish.go), a will (publishWill), the $SYS publisher
// and the inline client (inline.go), a packet injected for a client. Two
// steps, in this order, for all of them:
//
//   - check: the OnPublish hooks (which may change the message or drop
//     it), then the rule that only the broker and the inline client write
//     under $SYS;
//   - route: the expiry stamp (Message Expiry Interval, capped by
//     MaxMessageExpiry, counted from now), the counters (not for $SYS's
//     own updates), the retained store (on disk too, but for $SYS) and
//     OnRetainMessage, the router, OnPublished.
//
// A client's PUBLISH does its QoS 2 bookkeeping and sets up its
// acknowledgement between the two (publish.go), which is why they are two
// functions; publish runs both for every other source. What the ACL
// allows a network client is asked before check, where the client can wait
// for an asynchronous answer (decide.go).

// pubSource is where a message comes from.
type pubSource uint8

const (
	fromClient pubSource = iota // a network client's PUBLISH, or one injected for it
	fromWill                    // a client's will
	fromSys                     // the $SYS publisher, through the inline client
	fromInline                  // the embedding program's inline client
)

// publishing is one message on its way into routing.
type publishing struct {
	m    *router.Message
	from pubSource
	// info is who publishes, for hooks; nil makes one from m.Origin when
	// a hook needs it.
	info *ClientInfo
	now  int64 // wall clock (unix ns) the expiry counts from
	// loop is the publisher's loop, whose counters it adds to; nil off
	// the loops.
	loop *Loop
}

// who is the publisher as hooks see it.
func (p *publishing) who() ClientInfo {
	if p.info != nil {
		return *p.info
	}
	if p.from == fromSys || p.from == fromInline {
		return ClientInfo{ID: InlineClientID, Inline: true}
	}
	return ClientInfo{ID: p.m.Origin}
}

// publish is check then route: the whole path for every source other than
// a network client's PUBLISH. It returns the reason code a refusal would
// carry, Success when the message was routed or dropped quietly.
func (b *Broker) publish(p *publishing) proto.ReasonCode {
	if rc, ok := b.check(p); !ok {
		return rc
	}
	b.route(p)
	return proto.Success
}

// check applies the rules a message must pass before it is routed. ok
// false: it is not routed, and rc says why (Success for a message a hook
// dropped quietly).
func (b *Broker) check(p *publishing) (rc proto.ReasonCode, ok bool) {
	if b.has(OnPublish) {
		if rc, ok := b.hookPublish(p); !ok {
			return rc, false
		}
	}
	if (p.from == fromClient || p.from == fromWill) && isSysTopic(p.m.Topic) {
		// $ topics are the server's (section 4.7.2): a client must not pass
		// itself off as the broker.
		b.drop(DropNotAuthorized)
		return proto.NotAuthorized, false
	}
	return proto.Success, true
}

// route hands a checked message to the router.
func (b *Broker) route(p *publishing) {
	m := p.m
	b.stampExpiryAt(m, p.now)
	switch {
	case p.loop != nil:
		p.loop.counts.msgsIn[m.QoS].n.Add(1)
	case p.from != fromSys:
		// $SYS's own updates are not counted: an idle broker's counters
		// stay still, and so do the topics that publish them.
		b.Stats.MessagesIn.AddQoS(m.QoS, 1)
	}
	if m.Retain {
		if p.from != fromSys {
			// $SYS values describe the running broker: kept in the
			// router's retained store, not on disk (a restart
			// publishes them anew).
			b.storeRetained(m)
		}
		if b.has(OnRetainMessage) {
			r := int64(1)
			if len(m.Payload) == 0 {
				r = -1
			}
			cl, pk := p.who(), p.view()
			b.call(OnRetainMessage, func(h Hook) { h.OnRetainMessage(cl, pk, r) })
		}
	}
	b.router.Publish(m)
	if b.has(OnPublished) {
		cl, pk := p.who(), p.view()
		b.call(OnPublished, func(h Hook) { h.OnPublished(cl, pk) })
	}
}

// hookPublish runs the OnPublish hooks over p's message and applies what
// they return.
func (b *Broker) hookPublish(p *publishing) (proto.ReasonCode, bool) {
	cl := p.who()
	pk, err := chain(b, OnPublish, p.view(), func(h Hook, pk *proto.Publish) (*proto.Publish, error) {
		return h.OnPublish(cl, pk)
	})
	if err != nil {
		b.drop(DropRejected)
		if errors.Is(err, ErrRejectPacket) {
			return proto.Success, false
		}
		var pe *proto.Error
		if errors.As(err, &pe) && pe.Code >= 0x80 {
			return pe.Code, false
		}
		return proto.UnspecifiedError, false
	}
	return b.applyPublish(p.m, pk)
}

// applyPublish makes m what a hook returned, if it differs.
func (b *Broker) applyPublish(m *router.Message, pk *proto.Publish) (proto.ReasonCode, bool) {
	if string(pk.Topic) != m.Topic {
		if !proto.ValidTopicName(pk.Topic) {
			b.drop(DropRejected)
			return proto.TopicNameInvalid, false
		}
		m.Topic = string(pk.Topic)
	}
	if !sameBytes(pk.Payload, m.Payload) {
		m.Payload = append([]byte(nil), pk.Payload...)
	}
	m.QoS = min(pk.QoS, b.opts.MaxQoS.Level())
	m.Retain = pk.Retain && !b.opts.DisableRetain
	if pk.Props.Present == 0 {
		m.Props = nil
	} else if m.Props == nil || !sameProps(&pk.Props, m.Props) {
		m.Props = forwardProps(&pk.Props)
	}
	return proto.Success, true
}

// publishView is m as a PUBLISH packet for hooks: topic and payload are
// m's own (not to be modified in place), properties a copy.
func publishView(m *router.Message) *proto.Publish {
	pk := new(proto.Publish)
	viewInto(pk, m)
	return pk
}

func viewInto(pk *proto.Publish, m *router.Message) {
	*pk = proto.Publish{QoS: m.QoS, Retain: m.Retain, Topic: bytesOf(m.Topic), Payload: m.Payload}
	if m.Props != nil {
		pk.Props = *m.Props
	}
}

// view is p's message as a PUBLISH for hooks. On a loop it is the loop's
// own scratch packet, filled anew for each event: hooks may not keep what
// they are given, and a fresh one per event was a sixth of the broker's
// allocations with an OnPublish hook (bench/results/hooks.md).
func (p *publishing) view() *proto.Publish {
	if p.loop == nil {
		return publishView(p.m)
	}
	viewInto(&p.loop.hookPub, p.m)
	return &p.loop.hookPub
}

// sameBytes reports whether a and b are the same slice (not merely equal).
func sameBytes(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// sameProps reports whether a hook left the properties as they were given.
func sameProps(a, b *proto.Properties) bool {
	return a.Present == b.Present && a.PayloadFormat == b.PayloadFormat &&
		a.MessageExpiry == b.MessageExpiry && sameBytes(a.ContentType, b.ContentType) &&
		sameBytes(a.ResponseTopic, b.ResponseTopic) && sameBytes(a.CorrelationData, b.CorrelationData) &&
		len(a.User) == len(b.User) && (len(a.User) == 0 || &a.User[0] == &b.User[0])
}

// publishWill publishes a client's will, as that client (from: who it
// was, nil when only its id is known): the OnWill hooks may change or
// refuse it, then it takes the one publish path, then OnWillSent.
func (b *Broker) publishWill(m *router.Message, from *ClientInfo) {
	if m == nil {
		return
	}
	p := &publishing{m: m, from: fromWill, info: from, now: b.wallNow()}
	if b.has(OnWill) {
		cl := p.who()
		pk, err := chain(b, OnWill, publishView(m), func(h Hook, w *proto.Publish) (*proto.Publish, error) {
			return h.OnWill(cl, w)
		})
		if err != nil {
			b.drop(DropRejected)
			return
		}
		if _, ok := b.applyPublish(m, pk); !ok {
			return
		}
	}
	// A will is published only to a topic its client may write: asked of
	// the ACL hooks as its client's PUBLISH would be, but with no
	// connection left to wait in, the answer may come later.
	send := func(allow bool) {
		if !allow {
			b.Stats.ACLDenied.Add(1)
			b.drop(DropNotAuthorized)
			return
		}
		if b.publish(p) != proto.Success {
			return
		}
		if b.has(OnWillSent) {
			cl, pk := p.who(), publishView(m)
			b.call(OnWillSent, func(h Hook) { h.OnWillSent(cl, pk) })
		}
	}
	if allow, settled := b.decideFor(p.who(), m.Topic, true, send); settled {
		send(allow)
	}
}

// willFrom is who a will of c is published as.
func (c *Client) willFrom() *ClientInfo {
	if len(c.loop.broker.hooks.load().all) == 0 {
		return nil
	}
	return c.infoRef() // fixed since CONNECT
}
