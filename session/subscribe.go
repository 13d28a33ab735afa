package session

import (
	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/router"
)

// handleSubscribe records each filter on the session, hands it to the
// router and answers SUBACK with one code per filter, in order
// [MQTT-3.8.4-1] [MQTT-3.8.4-6]. Retained messages follow the SUBACK: they
// come back through the loop's inbox, after this packet's reply is flushed.
func (c *Client) handleSubscribe(h proto.FixedHeader, body []byte) error {
	b := c.loop.broker
	p := &c.loop.sub
	if err := p.Decode(h, body, c.version); err != nil {
		return c.fail(err)
	}
	hooks := b.hooks.load()
	if len(hooks.by[OnACLCheck]) > 0 {
		// Every filter is asked before any is taken, so a SUBSCRIBE that
		// waits for an answer has changed nothing when it comes back.
		for i := range p.Subscriptions {
			f := p.Subscriptions[i].Filter
			if _, wait := c.decide(OnACLCheck, string(f), false, nil); wait {
				return ErrWaiting
			}
		}
	}
	if len(hooks.by[OnSubscribe]) > 0 {
		c.hookSubscribe(p)
	}
	var subID uint32
	if c.version == proto.V5 && p.Props.Has(proto.PropSubscriptionID) && len(p.Props.SubscriptionIDs) > 0 {
		if b.opts.DisableSubscriptionIDs {
			// Section 3.2.2.3.12: identifiers were not offered
			return c.fail(proto.Errorf(proto.SubIDsNotSupported, "subscription identifiers are not supported"))
		}
		subID = p.Props.SubscriptionIDs[0]
	}
	maxQoS := b.opts.MaxQoS.Level()
	reasons := c.loop.reasons[:0]
	s := c.sess
	for i := range p.Subscriptions {
		sub := &p.Subscriptions[i]
		_, _, shared, err := proto.ParseShared(sub.Filter)
		if err != nil || !proto.ValidTopicFilter(sub.Filter) {
			reasons = append(reasons, c.failureCode(proto.TopicFilterInvalid))
			continue
		}
		if shared && b.opts.DisableSharedSubscriptions {
			reasons = append(reasons, c.failureCode(proto.SharedSubsNotSupported))
			continue
		}
		if b.opts.DisableWildcards && proto.HasWildcard(sub.Filter) {
			reasons = append(reasons, c.failureCode(proto.WildcardSubsNotSupported))
			continue
		}
		if shared && sub.NoLocal && c.version == proto.V5 {
			// [MQTT-3.8.3-4] No Local on a shared subscription
			return c.fail(proto.Errorf(proto.ProtocolError, "No Local on a shared subscription"))
		}
		if len(hooks.by[OnACLCheck]) > 0 && !c.aclAllows(string(sub.Filter)) {
			b.Stats.ACLDenied.Add(1)
			reasons = append(reasons, c.failureCode(proto.NotAuthorized))
			continue
		}
		granted := sub.QoS
		if granted > maxQoS {
			granted = maxQoS // [MQTT-3.2.2-10] accepted, at the QoS the broker has
		}
		o := router.SubOptions{QoS: granted, ID: subID}
		if c.version == proto.V5 {
			o.NoLocal, o.RetainAsPublished, o.RetainHandling = sub.NoLocal, sub.RetainAsPublished, sub.RetainHandling
		}
		filter := string(sub.Filter)
		s.mu.Lock()
		_, existed := s.subs[filter]
		if s.subs == nil {
			s.subs = make(map[string]router.SubOptions)
		}
		s.subs[filter] = o // [MQTT-3.8.4-3] a repeated filter replaces the old
		if s.isStored() {
			b.opts.Store.PutSubscription(s.id, filter, o)
		}
		s.mu.Unlock()
		// Retain Handling: 0 always, 1 only for a new subscription, 2 never.
		sendRetained := o.RetainHandling == 0 || (o.RetainHandling == 1 && !existed)
		b.router.Subscribe(s, filter, o, sendRetained)
		reasons = append(reasons, proto.ReasonCode(granted))
	}
	c.loop.reasons = reasons
	ack := proto.Suback{PacketID: p.PacketID, Reasons: reasons}
	c.buf().B = ack.Append(c.out.B, c.version)
	if len(hooks.by[OnSubscribed]) > 0 {
		cl := c.info()
		b.call(OnSubscribed, func(h Hook) { h.OnSubscribed(cl, p, reasons) })
	}
	return nil
}

// hookSubscribe runs OnSubscribe over p, which then holds what the hooks
// returned. A SUBSCRIBE must carry a filter [MQTT-3.8.3-2], so a result
// without any is ignored; the answer keeps the packet id the client sent.
func (c *Client) hookSubscribe(p *proto.Subscribe) {
	cl := c.info()
	pk, _ := chain(c.loop.broker, OnSubscribe, p, func(h Hook, pk *proto.Subscribe) (*proto.Subscribe, error) {
		return h.OnSubscribe(cl, pk), nil
	})
	if pk != p && len(pk.Subscriptions) > 0 {
		pid := p.PacketID
		*p = *pk
		p.PacketID = pid
	}
}

// hookUnsubscribe is hookSubscribe for UNSUBSCRIBE and OnUnsubscribe.
func (c *Client) hookUnsubscribe(p *proto.Unsubscribe) {
	cl := c.info()
	pk, _ := chain(c.loop.broker, OnUnsubscribe, p, func(h Hook, pk *proto.Unsubscribe) (*proto.Unsubscribe, error) {
		return h.OnUnsubscribe(cl, pk), nil
	})
	if pk != p && len(pk.Filters) > 0 {
		pid := p.PacketID
		*p = *pk
		p.PacketID = pid
	}
}

// aclAllows is the ACL hooks' answer for reading filter, asked before
// (decide keeps it while the packet is handled).
func (c *Client) aclAllows(filter string) bool {
	allow, _ := c.decide(OnACLCheck, filter, false, nil)
	return allow
}

// failureCode is the per-filter failure in SUBACK/UNSUBACK: the v5 reason,
// or 0x80 in 3.1.1 [MQTT-3.9.3-2 in 3.1.1].
func (c *Client) failureCode(rc proto.ReasonCode) proto.ReasonCode {
	if c.version == proto.V5 {
		return rc
	}
	return proto.V3SubackFailure
}

// handleUnsubscribe removes each filter and answers UNSUBACK [MQTT-3.10.4-4];
// in v5 with a code per filter [MQTT-3.11.3-1].
func (c *Client) handleUnsubscribe(h proto.FixedHeader, body []byte) error {
	b := c.loop.broker
	p := &c.loop.unsub
	if err := p.Decode(h, body, c.version); err != nil {
		return c.fail(err)
	}
	if b.has(OnUnsubscribe) {
		c.hookUnsubscribe(p)
	}
	reasons := c.loop.reasons[:0]
	s := c.sess
	for _, f := range p.Filters {
		filter := string(f)
		s.mu.Lock()
		_, existed := s.subs[filter]
		delete(s.subs, filter)
		if len(s.subs) == 0 {
			s.subs = nil
		}
		if existed && s.isStored() {
			b.opts.Store.DeleteSubscription(s.id, filter)
		}
		s.mu.Unlock()
		if existed {
			b.router.Unsubscribe(s, filter)
			reasons = append(reasons, proto.Success)
		} else {
			reasons = append(reasons, proto.NoSubscriptionExisted)
		}
	}
	c.loop.reasons = reasons
	ack := proto.Unsuback{PacketID: p.PacketID, Reasons: reasons}
	c.buf().B = ack.Append(c.out.B, c.version)
	if b.has(OnUnsubscribed) {
		cl := c.info()
		b.call(OnUnsubscribed, func(h Hook) { h.OnUnsubscribed(cl, p) })
	}
	return nil
}
