package proto

// Where each property may appear (MQTT 5.0 section 2.2.2.2, table 2-4). A
// property outside its packet's set is a Malformed Packet (2.2.2.2); one
// repeated where the specification allows it once is a Protocol Error.
const (
	bit = uint64(1)

	userOnly = bit << PropUserProperty

	propsConnect = userOnly | bit<<PropSessionExpiry | bit<<PropAuthMethod | bit<<PropAuthData |
		bit<<PropRequestProblemInfo | bit<<PropRequestResponseInfo | bit<<PropReceiveMaximum |
		bit<<PropTopicAliasMaximum | bit<<PropMaximumPacketSize
	propsWill = userOnly | bit<<PropPayloadFormat | bit<<PropMessageExpiry | bit<<PropContentType |
		bit<<PropResponseTopic | bit<<PropCorrelationData | bit<<PropWillDelay
	propsConnack = userOnly | bit<<PropSessionExpiry | bit<<PropAssignedClientID |
		bit<<PropServerKeepAlive | bit<<PropAuthMethod | bit<<PropAuthData | bit<<PropResponseInfo |
		bit<<PropServerReference | bit<<PropReasonString | bit<<PropReceiveMaximum |
		bit<<PropTopicAliasMaximum | bit<<PropMaximumQoS | bit<<PropRetainAvailable |
		bit<<PropMaximumPacketSize | bit<<PropWildcardSubAvailable | bit<<PropSubIDAvailable |
		bit<<PropSharedSubAvailable
	propsPublish = userOnly | bit<<PropPayloadFormat | bit<<PropMessageExpiry | bit<<PropContentType |
		bit<<PropResponseTopic | bit<<PropCorrelationData | bit<<PropSubscriptionID | bit<<PropTopicAlias
	propsAck         = userOnly | bit<<PropReasonString // PUBACK..PUBCOMP, SUBACK, UNSUBACK
	propsSubscribe   = userOnly | bit<<PropSubscriptionID
	propsUnsubscribe = userOnly
	propsDisconnect  = userOnly | bit<<PropSessionExpiry | bit<<PropServerReference | bit<<PropReasonString
	propsAuth        = userOnly | bit<<PropAuthMethod | bit<<PropAuthData | bit<<PropReasonString
)

type propKind byte

const (
	kindNone propKind = iota
	kindByte
	kindU16
	kindU32
	kindVarint
	kindString
	kindBinary
	kindPair
)

var propKinds = [64]propKind{
	PropPayloadFormat:        kindByte,
	PropMessageExpiry:        kindU32,
	PropContentType:          kindString,
	PropResponseTopic:        kindString,
	PropCorrelationData:      kindBinary,
	PropSubscriptionID:       kindVarint,
	PropSessionExpiry:        kindU32,
	PropAssignedClientID:     kindString,
	PropServerKeepAlive:      kindU16,
	PropAuthMethod:           kindString,
	PropAuthData:             kindBinary,
	PropRequestProblemInfo:   kindByte,
	PropWillDelay:            kindU32,
	PropRequestResponseInfo:  kindByte,
	PropResponseInfo:         kindString,
	PropServerReference:      kindString,
	PropReasonString:         kindString,
	PropReceiveMaximum:       kindU16,
	PropTopicAliasMaximum:    kindU16,
	PropTopicAlias:           kindU16,
	PropMaximumQoS:           kindByte,
	PropRetainAvailable:      kindByte,
	PropUserProperty:         kindPair,
	PropMaximumPacketSize:    kindU32,
	PropWildcardSubAvailable: kindByte,
	PropSubIDAvailable:       kindByte,
	PropSharedSubAvailable:   kindByte,
}

// reset empties p, keeping the capacity of its slices for reuse.
func (p *Properties) reset() {
	user, ids := p.User[:0], p.SubscriptionIDs[:0]
	*p = Properties{User: user, SubscriptionIDs: ids}
}

// decode reads a property length and the properties it covers, allowing only
// the ids in allowed. Several Subscription Identifiers are accepted only when
// multiSubID is set (a PUBLISH, where the server sends one per matching
// subscription [MQTT-3.3.4-4]); the session refuses them from a client.
func (p *Properties) decode(r *reader, allowed uint64, multiSubID bool) {
	p.reset()
	n := r.varint("property length")
	if r.err != nil {
		return
	}
	if r.left() < n {
		r.short("properties")
		return
	}
	end := r.i + n
	sub := reader{b: r.b[:end], i: r.i}
	for sub.err == nil && sub.i < end {
		id := PropID(sub.u8("property id"))
		if sub.err != nil {
			break
		}
		if id >= 64 || propKinds[id] == kindNone || allowed&(bit<<id) == 0 {
			// Unknown ids land here too: all defined ids fit one byte, and a
			// byte with the top bit set would begin a longer id that names
			// nothing.
			sub.fail(MalformedPacket, "property "+hexByte(byte(id))+" not valid in this packet")
			break
		}
		if p.Has(id) && id != PropUserProperty && !(id == PropSubscriptionID && multiSubID) {
			sub.fail(ProtocolError, "property "+hexByte(byte(id))+" repeated")
			break
		}
		p.Set(id)
		p.decodeOne(&sub, id)
	}
	if sub.err != nil {
		r.err = sub.err
		return
	}
	r.i = end
}

func (p *Properties) decodeOne(r *reader, id PropID) {
	switch id {
	case PropPayloadFormat:
		p.PayloadFormat = r.u8("payload format indicator")
		r.zeroOrOne(p.PayloadFormat, "payload format indicator")
	case PropMessageExpiry:
		p.MessageExpiry = r.u32("message expiry interval")
	case PropContentType:
		p.ContentType = r.str("content type")
	case PropResponseTopic:
		p.ResponseTopic = r.str("response topic")
		// [MQTT-3.3.2-14] a Response Topic is a Topic Name: no wildcards.
		if r.err == nil && !ValidTopicName(p.ResponseTopic) {
			r.fail(ProtocolError, "response topic is not a valid topic name")
		}
	case PropCorrelationData:
		p.CorrelationData = r.bin("correlation data")
	case PropSubscriptionID:
		v := r.varint("subscription identifier")
		if r.err == nil && v == 0 {
			r.fail(ProtocolError, "subscription identifier 0")
		}
		p.SubscriptionIDs = append(p.SubscriptionIDs, uint32(v))
	case PropSessionExpiry:
		p.SessionExpiry = r.u32("session expiry interval")
	case PropAssignedClientID:
		p.AssignedClientID = r.str("assigned client identifier")
	case PropServerKeepAlive:
		p.ServerKeepAlive = r.u16("server keep alive")
	case PropAuthMethod:
		p.AuthMethod = r.str("authentication method")
	case PropAuthData:
		p.AuthData = r.bin("authentication data")
	case PropRequestProblemInfo:
		p.RequestProblemInfo = r.u8("request problem information")
		r.zeroOrOne(p.RequestProblemInfo, "request problem information")
	case PropWillDelay:
		p.WillDelay = r.u32("will delay interval")
	case PropRequestResponseInfo:
		p.RequestResponseInfo = r.u8("request response information")
		r.zeroOrOne(p.RequestResponseInfo, "request response information")
	case PropResponseInfo:
		p.ResponseInfo = r.str("response information")
	case PropServerReference:
		p.ServerReference = r.str("server reference")
	case PropReasonString:
		p.ReasonString = r.str("reason string")
	case PropReceiveMaximum:
		p.ReceiveMaximum = r.u16("receive maximum")
		if r.err == nil && p.ReceiveMaximum == 0 {
			r.fail(ProtocolError, "receive maximum 0")
		}
	case PropTopicAliasMaximum:
		p.TopicAliasMaximum = r.u16("topic alias maximum")
	case PropTopicAlias:
		p.TopicAlias = r.u16("topic alias")
		if r.err == nil && p.TopicAlias == 0 {
			r.fail(TopicAliasInvalid, "topic alias 0") // [MQTT-3.3.2-8]; 0x94 names it best
		}
	case PropMaximumQoS:
		p.MaximumQoS = r.u8("maximum qos")
		r.zeroOrOne(p.MaximumQoS, "maximum qos")
	case PropRetainAvailable:
		p.RetainAvailable = r.u8("retain available")
		r.zeroOrOne(p.RetainAvailable, "retain available")
	case PropUserProperty:
		k := r.str("user property name")
		v := r.str("user property value")
		p.User = append(p.User, UserProperty{Key: k, Value: v})
	case PropMaximumPacketSize:
		p.MaximumPacketSize = r.u32("maximum packet size")
		if r.err == nil && p.MaximumPacketSize == 0 {
			r.fail(ProtocolError, "maximum packet size 0")
		}
	case PropWildcardSubAvailable:
		p.WildcardSubAvailable = r.u8("wildcard subscription available")
		r.zeroOrOne(p.WildcardSubAvailable, "wildcard subscription available")
	case PropSubIDAvailable:
		p.SubIDAvailable = r.u8("subscription identifiers available")
		r.zeroOrOne(p.SubIDAvailable, "subscription identifiers available")
	case PropSharedSubAvailable:
		p.SharedSubAvailable = r.u8("shared subscription available")
		r.zeroOrOne(p.SharedSubAvailable, "shared subscription available")
	}
}

// zeroOrOne enforces the byte properties whose only values are 0 and 1;
// anything else is a Protocol Error in the property's own section.
func (r *reader) zeroOrOne(v byte, what string) {
	if r.err == nil && v > 1 {
		r.fail(ProtocolError, what+" not 0 or 1")
	}
}

func hexByte(c byte) string {
	const digits = "0123456789ABCDEF"
	return "0x" + string([]byte{digits[c>>4], digits[c&0xF]})
}

// Size is the encoded length of the properties, without the length prefix.
// Properties must fit their wire types: string and binary values up to
// 65,535 bytes, subscription identifiers up to 268,435,455.
func (p *Properties) Size() int {
	if p.Present == 0 {
		return 0
	}
	n := 0
	for id := PropID(1); p.Present>>id != 0; id++ {
		if !p.Has(id) {
			continue
		}
		switch propKinds[id] {
		case kindByte:
			n += 2
		case kindU16:
			n += 3
		case kindU32:
			n += 5
		case kindVarint:
			for _, v := range p.SubscriptionIDs {
				n += 1 + VarintSize(int(v))
			}
		case kindString, kindBinary:
			n += 3 + min(len(p.bytesOf(id)), 0xFFFF)
		case kindPair:
			for _, u := range p.User {
				n += 5 + min(len(u.Key), 0xFFFF) + min(len(u.Value), 0xFFFF)
			}
		}
	}
	return n
}

// Append appends the property length and the properties, in identifier
// order (user properties in their own order).
func (p *Properties) Append(dst []byte) []byte {
	return p.appendBody(AppendVarint(dst, p.Size()))
}

// appendBody appends the properties without their length prefix.
func (p *Properties) appendBody(dst []byte) []byte {
	if p.Present == 0 {
		return dst
	}
	for id := PropID(1); p.Present>>id != 0; id++ {
		if !p.Has(id) {
			continue
		}
		switch propKinds[id] {
		case kindByte:
			dst = append(dst, byte(id), p.byteOf(id))
		case kindU16:
			dst = appendU16(append(dst, byte(id)), p.u16Of(id))
		case kindU32:
			dst = appendU32(append(dst, byte(id)), p.u32Of(id))
		case kindVarint:
			for _, v := range p.SubscriptionIDs {
				dst = AppendVarint(append(dst, byte(id)), int(v))
			}
		case kindString, kindBinary:
			dst = appendBin(append(dst, byte(id)), p.bytesOf(id))
		case kindPair:
			for _, u := range p.User {
				dst = appendBin(appendBin(append(dst, byte(id)), u.Key), u.Value)
			}
		}
	}
	return dst
}

// appendSize is the length of the property block with its length prefix.
func (p *Properties) appendSize() int {
	n := p.Size()
	return VarintSize(n) + n
}

func (p *Properties) byteOf(id PropID) byte {
	switch id {
	case PropPayloadFormat:
		return p.PayloadFormat
	case PropRequestProblemInfo:
		return p.RequestProblemInfo
	case PropRequestResponseInfo:
		return p.RequestResponseInfo
	case PropMaximumQoS:
		return p.MaximumQoS
	case PropRetainAvailable:
		return p.RetainAvailable
	case PropWildcardSubAvailable:
		return p.WildcardSubAvailable
	case PropSubIDAvailable:
		return p.SubIDAvailable
	case PropSharedSubAvailable:
		return p.SharedSubAvailable
	}
	return 0
}

func (p *Properties) u16Of(id PropID) uint16 {
	switch id {
	case PropServerKeepAlive:
		return p.ServerKeepAlive
	case PropReceiveMaximum:
		return p.ReceiveMaximum
	case PropTopicAliasMaximum:
		return p.TopicAliasMaximum
	case PropTopicAlias:
		return p.TopicAlias
	}
	return 0
}

func (p *Properties) u32Of(id PropID) uint32 {
	switch id {
	case PropMessageExpiry:
		return p.MessageExpiry
	case PropSessionExpiry:
		return p.SessionExpiry
	case PropWillDelay:
		return p.WillDelay
	case PropMaximumPacketSize:
		return p.MaximumPacketSize
	}
	return 0
}

func (p *Properties) bytesOf(id PropID) []byte {
	switch id {
	case PropContentType:
		return p.ContentType
	case PropResponseTopic:
		return p.ResponseTopic
	case PropCorrelationData:
		return p.CorrelationData
	case PropAssignedClientID:
		return p.AssignedClientID
	case PropAuthMethod:
		return p.AuthMethod
	case PropAuthData:
		return p.AuthData
	case PropResponseInfo:
		return p.ResponseInfo
	case PropServerReference:
		return p.ServerReference
	case PropReasonString:
		return p.ReasonString
	}
	return nil
}

func (p *Properties) bytesPtr(id PropID) *[]byte {
	switch id {
	case PropContentType:
		return &p.ContentType
	case PropResponseTopic:
		return &p.ResponseTopic
	case PropCorrelationData:
		return &p.CorrelationData
	case PropAssignedClientID:
		return &p.AssignedClientID
	case PropAuthMethod:
		return &p.AuthMethod
	case PropAuthData:
		return &p.AuthData
	case PropResponseInfo:
		return &p.ResponseInfo
	case PropServerReference:
		return &p.ServerReference
	case PropReasonString:
		return &p.ReasonString
	}
	return nil
}

// CopyFrom makes p a deep copy of src whose byte slices are owned by p, for
// a message that must outlive the buffer it was decoded from. All byte data
// goes into one allocation.
func (p *Properties) CopyFrom(src *Properties) {
	total := 0
	for id := PropID(1); id < 64; id++ {
		if propKinds[id] == kindString || propKinds[id] == kindBinary {
			total += len(src.bytesOf(id))
		}
	}
	for _, u := range src.User {
		total += len(u.Key) + len(u.Value)
	}
	*p = *src
	p.SubscriptionIDs, p.User = nil, nil
	if len(src.SubscriptionIDs) > 0 {
		p.SubscriptionIDs = append([]uint32(nil), src.SubscriptionIDs...)
	}
	buf := make([]byte, 0, total)
	own := func(s []byte) []byte {
		if s == nil {
			return nil
		}
		start := len(buf)
		buf = append(buf, s...)
		return buf[start:len(buf):len(buf)]
	}
	for id := PropID(1); id < 64; id++ {
		if ptr := p.bytesPtr(id); ptr != nil {
			*ptr = own(*ptr)
		}
	}
	if len(src.User) > 0 {
		p.User = make([]UserProperty, len(src.User))
		for i, u := range src.User {
			p.User[i] = UserProperty{Key: own(u.Key), Value: own(u.Value)}
		}
	}
}
