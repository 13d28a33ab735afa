package proto

// PacketType reports the acknowledgement's own type.
func (p *Ack) PacketType() Type { return p.Type }

// Decode reads a PUBACK, PUBREC, PUBREL or PUBCOMP body (h.Type says which).
// In v5 the reason code and the property length may be left off: a
// remaining length of 2 means Success, one of 3 a reason without
// properties (3.4.2.1).
func (p *Ack) Decode(h FixedHeader, body []byte, v Version) error {
	props := p.Props
	props.reset()
	*p = Ack{Type: h.Type, Props: props}
	switch h.Type {
	case PUBACK, PUBREC, PUBREL, PUBCOMP:
	default:
		return Errorf(MalformedPacket, "ack decoder given a %v", h.Type)
	}
	// PUBREL's flags are 0b0010 [MQTT-3.6.1-1]; the others' are 0.
	if err := checkHeader(h, body, h.Type); err != nil {
		return err
	}
	r := reader{b: body}
	p.PacketID = r.packetID()
	if v == V5 && r.left() > 0 {
		set := &pubackReasons
		if h.Type == PUBREL || h.Type == PUBCOMP {
			set = &pubrelReasons
		}
		p.Reason = r.reason(set, h.Type.String()+" reason")
		if r.left() > 0 {
			p.Props.decode(&r, propsAck, false)
		}
	}
	return r.done(h.Type.String())
}

// Append encodes the acknowledgement. In v5 it uses the short forms: no
// reason and properties for Success without properties, no property length
// when there are no properties.
func (p *Ack) Append(dst []byte, v Version) []byte {
	t := p.Type
	if v < V5 || (p.Reason == Success && p.Props.Present == 0) {
		dst = AppendFixedHeader(dst, t, reservedFlags(t), 2)
		return appendU16(dst, p.PacketID)
	}
	if p.Props.Present == 0 {
		dst = AppendFixedHeader(dst, t, reservedFlags(t), 3)
		return append(appendU16(dst, p.PacketID), byte(p.Reason))
	}
	dst = AppendFixedHeader(dst, t, reservedFlags(t), 3+p.Props.appendSize())
	dst = append(appendU16(dst, p.PacketID), byte(p.Reason))
	return p.Props.Append(dst)
}
