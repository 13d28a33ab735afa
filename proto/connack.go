package proto

// PacketType reports CONNACK.
func (p *Connack) PacketType() Type { return CONNACK }

// Decode reads a CONNACK body in version v.
func (p *Connack) Decode(h FixedHeader, body []byte, v Version) error {
	props := p.Props
	props.reset()
	*p = Connack{Props: props}
	if err := checkHeader(h, body, CONNACK); err != nil {
		return err
	}
	r := reader{b: body}
	ack := r.u8("connect acknowledge flags")
	if r.err == nil && ack&^1 != 0 {
		// Bits 7-1 are reserved: v5 [MQTT-3.2.2-1]; 3.1.1 section 3.2.2.1.
		r.fail(MalformedPacket, "reserved connack flags set")
	}
	p.SessionPresent = ack&1 != 0
	if v == V5 {
		p.Reason = r.reason(&connackReasons, "connack reason")
		p.Props.decode(&r, propsConnack, false)
	} else {
		p.Reason = ReasonCode(r.u8("connack return code"))
		if r.err == nil && p.Reason > V3NotAuthorized {
			r.fail(ProtocolError, "connack return code "+hexByte(byte(p.Reason))+" not defined")
		}
	}
	if r.err == nil && p.SessionPresent && p.Reason != Success {
		// v5 [MQTT-3.2.2-6]; 3.1.1 [MQTT-3.2.2-4]
		r.fail(ProtocolError, "session present with a refusal")
	}
	return r.done("CONNACK")
}

// Append encodes the CONNACK. Reason is written as given: for 3.1/3.1.1 the
// caller maps a v5 code with V3ConnackCode first.
func (p *Connack) Append(dst []byte, v Version) []byte {
	n := 2
	if v == V5 {
		n += p.Props.appendSize()
	}
	dst = AppendFixedHeader(dst, CONNACK, 0, n)
	var ack byte
	if p.SessionPresent {
		ack = 1
	}
	dst = append(dst, ack, byte(p.Reason))
	if v == V5 {
		dst = p.Props.Append(dst)
	}
	return dst
}
