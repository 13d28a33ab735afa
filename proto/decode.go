package proto

// Packet is any decoded control packet.
type Packet interface {
	PacketType() Type
	Append(dst []byte, v Version) []byte
}

// Decode decodes one whole packet from the start of b in version v (CONNECT
// carries its own) and reports the bytes it used. It allocates a fresh
// packet each call: it is for tests, fuzzing and tools, not the broker's
// read path. It returns ErrIncomplete while b is short of the whole packet.
func Decode(b []byte, v Version) (pkt Packet, n int, err error) {
	h, hn, err := ParseFixedHeader(b)
	if err != nil {
		return nil, 0, err
	}
	if len(b)-hn < h.Remaining {
		return nil, 0, ErrIncomplete
	}
	n = hn + h.Remaining
	body := b[hn:n:n]
	switch h.Type {
	case CONNECT:
		p := new(Connect)
		err, pkt = p.Decode(h, body), p
	case CONNACK:
		p := new(Connack)
		err, pkt = p.Decode(h, body, v), p
	case PUBLISH:
		p := new(Publish)
		err, pkt = p.Decode(h, body, v), p
	case PUBACK, PUBREC, PUBREL, PUBCOMP:
		p := new(Ack)
		err, pkt = p.Decode(h, body, v), p
	case SUBSCRIBE:
		p := new(Subscribe)
		err, pkt = p.Decode(h, body, v), p
	case SUBACK:
		p := new(Suback)
		err, pkt = p.Decode(h, body, v), p
	case UNSUBSCRIBE:
		p := new(Unsubscribe)
		err, pkt = p.Decode(h, body, v), p
	case UNSUBACK:
		p := new(Unsuback)
		err, pkt = p.Decode(h, body, v), p
	case PINGREQ, PINGRESP:
		err, pkt = DecodePing(h), &Ping{Type: h.Type}
	case DISCONNECT:
		p := new(Disconnect)
		err, pkt = p.Decode(h, body, v), p
	case AUTH:
		p := new(Auth)
		err, pkt = p.Decode(h, body, v), p
	default:
		err = Errorf(MalformedPacket, "packet type %d", h.Type)
	}
	if err != nil {
		return nil, n, err
	}
	return pkt, n, nil
}
