package proto

// checkHeader verifies that a decoder got the packet type it decodes, a body
// of exactly the remaining length, and the fixed-header flags the
// specification reserves for that type: 0b0010 for PUBREL, SUBSCRIBE and
// UNSUBSCRIBE, 0 for the rest except PUBLISH. Anything else is a Malformed
// Packet [MQTT-2.1.3-1] (3.1.1: [MQTT-2.2.2-1] [MQTT-2.2.2-2]).
func checkHeader(h FixedHeader, body []byte, want Type) error {
	if h.Type != want {
		return Errorf(MalformedPacket, "%v decoder given a %v", want, h.Type)
	}
	if len(body) != h.Remaining {
		return Errorf(MalformedPacket, "%v: body of %d bytes, remaining length %d", want, len(body), h.Remaining)
	}
	if want != PUBLISH && h.Flags != reservedFlags(want) {
		return Errorf(MalformedPacket, "%v: reserved flags 0x%X", want, h.Flags)
	}
	return nil
}

func reservedFlags(t Type) byte {
	switch t {
	case PUBREL, SUBSCRIBE, UNSUBSCRIBE:
		return 0x2
	}
	return 0
}

// reasonSet is a set of reason codes, one bit each.
type reasonSet [4]uint64

func reasons(codes ...ReasonCode) reasonSet {
	var s reasonSet
	for _, c := range codes {
		s[c>>6] |= 1 << (c & 63)
	}
	return s
}

func (s *reasonSet) has(c ReasonCode) bool { return s[c>>6]&(1<<(c&63)) != 0 }

// The reason codes each v5 packet may carry (the tables of sections 3.x.2.1).
// A code outside its packet's table is refused as a Protocol Error: the
// packet parses, but carries a value the protocol does not allow there.
var (
	connackReasons = reasons(Success, UnspecifiedError, MalformedPacket, ProtocolError,
		ImplementationSpecificError, UnsupportedProtocolVersion, ClientIdentifierNotValid,
		BadUserNameOrPassword, NotAuthorized, ServerUnavailable, ServerBusy, Banned,
		BadAuthenticationMethod, TopicNameInvalid, PacketTooLarge, QuotaExceeded,
		PayloadFormatInvalid, RetainNotSupported, QoSNotSupported, UseAnotherServer, ServerMoved,
		ConnectionRateExceeded)
	pubackReasons = reasons(Success, NoMatchingSubscribers, UnspecifiedError,
		ImplementationSpecificError, NotAuthorized, TopicNameInvalid, PacketIdentifierInUse,
		QuotaExceeded, PayloadFormatInvalid) // PUBACK and PUBREC
	pubrelReasons = reasons(Success, PacketIdentifierNotFound) // PUBREL and PUBCOMP
	subackReasons = reasons(GrantedQoS1-1, GrantedQoS1, GrantedQoS2, UnspecifiedError,
		ImplementationSpecificError, NotAuthorized, TopicFilterInvalid, PacketIdentifierInUse,
		QuotaExceeded, SharedSubsNotSupported, SubIDsNotSupported, WildcardSubsNotSupported)
	unsubackReasons = reasons(Success, NoSubscriptionExisted, UnspecifiedError,
		ImplementationSpecificError, NotAuthorized, TopicFilterInvalid, PacketIdentifierInUse)
	disconnectReasons = reasons(Success, DisconnectWithWill, UnspecifiedError, MalformedPacket,
		ProtocolError, ImplementationSpecificError, NotAuthorized, ServerBusy, ServerShuttingDown,
		KeepAliveTimeout, SessionTakenOver, TopicFilterInvalid, TopicNameInvalid,
		ReceiveMaximumExceeded, TopicAliasInvalid, PacketTooLarge, MessageRateTooHigh,
		QuotaExceeded, AdministrativeAction, PayloadFormatInvalid, RetainNotSupported,
		QoSNotSupported, UseAnotherServer, ServerMoved, SharedSubsNotSupported,
		ConnectionRateExceeded, MaximumConnectTime, SubIDsNotSupported, WildcardSubsNotSupported)
	authReasons = reasons(Success, ContinueAuthentication, ReAuthenticate)
	// 3.1.1 SUBACK return codes [MQTT-3.9.3-2].
	v3SubackReasons = reasons(GrantedQoS1-1, GrantedQoS1, GrantedQoS2, V3SubackFailure)
)

func (r *reader) reason(set *reasonSet, what string) ReasonCode {
	c := ReasonCode(r.u8(what))
	if r.err == nil && !set.has(c) {
		r.fail(ProtocolError, what+" "+hexByte(byte(c))+" not allowed")
	}
	return c
}

// packetID reads a packet identifier that must not be 0 [MQTT-2.2.1-3]
// (3.1.1: [MQTT-2.3.1-1]).
func (r *reader) packetID() uint16 {
	id := r.u16("packet identifier")
	if r.err == nil && id == 0 {
		r.fail(ProtocolError, "packet identifier 0")
	}
	return id
}
