package proto

// PacketType reports PUBLISH.
func (p *Publish) PacketType() Type { return PUBLISH }

// Decode reads a PUBLISH body in version v. Topic, properties and payload
// alias body. It allocates nothing unless the packet carries more user
// properties or subscription identifiers than p has room for.
func (p *Publish) Decode(h FixedHeader, body []byte, v Version) error {
	props := p.Props
	props.reset()
	*p = Publish{Props: props}
	if err := checkHeader(h, body, PUBLISH); err != nil {
		return err
	}
	p.Dup = h.Flags&0x8 != 0
	p.QoS = (h.Flags >> 1) & 3
	p.Retain = h.Flags&1 != 0
	if p.QoS == 3 {
		return Errorf(MalformedPacket, "publish qos 3") // [MQTT-3.3.1-4]
	}
	if p.Dup && p.QoS == 0 {
		return Errorf(MalformedPacket, "dup set on qos 0 publish") // [MQTT-3.3.1-2]
	}
	r := reader{b: body}
	p.Topic = r.str("topic name") // [MQTT-3.3.2-1]
	if p.QoS > 0 {
		p.PacketID = r.packetID()
	}
	if v == V5 {
		p.Props.decode(&r, propsPublish, true)
	}
	if r.err != nil {
		return r.err
	}
	switch {
	case len(p.Topic) == 0:
		if v < V5 {
			return Errorf(MalformedPacket, "empty topic name") // 3.1.1 [MQTT-4.7.3-1]
		}
		if !p.Props.Has(PropTopicAlias) {
			// 3.3.2.3.4: a zero-length topic stands for an alias, so one must be there.
			return Errorf(ProtocolError, "empty topic name without topic alias")
		}
	case HasWildcard(p.Topic):
		return Errorf(TopicNameInvalid, "wildcard in topic name") // [MQTT-3.3.2-2]
	}
	p.Payload = r.rest()
	return nil
}

// remaining is the remaining length in version v; propSize is the size of
// the property block without its prefix, so Append need not count twice.
func (p *Publish) remaining(v Version) (n, propSize int) {
	n = 2 + len(p.Topic) + len(p.Payload)
	if p.QoS > 0 {
		n += 2
	}
	if v == V5 {
		propSize = p.Props.Size()
		n += VarintSize(propSize) + propSize
	}
	return n, propSize
}

// Size is the whole encoded length of the PUBLISH in version v, to hold it
// against a client's Maximum Packet Size before encoding.
func (p *Publish) Size(v Version) int {
	n, _ := p.remaining(v)
	return 1 + VarintSize(n) + n
}

// Append encodes the PUBLISH. The packet identifier is written only for
// QoS 1 and 2 [MQTT-2.2.1-2].
func (p *Publish) Append(dst []byte, v Version) []byte {
	flags := (p.QoS & 3) << 1
	if p.Dup {
		flags |= 0x8
	}
	if p.Retain {
		flags |= 1
	}
	n, propSize := p.remaining(v)
	dst = AppendFixedHeader(dst, PUBLISH, flags, n)
	dst = appendBin(dst, p.Topic)
	if p.QoS > 0 {
		dst = appendU16(dst, p.PacketID)
	}
	if v == V5 {
		dst = p.Props.appendBody(AppendVarint(dst, propSize))
	}
	return append(dst, p.Payload...)
}
