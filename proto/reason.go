package proto

import "fmt"

// ReasonCode is an MQTT 5 reason code, or a 3.1.1 CONNACK return code / SUBACK
// granted value where the packet is encoded for 3.1.1.
type ReasonCode byte

const (
	Success                     ReasonCode = 0x00 // also Normal disconnection, Granted QoS 0
	GrantedQoS1                 ReasonCode = 0x01
	GrantedQoS2                 ReasonCode = 0x02
	DisconnectWithWill          ReasonCode = 0x04
	NoMatchingSubscribers       ReasonCode = 0x10
	NoSubscriptionExisted       ReasonCode = 0x11
	ContinueAuthentication      ReasonCode = 0x18
	ReAuthenticate              ReasonCode = 0x19
	UnspecifiedError            ReasonCode = 0x80
	MalformedPacket             ReasonCode = 0x81
	ProtocolError               ReasonCode = 0x82
	ImplementationSpecificError ReasonCode = 0x83
	UnsupportedProtocolVersion  ReasonCode = 0x84
	ClientIdentifierNotValid    ReasonCode = 0x85
	BadUserNameOrPassword       ReasonCode = 0x86
	NotAuthorized               ReasonCode = 0x87
	ServerUnavailable           ReasonCode = 0x88
	ServerBusy                  ReasonCode = 0x89
	Banned                      ReasonCode = 0x8A
	ServerShuttingDown          ReasonCode = 0x8B
	BadAuthenticationMethod     ReasonCode = 0x8C
	KeepAliveTimeout            ReasonCode = 0x8D
	SessionTakenOver            ReasonCode = 0x8E
	TopicFilterInvalid          ReasonCode = 0x8F
	TopicNameInvalid            ReasonCode = 0x90
	PacketIdentifierInUse       ReasonCode = 0x91
	PacketIdentifierNotFound    ReasonCode = 0x92
	ReceiveMaximumExceeded      ReasonCode = 0x93
	TopicAliasInvalid           ReasonCode = 0x94
	PacketTooLarge              ReasonCode = 0x95
	MessageRateTooHigh          ReasonCode = 0x96
	QuotaExceeded               ReasonCode = 0x97
	AdministrativeAction        ReasonCode = 0x98
	PayloadFormatInvalid        ReasonCode = 0x99
	RetainNotSupported          ReasonCode = 0x9A
	QoSNotSupported             ReasonCode = 0x9B
	UseAnotherServer            ReasonCode = 0x9C
	ServerMoved                 ReasonCode = 0x9D
	SharedSubsNotSupported      ReasonCode = 0x9E
	ConnectionRateExceeded      ReasonCode = 0x9F
	MaximumConnectTime          ReasonCode = 0xA0
	SubIDsNotSupported          ReasonCode = 0xA1
	WildcardSubsNotSupported    ReasonCode = 0xA2
)

// 3.1.1 CONNACK return codes.
const (
	V3Accepted                    ReasonCode = 0x00
	V3UnacceptableProtocolVersion ReasonCode = 0x01
	V3IdentifierRejected          ReasonCode = 0x02
	V3ServerUnavailable           ReasonCode = 0x03
	V3BadUsernameOrPassword       ReasonCode = 0x04
	V3NotAuthorized               ReasonCode = 0x05
	V3SubackFailure               ReasonCode = 0x80
)

// V3ConnackCode maps a v5 CONNACK reason code to the nearest 3.1.1 return code.
func V3ConnackCode(rc ReasonCode) ReasonCode {
	switch rc {
	case Success:
		return V3Accepted
	case UnsupportedProtocolVersion:
		return V3UnacceptableProtocolVersion
	case ClientIdentifierNotValid:
		return V3IdentifierRejected
	case BadUserNameOrPassword:
		return V3BadUsernameOrPassword
	case NotAuthorized, Banned, BadAuthenticationMethod:
		return V3NotAuthorized
	default:
		return V3ServerUnavailable
	}
}

// Error is a decoding or validation failure. Code is the reason code the
// specification names for it (MalformedPacket, ProtocolError, ...).
type Error struct {
	Code ReasonCode
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("mqtt 0x%02X: %s", byte(e.Code), e.Msg) }

// Errorf builds an *Error.
func Errorf(code ReasonCode, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// ErrIncomplete is returned by ParseFixedHeader when the bytes given do not
// yet hold a whole fixed header. It is not a protocol error.
var ErrIncomplete = &Error{Code: Success, Msg: "incomplete packet"}
