package proto

// PacketType reports DISCONNECT.
func (p *Disconnect) PacketType() Type { return DISCONNECT }

// Decode reads a DISCONNECT body in version v. Before v5 the body is empty;
// in v5 a remaining length of 0 means Normal disconnection and one of 1 a
// reason without properties (3.14.2.1).
func (p *Disconnect) Decode(h FixedHeader, body []byte, v Version) error {
	props := p.Props
	props.reset()
	*p = Disconnect{Props: props}
	return decodeReasonProps(h, body, v, DISCONNECT, &p.Reason, &p.Props, &disconnectReasons, propsDisconnect)
}

// Append encodes the DISCONNECT: E0 00 before v5 and for a Normal
// disconnection without properties.
func (p *Disconnect) Append(dst []byte, v Version) []byte {
	if v < V5 {
		return AppendFixedHeader(dst, DISCONNECT, 0, 0)
	}
	return appendReasonProps(dst, DISCONNECT, p.Reason, &p.Props)
}

// PacketType reports AUTH.
func (p *Auth) PacketType() Type { return AUTH }

// Decode reads an AUTH body. AUTH exists only in v5; before it, type 15 is
// reserved and the packet malformed.
func (p *Auth) Decode(h FixedHeader, body []byte, v Version) error {
	props := p.Props
	props.reset()
	*p = Auth{Props: props}
	if v < V5 {
		return Errorf(MalformedPacket, "AUTH before MQTT 5") // 3.1.1 2.2.1: type 15 is reserved
	}
	return decodeReasonProps(h, body, v, AUTH, &p.Reason, &p.Props, &authReasons, propsAuth)
}

// Append encodes the AUTH packet; for v < 5 it writes nothing, as there is no
// such packet there.
func (p *Auth) Append(dst []byte, v Version) []byte {
	if v < V5 {
		return dst
	}
	return appendReasonProps(dst, AUTH, p.Reason, &p.Props)
}

// decodeReasonProps reads the shared shape of DISCONNECT and AUTH: an
// optional reason code followed by optional properties.
func decodeReasonProps(h FixedHeader, body []byte, v Version, t Type, reason *ReasonCode,
	props *Properties, set *reasonSet, allowed uint64) error {
	if err := checkHeader(h, body, t); err != nil {
		return err
	}
	r := reader{b: body}
	if v == V5 && r.left() > 0 {
		*reason = r.reason(set, t.String()+" reason")
		if r.left() > 0 {
			props.decode(&r, allowed, false)
		}
	}
	return r.done(t.String())
}

func appendReasonProps(dst []byte, t Type, reason ReasonCode, props *Properties) []byte {
	switch {
	case props.Present != 0:
		dst = AppendFixedHeader(dst, t, 0, 1+props.appendSize())
		return props.Append(append(dst, byte(reason)))
	case reason != Success:
		return append(AppendFixedHeader(dst, t, 0, 1), byte(reason))
	default:
		return AppendFixedHeader(dst, t, 0, 0)
	}
}

// Ping is a PINGREQ or PINGRESP, which carry nothing but their type.
type Ping struct{ Type Type }

// PacketType reports PINGREQ or PINGRESP.
func (p *Ping) PacketType() Type { return p.Type }

// Append encodes the ping of p.Type.
func (p *Ping) Append(dst []byte, _ Version) []byte {
	return AppendFixedHeader(dst, p.Type, 0, 0)
}

// DecodePing checks a PINGREQ or PINGRESP header: flags 0 and remaining
// length 0.
func DecodePing(h FixedHeader) error {
	if h.Type != PINGREQ && h.Type != PINGRESP {
		return Errorf(MalformedPacket, "ping decoder given a %v", h.Type)
	}
	if h.Flags != 0 {
		return Errorf(MalformedPacket, "%v: reserved flags 0x%X", h.Type, h.Flags) // [MQTT-2.1.3-1]
	}
	if h.Remaining != 0 {
		return Errorf(MalformedPacket, "%v with a body", h.Type)
	}
	return nil
}

// AppendPingreq appends a PINGREQ (C0 00).
func AppendPingreq(dst []byte) []byte { return append(dst, byte(PINGREQ)<<4, 0) }

// AppendPingresp appends a PINGRESP (D0 00).
func AppendPingresp(dst []byte) []byte { return append(dst, byte(PINGRESP)<<4, 0) }
