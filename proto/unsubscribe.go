package proto

// PacketType reports UNSUBSCRIBE.
func (p *Unsubscribe) PacketType() Type { return UNSUBSCRIBE }

// Decode reads an UNSUBSCRIBE body in version v. As for SUBSCRIBE, filter
// syntax is the caller's to judge; the filters must be valid UTF-8.
func (p *Unsubscribe) Decode(h FixedHeader, body []byte, v Version) error {
	props, fs := p.Props, p.Filters[:0]
	props.reset()
	*p = Unsubscribe{Props: props, Filters: fs}
	if err := checkHeader(h, body, UNSUBSCRIBE); err != nil { // [MQTT-3.10.1-1]
		return err
	}
	r := reader{b: body}
	p.PacketID = r.packetID()
	if v == V5 {
		p.Props.decode(&r, propsUnsubscribe, false)
	}
	if r.err != nil {
		return r.err
	}
	if r.left() == 0 {
		if v == V5 {
			return Errorf(ProtocolError, "unsubscribe without topic filters") // [MQTT-3.10.3-2]
		}
		return Errorf(MalformedPacket, "unsubscribe without topic filters") // 3.1.1 [MQTT-3.10.3-2]
	}
	for r.err == nil && r.left() > 0 {
		f := r.str("topic filter") // [MQTT-3.10.3-1]
		if r.err == nil {
			p.Filters = append(p.Filters, f)
		}
	}
	return r.done("UNSUBSCRIBE")
}

// Append encodes the UNSUBSCRIBE.
func (p *Unsubscribe) Append(dst []byte, v Version) []byte {
	n := 2
	if v == V5 {
		n += p.Props.appendSize()
	}
	for _, f := range p.Filters {
		n += 2 + len(f)
	}
	dst = AppendFixedHeader(dst, UNSUBSCRIBE, 0x2, n)
	dst = appendU16(dst, p.PacketID)
	if v == V5 {
		dst = p.Props.Append(dst)
	}
	for _, f := range p.Filters {
		dst = appendBin(dst, f)
	}
	return dst
}

// PacketType reports UNSUBACK.
func (p *Unsuback) PacketType() Type { return UNSUBACK }

// Decode reads an UNSUBACK body in version v; before v5 it is a bare packet
// identifier.
func (p *Unsuback) Decode(h FixedHeader, body []byte, v Version) error {
	props, rs := p.Props, p.Reasons[:0]
	props.reset()
	*p = Unsuback{Props: props, Reasons: rs}
	if err := checkHeader(h, body, UNSUBACK); err != nil {
		return err
	}
	r := reader{b: body}
	p.PacketID = r.packetID()
	if v == V5 {
		p.Props.decode(&r, propsAck, false)
		if r.err == nil && r.left() == 0 {
			r.fail(ProtocolError, "unsuback without reason codes")
		}
		for r.err == nil && r.left() > 0 {
			p.Reasons = append(p.Reasons, r.reason(&unsubackReasons, "unsuback reason"))
		}
	}
	return r.done("UNSUBACK")
}

// Append encodes the UNSUBACK; Reasons and properties are v5 only.
func (p *Unsuback) Append(dst []byte, v Version) []byte {
	if v < V5 {
		dst = AppendFixedHeader(dst, UNSUBACK, 0, 2)
		return appendU16(dst, p.PacketID)
	}
	dst = AppendFixedHeader(dst, UNSUBACK, 0, 2+p.Props.appendSize()+len(p.Reasons))
	dst = appendU16(dst, p.PacketID)
	dst = p.Props.Append(dst)
	for _, c := range p.Reasons {
		dst = append(dst, byte(c))
	}
	return dst
}
