package proto

// reader walks a packet body. The first failure sticks in err and every later
// read returns zero values, so a decoder can read a run of fields and check
// once. All byte slices it returns alias the body.
type reader struct {
	b   []byte
	i   int
	err *Error
}

func (r *reader) fail(code ReasonCode, msg string) {
	if r.err == nil {
		r.err = &Error{Code: code, Msg: msg}
	}
}

// short records a truncated field: the remaining length promised more bytes
// than the field needs, which the specification treats as malformed.
func (r *reader) short(what string) {
	r.fail(MalformedPacket, "truncated "+what)
}

func (r *reader) left() int { return len(r.b) - r.i }

func (r *reader) u8(what string) byte {
	if r.err != nil {
		return 0
	}
	if r.left() < 1 {
		r.short(what)
		return 0
	}
	c := r.b[r.i]
	r.i++
	return c
}

func (r *reader) u16(what string) uint16 {
	if r.err != nil {
		return 0
	}
	if r.left() < 2 {
		r.short(what)
		return 0
	}
	v := uint16(r.b[r.i])<<8 | uint16(r.b[r.i+1])
	r.i += 2
	return v
}

func (r *reader) u32(what string) uint32 {
	if r.err != nil {
		return 0
	}
	if r.left() < 4 {
		r.short(what)
		return 0
	}
	v := uint32(r.b[r.i])<<24 | uint32(r.b[r.i+1])<<16 | uint32(r.b[r.i+2])<<8 | uint32(r.b[r.i+3])
	r.i += 4
	return v
}

func (r *reader) varint(what string) int {
	if r.err != nil {
		return 0
	}
	v, n, err := readVarint(r.b[r.i:])
	if err != nil {
		if err == ErrIncomplete {
			r.short(what)
		} else {
			r.fail(MalformedPacket, what+": "+err.(*Error).Msg)
		}
		return 0
	}
	r.i += n
	return v
}

// bin reads two-byte-length-prefixed binary data.
func (r *reader) bin(what string) []byte {
	n := int(r.u16(what))
	if r.err != nil {
		return nil
	}
	if r.left() < n {
		r.short(what)
		return nil
	}
	s := r.b[r.i : r.i+n : r.i+n]
	r.i += n
	return s
}

// str reads a UTF-8 encoded string and checks it [MQTT-1.5.4-1] [MQTT-1.5.4-2].
func (r *reader) str(what string) []byte {
	s := r.bin(what)
	if r.err == nil && !ValidUTF8(s) {
		r.fail(MalformedPacket, what+": invalid UTF-8")
		return nil
	}
	return s
}

// rest returns every byte not yet read (a payload).
func (r *reader) rest() []byte {
	if r.err != nil {
		return nil
	}
	s := r.b[r.i:len(r.b):len(r.b)]
	r.i = len(r.b)
	return s
}

// done fails on trailing bytes and returns the sticky error as an error
// value (nil when none, never a typed nil).
func (r *reader) done(what string) error {
	if r.err == nil && r.i != len(r.b) {
		r.fail(MalformedPacket, what+": trailing bytes")
	}
	if r.err != nil {
		return r.err
	}
	return nil
}

// check returns the sticky error as an error value.
func (r *reader) check() error {
	if r.err != nil {
		return r.err
	}
	return nil
}

func appendU16(dst []byte, v uint16) []byte { return append(dst, byte(v>>8), byte(v)) }

func appendU32(dst []byte, v uint32) []byte {
	return append(dst, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// appendBin appends two-byte-length-prefixed data. Longer input is cut at
// 65,535 bytes so the frame stays decodable; callers validate lengths first.
func appendBin(dst, s []byte) []byte {
	if len(s) > 0xFFFF {
		s = s[:0xFFFF]
	}
	dst = appendU16(dst, uint16(len(s)))
	return append(dst, s...)
}
