package proto

import (
	"bytes"
	"testing"
)

// sampleProp is one valid encoding of property id and the Properties it
// decodes to.
func sampleProp(id PropID) ([]byte, Properties) {
	var p Properties
	p.Set(id)
	switch propKinds[id] {
	case kindByte:
		*p.bytePtr(id) = 1
		return pByte(id, 1), p
	case kindU16:
		*p.u16Ptr(id) = 700
		return pU16(id, 700), p
	case kindU32:
		*p.u32Ptr(id) = 0x01020304
		return pU32(id, 0x01020304), p
	case kindVarint:
		p.SubscriptionIDs = []uint32{300}
		return pVar(id, 300), p
	case kindString, kindBinary:
		*p.bytesPtr(id) = bs("v/1")
		return pStr(id, "v/1"), p
	case kindPair:
		p.User = []UserProperty{user("k", "v")}
		return pUser("k", "v"), p
	}
	panic("no such property")
}

// Test helpers reaching the fixed-size fields by id.
func (p *Properties) bytePtr(id PropID) *byte {
	switch id {
	case PropPayloadFormat:
		return &p.PayloadFormat
	case PropRequestProblemInfo:
		return &p.RequestProblemInfo
	case PropRequestResponseInfo:
		return &p.RequestResponseInfo
	case PropMaximumQoS:
		return &p.MaximumQoS
	case PropRetainAvailable:
		return &p.RetainAvailable
	case PropWildcardSubAvailable:
		return &p.WildcardSubAvailable
	case PropSubIDAvailable:
		return &p.SubIDAvailable
	case PropSharedSubAvailable:
		return &p.SharedSubAvailable
	}
	return nil
}

func (p *Properties) u16Ptr(id PropID) *uint16 {
	switch id {
	case PropServerKeepAlive:
		return &p.ServerKeepAlive
	case PropReceiveMaximum:
		return &p.ReceiveMaximum
	case PropTopicAliasMaximum:
		return &p.TopicAliasMaximum
	case PropTopicAlias:
		return &p.TopicAlias
	}
	return nil
}

func (p *Properties) u32Ptr(id PropID) *uint32 {
	switch id {
	case PropMessageExpiry:
		return &p.MessageExpiry
	case PropSessionExpiry:
		return &p.SessionExpiry
	case PropWillDelay:
		return &p.WillDelay
	case PropMaximumPacketSize:
		return &p.MaximumPacketSize
	}
	return nil
}

func allPropIDs() (ids []PropID) {
	for id := PropID(0); id < 64; id++ {
		if propKinds[id] != kindNone {
			ids = append(ids, id)
		}
	}
	return ids
}

var propContexts = []struct {
	name    string
	allowed uint64
	multi   bool
}{
	{"CONNECT", propsConnect, false},
	{"will", propsWill, false},
	{"CONNACK", propsConnack, false},
	{"PUBLISH", propsPublish, true},
	{"PUBACK", propsAck, false},
	{"SUBSCRIBE", propsSubscribe, false},
	{"UNSUBSCRIBE", propsUnsubscribe, false},
	{"DISCONNECT", propsDisconnect, false},
	{"AUTH", propsAuth, false},
}

// Each property round-trips alone, is refused as malformed where table 2-4
// does not list it (2.2.2.2), and repeated is a Protocol Error except User
// Property and, in PUBLISH, Subscription Identifier.
func TestPropertiesEachKind(t *testing.T) {
	if n := len(allPropIDs()); n != 27 {
		t.Fatalf("%d property ids, the specification defines 27", n)
	}
	for _, ctx := range propContexts {
		for _, id := range allPropIDs() {
			wire, want := sampleProp(id)
			var got Properties
			r := reader{b: props(wire)}
			got.decode(&r, ctx.allowed, ctx.multi)
			if ctx.allowed&(1<<id) == 0 {
				if r.err == nil || r.err.Code != MalformedPacket {
					t.Errorf("%s: property 0x%02X accepted: %v", ctx.name, byte(id), r.err)
				}
				continue
			}
			if r.err != nil || r.left() != 0 || !samePacket(&got, &want) {
				t.Errorf("%s: property 0x%02X decoded %+v, %v", ctx.name, byte(id), got, r.err)
				continue
			}
			if out := got.Append(nil); !bytes.Equal(out, props(wire)) {
				t.Errorf("%s: property 0x%02X encoded % X, want % X", ctx.name, byte(id), out, props(wire))
			}
			if got.Size() != len(wire) {
				t.Errorf("property 0x%02X Size %d, want %d", byte(id), got.Size(), len(wire))
			}

			r = reader{b: props(wire, wire)}
			got.decode(&r, ctx.allowed, ctx.multi)
			repeatable := id == PropUserProperty || (id == PropSubscriptionID && ctx.multi)
			switch {
			case repeatable && r.err != nil:
				t.Errorf("%s: repeated 0x%02X refused: %v", ctx.name, byte(id), r.err)
			case repeatable && (len(got.User)+len(got.SubscriptionIDs) != 2):
				t.Errorf("%s: repeated 0x%02X kept %d values", ctx.name, byte(id), len(got.User)+len(got.SubscriptionIDs))
			case !repeatable && (r.err == nil || r.err.Code != ProtocolError):
				t.Errorf("%s: repeated 0x%02X: err %v, want Protocol Error", ctx.name, byte(id), r.err)
			}
		}
	}
}

func TestPropertyValueRules(t *testing.T) {
	tests := []struct {
		name string
		wire []byte
		want ReasonCode
	}{
		{"receive maximum 0", pU16(PropReceiveMaximum, 0), ProtocolError},        // 3.1.2.11.3
		{"maximum packet size 0", pU32(PropMaximumPacketSize, 0), ProtocolError}, // 3.1.2.11.4
		{"topic alias 0", pU16(PropTopicAlias, 0), TopicAliasInvalid},            // [MQTT-3.3.2-8]
		{"subscription id 0", pVar(PropSubscriptionID, 0), ProtocolError},        // 3.3.2.3.8
		{"subscription id max", pVar(PropSubscriptionID, MaxRemainingLength), 0},
		{"payload format 1", pByte(PropPayloadFormat, 1), 0},
		{"payload format 2", pByte(PropPayloadFormat, 2), ProtocolError},
		{"request problem info 2", pByte(PropRequestProblemInfo, 2), ProtocolError},
		{"request response info 255", pByte(PropRequestResponseInfo, 255), ProtocolError},
		{"maximum qos 1", pByte(PropMaximumQoS, 1), 0},
		{"maximum qos 2", pByte(PropMaximumQoS, 2), ProtocolError}, // 3.2.2.3.4
		{"retain available 2", pByte(PropRetainAvailable, 2), ProtocolError},
		{"wildcard available 2", pByte(PropWildcardSubAvailable, 2), ProtocolError},
		{"sub ids available 2", pByte(PropSubIDAvailable, 2), ProtocolError},
		{"shared available 2", pByte(PropSharedSubAvailable, 2), ProtocolError},
		{"response topic wildcard", pStr(PropResponseTopic, "a/+"), ProtocolError}, // [MQTT-3.3.2-14]
		{"response topic empty", pStr(PropResponseTopic, ""), ProtocolError},
		{"reason string NUL", pStr(PropReasonString, "a\x00"), MalformedPacket},  // [MQTT-1.5.4-2]
		{"user key bad UTF-8", pUser("\xFF", "v"), MalformedPacket},              // [MQTT-1.5.7-1]
		{"correlation data any bytes", pStr(PropCorrelationData, "\x00\xFF"), 0}, // binary, unchecked
		{"auth data any bytes", pStr(PropAuthData, "\xFF"), 0},
		{"varint id 0x80 0x01", rawb(0x80, 0x01, 0), MalformedPacket}, // a two-byte id names no property
		{"id 0", rawb(0x00, 0), MalformedPacket},
		{"string cut", rawb(byte(PropContentType), 0, 5, 'a'), MalformedPacket},
		{"u32 cut", rawb(byte(PropMessageExpiry), 0, 0), MalformedPacket},
		{"varint cut", rawb(byte(PropSubscriptionID), 0x80), MalformedPacket},
		{"varint too long", rawb(byte(PropSubscriptionID), 0x80, 0x80, 0x80, 0x80, 0x01), MalformedPacket},
	}
	all := ^uint64(0)
	for _, tt := range tests {
		var p Properties
		r := reader{b: props(tt.wire)}
		p.decode(&r, all, true)
		var got ReasonCode
		if r.err != nil {
			got = r.err.Code
		}
		if got != tt.want {
			t.Errorf("%s: code 0x%02X (%v), want 0x%02X", tt.name, byte(got), r.err, byte(tt.want))
		}
	}
}

func TestPropertiesCopyFrom(t *testing.T) {
	wire := props(pStr(PropContentType, "ct"), pStr(PropResponseTopic, "r"), pStr(PropCorrelationData, "cd"),
		pVar(PropSubscriptionID, 3), pVar(PropSubscriptionID, 4), pU16(PropTopicAlias, 2), pUser("k", "v"))
	var src, dst Properties
	r := reader{b: wire}
	src.decode(&r, ^uint64(0), true)
	if r.err != nil {
		t.Fatal(r.err)
	}
	dst.CopyFrom(&src)
	if !samePacket(&dst, &src) {
		t.Fatalf("copy %+v differs from %+v", dst, src)
	}
	for i := range wire {
		wire[i] = 0xEE // the input buffer is reused for the next packet
	}
	if string(dst.ContentType) != "ct" || string(dst.CorrelationData) != "cd" || string(dst.ResponseTopic) != "r" ||
		string(dst.User[0].Key) != "k" || string(dst.User[0].Value) != "v" || dst.SubscriptionIDs[1] != 4 || dst.TopicAlias != 2 {
		t.Fatalf("copy still aliases the input: %+v", dst)
	}
	src.SubscriptionIDs[0] = 99
	if dst.SubscriptionIDs[0] != 3 {
		t.Fatal("copy shares SubscriptionIDs")
	}
	// Appending to one copied field must not overwrite the next.
	dst.ContentType = append(dst.ContentType, 'X')
	if string(dst.ResponseTopic) != "r" {
		t.Fatal("copied fields overlap")
	}
	var empty Properties
	empty.CopyFrom(&Properties{})
	if empty.Present != 0 || empty.User != nil {
		t.Fatalf("copy of empty = %+v", empty)
	}
}

func TestPropertiesEmpty(t *testing.T) {
	var p Properties
	if p.Size() != 0 || !bytes.Equal(p.Append(nil), []byte{0}) {
		t.Fatal("empty properties must encode as a single zero length") // [MQTT-2.2.2-1]
	}
}
