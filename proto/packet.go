package proto

// Version is the protocol level carried in CONNECT.
type Version byte

const (
	V31  Version = 3 // MQTT 3.1, protocol name "MQIsdp"
	V311 Version = 4 // MQTT 3.1.1
	V5   Version = 5 // MQTT 5.0
)

// String is the version as MQTT's specifications name it: "3.1", "3.1.1"
// or "5.0"; another level as its number.
func (v Version) String() string {
	switch v {
	case V31:
		return "3.1"
	case V311:
		return "3.1.1"
	case V5:
		return "5.0"
	}
	return "level " + string(rune('0'+v/100%10)) + string(rune('0'+v/10%10)) + string(rune('0'+v%10))
}

// Type is the control packet type, the high nibble of the first byte.
type Type byte

const (
	CONNECT     Type = 1
	CONNACK     Type = 2
	PUBLISH     Type = 3
	PUBACK      Type = 4
	PUBREC      Type = 5
	PUBREL      Type = 6
	PUBCOMP     Type = 7
	SUBSCRIBE   Type = 8
	SUBACK      Type = 9
	UNSUBSCRIBE Type = 10
	UNSUBACK    Type = 11
	PINGREQ     Type = 12
	PINGRESP    Type = 13
	DISCONNECT  Type = 14
	AUTH        Type = 15
)

var typeNames = [...]string{"RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC",
	"PUBREL", "PUBCOMP", "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ",
	"PINGRESP", "DISCONNECT", "AUTH"}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "INVALID"
}

// MaxRemainingLength is the largest value the variable byte integer of the
// fixed header can carry (268,435,455).
const MaxRemainingLength = 268435455

// FixedHeader is the first byte and the remaining length of a packet.
type FixedHeader struct {
	Type      Type
	Flags     byte // low nibble of the first byte
	Remaining int  // length of variable header plus payload
}

// Connect is the CONNECT packet, will and credentials included.
type Connect struct {
	ProtocolName []byte // "MQTT" or "MQIsdp"
	Version      Version
	CleanStart   bool // Clean Session in 3.1.1
	KeepAlive    uint16
	Props        Properties // v5 only
	ClientID     []byte

	WillFlag    bool
	WillQoS     byte
	WillRetain  bool
	WillProps   Properties // v5 only
	WillTopic   []byte
	WillPayload []byte

	UsernameFlag bool
	Username     []byte
	PasswordFlag bool
	Password     []byte
}

// Connack is the CONNACK packet. In 3.1/3.1.1 Reason holds the return code
// (0-5); in v5 a reason code.
type Connack struct {
	SessionPresent bool
	Reason         ReasonCode
	Props          Properties
}

// Publish is the PUBLISH packet.
type Publish struct {
	Dup      bool
	QoS      byte
	Retain   bool
	Topic    []byte
	PacketID uint16 // only when QoS > 0
	Props    Properties
	Payload  []byte
}

// Ack is PUBACK, PUBREC, PUBREL or PUBCOMP: a packet id and, in v5, a reason
// code and properties.
type Ack struct {
	Type     Type
	PacketID uint16
	Reason   ReasonCode
	Props    Properties
}

// Subscription is one topic filter of a SUBSCRIBE with its options.
type Subscription struct {
	Filter            []byte
	QoS               byte
	NoLocal           bool // v5
	RetainAsPublished bool // v5
	RetainHandling    byte // v5: 0, 1 or 2
}

// Subscribe is the SUBSCRIBE packet.
type Subscribe struct {
	PacketID      uint16
	Props         Properties
	Subscriptions []Subscription
}

// Suback is the SUBACK packet; in 3.1.1 the reasons are the granted QoS or 0x80.
type Suback struct {
	PacketID uint16
	Props    Properties
	Reasons  []ReasonCode
}

// Unsubscribe is the UNSUBSCRIBE packet.
type Unsubscribe struct {
	PacketID uint16
	Props    Properties
	Filters  [][]byte
}

// Unsuback is the UNSUBACK packet; Reasons are v5 only.
type Unsuback struct {
	PacketID uint16
	Props    Properties
	Reasons  []ReasonCode
}

// Disconnect is the DISCONNECT packet; Reason and Props are v5 only.
type Disconnect struct {
	Reason ReasonCode
	Props  Properties
}

// Auth is the v5 AUTH packet.
type Auth struct {
	Reason ReasonCode
	Props  Properties
}
