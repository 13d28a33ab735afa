package proto

// PacketType reports SUBSCRIBE.
func (p *Subscribe) PacketType() Type { return SUBSCRIBE }

// Subscription option bits (3.8.3.1).
const (
	optQoS               = 0x03
	optNoLocal           = 0x04
	optRetainAsPublished = 0x08
	optRetainHandling    = 0x30
	optReservedV5        = 0xC0
	optReservedV3        = 0xFC
)

// Decode reads a SUBSCRIBE body in version v. The filters' syntax is left to
// the caller (ValidTopicFilter, ParseShared): the specification lets the
// server refuse a bad filter in the SUBACK rather than drop the connection.
// Filters must still be valid UTF-8, and options must use only defined bits.
func (p *Subscribe) Decode(h FixedHeader, body []byte, v Version) error {
	props, subs := p.Props, p.Subscriptions[:0]
	props.reset()
	*p = Subscribe{Props: props, Subscriptions: subs}
	if err := checkHeader(h, body, SUBSCRIBE); err != nil { // [MQTT-3.8.1-1]
		return err
	}
	r := reader{b: body}
	p.PacketID = r.packetID()
	if v == V5 {
		p.Props.decode(&r, propsSubscribe, false)
	}
	if r.err != nil {
		return r.err
	}
	if r.left() == 0 {
		if v == V5 {
			return Errorf(ProtocolError, "subscribe without topic filters") // [MQTT-3.8.3-2]
		}
		return Errorf(MalformedPacket, "subscribe without topic filters") // 3.1.1 [MQTT-3.8.3-3]
	}
	for r.err == nil && r.left() > 0 {
		f := r.str("topic filter") // [MQTT-3.8.3-1]
		o := r.u8("subscription options")
		if r.err != nil {
			break
		}
		s := Subscription{Filter: f, QoS: o & optQoS}
		if v == V5 {
			if o&optReservedV5 != 0 {
				r.fail(MalformedPacket, "reserved subscription option bits set") // [MQTT-3.8.3-5]
			}
			s.NoLocal = o&optNoLocal != 0
			s.RetainAsPublished = o&optRetainAsPublished != 0
			s.RetainHandling = (o & optRetainHandling) >> 4
			if s.RetainHandling == 3 {
				r.fail(MalformedPacket, "retain handling 3") // 3.8.3.1
			}
			if s.NoLocal && len(f) >= len(sharePrefix) && string(f[:len(sharePrefix)]) == string(sharePrefix) {
				r.fail(ProtocolError, "no local on a shared subscription") // [MQTT-3.8.3-4]
			}
		} else if o&optReservedV3 != 0 {
			r.fail(MalformedPacket, "reserved subscription option bits set") // 3.1.1 [MQTT-3.8.3-4]
		}
		if s.QoS == 3 {
			r.fail(MalformedPacket, "subscription qos 3") // v5 3.8.3.1; 3.1.1 [MQTT-3.8.3-4]
		}
		p.Subscriptions = append(p.Subscriptions, s)
	}
	return r.done("SUBSCRIBE")
}

// Append encodes the SUBSCRIBE; v5-only options are dropped for v < 5.
func (p *Subscribe) Append(dst []byte, v Version) []byte {
	n := 2
	if v == V5 {
		n += p.Props.appendSize()
	}
	for i := range p.Subscriptions {
		n += 2 + len(p.Subscriptions[i].Filter) + 1
	}
	dst = AppendFixedHeader(dst, SUBSCRIBE, 0x2, n)
	dst = appendU16(dst, p.PacketID)
	if v == V5 {
		dst = p.Props.Append(dst)
	}
	for i := range p.Subscriptions {
		s := &p.Subscriptions[i]
		o := s.QoS & optQoS
		if v == V5 {
			if s.NoLocal {
				o |= optNoLocal
			}
			if s.RetainAsPublished {
				o |= optRetainAsPublished
			}
			o |= (s.RetainHandling & 3) << 4
		}
		dst = append(appendBin(dst, s.Filter), o)
	}
	return dst
}

// PacketType reports SUBACK.
func (p *Suback) PacketType() Type { return SUBACK }

// Decode reads a SUBACK body in version v.
func (p *Suback) Decode(h FixedHeader, body []byte, v Version) error {
	props, rs := p.Props, p.Reasons[:0]
	props.reset()
	*p = Suback{Props: props, Reasons: rs}
	if err := checkHeader(h, body, SUBACK); err != nil {
		return err
	}
	r := reader{b: body}
	p.PacketID = r.packetID()
	set := &v3SubackReasons
	if v == V5 {
		p.Props.decode(&r, propsAck, false)
		set = &subackReasons
	}
	if r.err == nil && r.left() == 0 {
		r.fail(ProtocolError, "suback without reason codes")
	}
	for r.err == nil && r.left() > 0 {
		p.Reasons = append(p.Reasons, r.reason(set, "suback reason"))
	}
	return r.done("SUBACK")
}

// Append encodes the SUBACK. For 3.1/3.1.1 the Reasons bytes are the return
// codes as given.
func (p *Suback) Append(dst []byte, v Version) []byte {
	n := 2 + len(p.Reasons)
	if v == V5 {
		n += p.Props.appendSize()
	}
	dst = AppendFixedHeader(dst, SUBACK, 0, n)
	dst = appendU16(dst, p.PacketID)
	if v == V5 {
		dst = p.Props.Append(dst)
	}
	for _, c := range p.Reasons {
		dst = append(dst, byte(c))
	}
	return dst
}
