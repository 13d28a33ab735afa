package proto

// PacketType reports CONNECT.
func (p *Connect) PacketType() Type { return CONNECT }

// Connect flag bits (3.1.2.3).
const (
	flagReserved   = 0x01
	flagCleanStart = 0x02
	flagWill       = 0x04
	flagWillQoS    = 0x18
	flagWillRetain = 0x20
	flagPassword   = 0x40
	flagUsername   = 0x80
)

func (p *Connect) reset() {
	props, will := p.Props, p.WillProps
	props.reset()
	will.reset()
	*p = Connect{Props: props, WillProps: will}
}

// Decode reads a CONNECT body. The version comes from the packet; it is set
// as soon as it is known, so a caller that gets an error can still answer in
// the client's version. A protocol name or level this package does not speak
// is an UnsupportedProtocolVersion *Error [MQTT-3.1.2-1] [MQTT-3.1.2-2]
// (3.1.1: CONNACK return code 0x01).
func (p *Connect) Decode(h FixedHeader, body []byte) error {
	p.reset()
	if err := checkHeader(h, body, CONNECT); err != nil {
		return err
	}
	r := reader{b: body}
	name := r.bin("protocol name")
	level := Version(r.u8("protocol level"))
	if err := r.check(); err != nil {
		return err
	}
	p.ProtocolName = name
	switch {
	case level == V31 && string(name) == "MQIsdp":
	case (level == V311 || level == V5) && string(name) == "MQTT":
	default:
		if string(name) == "MQTT" || string(name) == "MQIsdp" {
			// A known protocol at an unknown level: keep the level the client
			// asked for so the session can pick the CONNACK form.
			p.Version = level
		}
		return Errorf(UnsupportedProtocolVersion, "protocol %q level %d", name, level)
	}
	p.Version = level

	flags := r.u8("connect flags")
	p.KeepAlive = r.u16("keep alive")
	if err := r.check(); err != nil {
		return err
	}
	if flags&flagReserved != 0 {
		return Errorf(MalformedPacket, "reserved connect flag set") // [MQTT-3.1.2-3]
	}
	p.CleanStart = flags&flagCleanStart != 0
	p.WillFlag = flags&flagWill != 0
	p.WillQoS = (flags & flagWillQoS) >> 3
	p.WillRetain = flags&flagWillRetain != 0
	p.UsernameFlag = flags&flagUsername != 0
	p.PasswordFlag = flags&flagPassword != 0
	if !p.WillFlag && (p.WillQoS != 0 || p.WillRetain) {
		// v5 [MQTT-3.1.2-11] [MQTT-3.1.2-13]; 3.1.1 [MQTT-3.1.2-13] [MQTT-3.1.2-15]
		return Errorf(MalformedPacket, "will qos or retain without will flag")
	}
	if p.WillQoS == 3 {
		// v5 [MQTT-3.1.2-12]; 3.1.1 [MQTT-3.1.2-14]
		return Errorf(MalformedPacket, "will qos 3")
	}
	if p.Version < V5 && p.PasswordFlag && !p.UsernameFlag {
		return Errorf(MalformedPacket, "password without user name") // 3.1.1 [MQTT-3.1.2-22]
	}

	if p.Version == V5 {
		p.Props.decode(&r, propsConnect, false)
		if r.err == nil && p.Props.Has(PropAuthData) && !p.Props.Has(PropAuthMethod) {
			// 3.1.2.11.10: Authentication Data without a method.
			r.fail(ProtocolError, "authentication data without authentication method")
		}
	}
	// The client id is a UTF-8 string: 3.1.1 [MQTT-3.1.3-4], v5 3.1.3.1.
	p.ClientID = r.str("client identifier")
	if p.WillFlag {
		if p.Version == V5 {
			p.WillProps.decode(&r, propsWill, false)
		}
		p.WillTopic = r.str("will topic")
		if r.err == nil && !ValidTopicName(p.WillTopic) {
			r.fail(TopicNameInvalid, "will topic is not a valid topic name")
		}
		p.WillPayload = r.bin("will payload")
	}
	if p.UsernameFlag {
		p.Username = r.str("user name") // v5 [MQTT-3.1.3-12]
	}
	if p.PasswordFlag {
		p.Password = r.bin("password")
	}
	return r.done("CONNECT")
}

// Append encodes the CONNECT in p.Version (v only when p.Version is unset).
// The flags follow the fields: a will is written when WillFlag is set or a
// will topic is given, and likewise user name and password.
func (p *Connect) Append(dst []byte, v Version) []byte {
	ver := p.Version
	if ver == 0 {
		ver = v
	}
	name := p.ProtocolName
	if len(name) == 0 {
		if ver == V31 {
			name = []byte("MQIsdp")
		} else {
			name = []byte("MQTT")
		}
	}
	will := p.WillFlag || p.WillTopic != nil
	user := p.UsernameFlag || p.Username != nil
	pass := p.PasswordFlag || p.Password != nil

	var flags byte
	if p.CleanStart {
		flags |= flagCleanStart
	}
	if will {
		flags |= flagWill | (p.WillQoS&3)<<3
		if p.WillRetain {
			flags |= flagWillRetain
		}
	}
	if user {
		flags |= flagUsername
	}
	if pass {
		flags |= flagPassword
	}

	n := 2 + len(name) + 1 + 1 + 2 + 2 + len(p.ClientID)
	if ver == V5 {
		n += p.Props.appendSize()
	}
	if will {
		if ver == V5 {
			n += p.WillProps.appendSize()
		}
		n += 2 + len(p.WillTopic) + 2 + len(p.WillPayload)
	}
	if user {
		n += 2 + len(p.Username)
	}
	if pass {
		n += 2 + len(p.Password)
	}

	dst = AppendFixedHeader(dst, CONNECT, 0, n)
	dst = appendBin(dst, name)
	dst = append(dst, byte(ver), flags)
	dst = appendU16(dst, p.KeepAlive)
	if ver == V5 {
		dst = p.Props.Append(dst)
	}
	dst = appendBin(dst, p.ClientID)
	if will {
		if ver == V5 {
			dst = p.WillProps.Append(dst)
		}
		dst = appendBin(dst, p.WillTopic)
		dst = appendBin(dst, p.WillPayload)
	}
	if user {
		dst = appendBin(dst, p.Username)
	}
	if pass {
		dst = appendBin(dst, p.Password)
	}
	return dst
}
