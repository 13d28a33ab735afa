package proto

import (
	"bytes"
	"testing"
)

func TestAppendForms(t *testing.T) {
	reason := Properties{Present: present(PropReasonString), ReasonString: bs("r")}
	tests := []struct {
		name string
		pkt  Packet
		v    Version
		want []byte
	}{
		// 3.4.2.1: Success without properties may drop reason and property length.
		{"puback 5 short", &Ack{Type: PUBACK, PacketID: 1}, V5, rawb(0x40, 2, 0, 1)},
		{"puback 5 reason only", &Ack{Type: PUBACK, PacketID: 1, Reason: NotAuthorized}, V5, rawb(0x40, 3, 0, 1, 0x87)},
		{"pubrel 5 flags", &Ack{Type: PUBREL, PacketID: 2}, V5, rawb(0x62, 2, 0, 2)}, // [MQTT-3.6.1-1]
		{"puback 5 props", &Ack{Type: PUBACK, PacketID: 1, Props: reason}, V5, rawb(0x40, 8, 0, 1, 0, 4, 0x1F, 0, 1, 'r')},
		{"puback 3.1.1 drops v5 fields", &Ack{Type: PUBACK, PacketID: 1, Reason: NotAuthorized, Props: reason}, V311, rawb(0x40, 2, 0, 1)},
		{"pubrel 3.1.1", &Ack{Type: PUBREL, PacketID: 9}, V311, rawb(0x62, 2, 0, 9)},
		{"disconnect 3.1.1 drops reason", &Disconnect{Reason: ServerShuttingDown, Props: reason}, V311, rawb(0xE0, 0)},
		{"disconnect 5 normal", &Disconnect{}, V5, rawb(0xE0, 0)},
		{"disconnect 5 reason", &Disconnect{Reason: SessionTakenOver}, V5, rawb(0xE0, 1, 0x8E)},
		{"disconnect 5 props", &Disconnect{Props: reason}, V5, rawb(0xE0, 6, 0, 4, 0x1F, 0, 1, 'r')},
		{"auth 3.1.1 is nothing", &Auth{Reason: ContinueAuthentication}, V311, nil},
		{"auth 5 continue", &Auth{Reason: ContinueAuthentication}, V5, rawb(0xF0, 1, 0x18)},
		{"connack 3.1.1 drops props", &Connack{Reason: V3BadUsernameOrPassword, Props: reason}, V311, rawb(0x20, 2, 0, 4)},
		{"suback 3.1.1 codes as given", &Suback{PacketID: 3, Reasons: []ReasonCode{2, 0x80}, Props: reason}, V311, rawb(0x90, 4, 0, 3, 2, 0x80)},
		{"unsuback 3.1.1 drops reasons", &Unsuback{PacketID: 3, Reasons: []ReasonCode{0x11}}, V311, rawb(0xB0, 2, 0, 3)},
		{"unsuback 5", &Unsuback{PacketID: 3, Reasons: []ReasonCode{0x11}}, V5, rawb(0xB0, 4, 0, 3, 0, 0x11)},
		{"subscribe 3.1.1 drops v5 options", &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: bs("a"), QoS: 1, NoLocal: true, RetainHandling: 2}}},
			V311, rawb(0x82, 6, 0, 1, 0, 1, 'a', 1)},
		{"unsubscribe 5", &Unsubscribe{PacketID: 1, Filters: [][]byte{bs("a")}}, V5, rawb(0xA2, 6, 0, 1, 0, 0, 1, 'a')},
		{"publish 3.1.1 qos 0 has no id", &Publish{Topic: bs("t"), PacketID: 5, Payload: bs("p"), Props: reason}, V311, rawb(0x30, 4, 0, 1, 't', 'p')},
		{"publish 5 qos 1", &Publish{QoS: 1, Topic: bs("t"), PacketID: 5}, V5, rawb(0x32, 6, 0, 1, 't', 0, 5, 0)},
		{"pingreq", &Ping{Type: PINGREQ}, V5, rawb(0xC0, 0)},
		{"connect 3.1 default name", &Connect{Version: V31, CleanStart: true, ClientID: bs("c")}, V31,
			frame(0x10, ls("MQIsdp"), rawb(3, 2), u16b(0), ls("c"))},
		{"connect version from v", &Connect{ClientID: bs("c")}, V5, frame(0x10, ls("MQTT"), rawb(5, 0), u16b(0), props(), ls("c"))},
		{"connect own version wins", &Connect{Version: V311, ClientID: bs("c")}, V5, frame(0x10, ls("MQTT"), rawb(4, 0), u16b(0), ls("c"))},
	}
	for _, tt := range tests {
		prefix := []byte("keep")
		got := tt.pkt.Append(append([]byte(nil), prefix...), tt.v)
		if !bytes.HasPrefix(got, prefix) || !bytes.Equal(got[len(prefix):], tt.want) {
			t.Errorf("%s: % X, want % X", tt.name, got[len(prefix):], tt.want)
		}
	}
	if got := AppendPingreq(nil); !bytes.Equal(got, rawb(0xC0, 0)) {
		t.Errorf("AppendPingreq % X", got)
	}
	if got := AppendPingresp(nil); !bytes.Equal(got, rawb(0xD0, 0)) {
		t.Errorf("AppendPingresp % X", got)
	}
}

func TestPublishSize(t *testing.T) {
	for _, n := range []int{0, 100, 200, 20000, 3000000} {
		p := &Publish{QoS: 1, PacketID: 1, Topic: bs("a/b"), Payload: make([]byte, n),
			Props: Properties{Present: present(PropUserProperty, PropSubscriptionID),
				User: []UserProperty{user("k", "v")}, SubscriptionIDs: []uint32{1, 200000}}}
		for _, v := range []Version{V311, V5} {
			if got := len(p.Append(nil, v)); got != p.Size(v) {
				t.Errorf("payload %d v%d: Size %d, encoded %d", n, v, p.Size(v), got)
			}
		}
	}
}

func TestConnectErrorKeepsVersion(t *testing.T) {
	tests := []struct {
		name string
		raw  []byte
		ver  Version
		code ReasonCode
	}{
		// The session answers in the client's version, so it must know it. [MQTT-3.1.2-2]
		{"unknown level of MQTT", frame(0x10, ls("MQTT"), rawb(7, 2), u16b(0), ls("c")), 7, UnsupportedProtocolVersion},
		{"unknown name", frame(0x10, ls("XXXX"), rawb(4, 2), u16b(0), ls("c")), 0, UnsupportedProtocolVersion},
		{"5 bad property", frame(0x10, ls("MQTT"), rawb(5, 2), u16b(0), props(pU16(PropReceiveMaximum, 0)), ls("c")), V5, ProtocolError},
		{"3.1.1 bad flags", frame(0x10, ls("MQTT"), rawb(4, 1), u16b(0), ls("c")), V311, MalformedPacket},
		{"3.1.1 truncated", frame(0x10, ls("MQTT"), rawb(4)), V311, MalformedPacket},
		{"name truncated", frame(0x10, rawb(0, 4, 'M')), 0, MalformedPacket},
	}
	for _, tt := range tests {
		h, n, _ := ParseFixedHeader(tt.raw)
		var c Connect
		err := c.Decode(h, tt.raw[n:])
		if code, _ := reasonOf(err); code != tt.code || c.Version != tt.ver {
			t.Errorf("%s: version %d err %v; want version %d code 0x%02X", tt.name, c.Version, err, tt.ver, byte(tt.code))
		}
	}
}

func TestDecodeHeaderMismatch(t *testing.T) {
	var p Publish
	body := []byte{0, 1, 'a'}
	// The body must be exactly the remaining length.
	if code, _ := reasonOf(p.Decode(FixedHeader{Type: PUBLISH, Remaining: 4}, body, V5)); code != MalformedPacket {
		t.Error("short body accepted")
	}
	if code, _ := reasonOf(p.Decode(FixedHeader{Type: PUBACK, Remaining: 3}, body, V5)); code != MalformedPacket {
		t.Error("wrong type accepted")
	}
	var a Ack
	if code, _ := reasonOf(a.Decode(FixedHeader{Type: SUBSCRIBE, Flags: 2, Remaining: 2}, []byte{0, 1}, V5)); code != MalformedPacket {
		t.Error("ack decoder took a SUBSCRIBE")
	}
	for _, h := range []FixedHeader{{Type: PINGREQ, Flags: 1}, {Type: PINGRESP, Remaining: 1}, {Type: PUBLISH}} {
		if code, _ := reasonOf(DecodePing(h)); code != MalformedPacket {
			t.Errorf("DecodePing(%+v) accepted", h)
		}
	}
	if DecodePing(FixedHeader{Type: PINGRESP}) != nil {
		t.Error("PINGRESP refused")
	}
}

// Decode reads one packet and leaves the next one alone.
func TestDecodeStream(t *testing.T) {
	stream := cat(rawb(0xC0, 0), frame(0x30, ls("a"), bs("x")), rawb(0xE0, 0), rawb(0x30, 5, 0))
	want := []Type{PINGREQ, PUBLISH, DISCONNECT}
	for i, w := range want {
		pkt, n, err := Decode(stream, V311)
		if err != nil || pkt.PacketType() != w {
			t.Fatalf("packet %d: %v %v", i, pkt, err)
		}
		stream = stream[n:]
	}
	if _, _, err := Decode(stream, V311); err != ErrIncomplete {
		t.Fatalf("tail: %v", err)
	}
}
