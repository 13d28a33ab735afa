package proto

// ParseFixedHeader reads the first byte and the remaining length from b.
// n is the header length (2..5). It returns ErrIncomplete while b holds no
// whole header yet, and a MalformedPacket *Error for a remaining length that
// runs past four bytes or for the reserved packet type 0. The flags are not
// checked here: their rules depend on the packet type and are the decoders'.
func ParseFixedHeader(b []byte) (h FixedHeader, n int, err error) {
	if len(b) < 2 {
		return h, 0, ErrIncomplete
	}
	h.Type = Type(b[0] >> 4)
	h.Flags = b[0] & 0x0F
	if h.Type == 0 {
		return h, 0, Errorf(MalformedPacket, "reserved packet type 0")
	}
	v, m, err := readVarint(b[1:])
	if err != nil {
		return h, 0, err
	}
	h.Remaining = v
	return h, 1 + m, nil
}

// readVarint decodes a variable byte integer from the start of b. It returns
// ErrIncomplete when b ends inside the integer, MalformedPacket for a fifth
// byte, and MalformedPacket for a non-minimal encoding [MQTT-1.5.5-1].
func readVarint(b []byte) (v, n int, err error) {
	shift := 0
	for i := 0; i < 4; i++ {
		if i >= len(b) {
			return 0, 0, ErrIncomplete
		}
		c := b[i]
		v |= int(c&0x7F) << shift
		if c&0x80 == 0 {
			// A trailing zero group past the first byte means more bytes were
			// used than the value needs.
			if i > 0 && c == 0 {
				return 0, 0, Errorf(MalformedPacket, "variable byte integer not minimally encoded")
			}
			return v, i + 1, nil
		}
		shift += 7
	}
	return 0, 0, Errorf(MalformedPacket, "variable byte integer longer than 4 bytes")
}

// AppendFixedHeader appends the first byte and the remaining length.
func AppendFixedHeader(dst []byte, t Type, flags byte, remaining int) []byte {
	dst = append(dst, byte(t)<<4|flags&0x0F)
	return AppendVarint(dst, remaining)
}

// AppendVarint appends v as a variable byte integer. v must lie in
// 0..MaxRemainingLength; larger values are the caller's bug and are clamped
// to four bytes rather than producing an undecodable fifth.
func AppendVarint(dst []byte, v int) []byte {
	if v < 0 {
		v = 0
	}
	if v > MaxRemainingLength {
		v = MaxRemainingLength
	}
	for {
		c := byte(v & 0x7F)
		v >>= 7
		if v == 0 {
			return append(dst, c)
		}
		dst = append(dst, c|0x80)
	}
}

// VarintSize is the encoded length of v as a variable byte integer.
func VarintSize(v int) int {
	switch {
	case v < 128:
		return 1
	case v < 16384:
		return 2
	case v < 2097152:
		return 3
	default:
		return 4
	}
}
