package proto

// Small builders for the wire examples in catalogue.go. They are written
// independently of the encoders (plain byte concatenation), so a round trip
// through Decode and Append checks the codec against them rather than
// against itself.

// frame is a whole packet: first byte, remaining length, body.
func frame(first byte, parts ...[]byte) []byte {
	body := cat(parts...)
	return append(AppendVarint([]byte{first}, len(body)), body...)
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func rawb(b ...byte) []byte { return b }

// ls is a length-prefixed string or binary field.
func ls(v string) []byte { return append([]byte{byte(len(v) >> 8), byte(len(v))}, v...) }

func u16b(v uint16) []byte { return []byte{byte(v >> 8), byte(v)} }

func u32b(v uint32) []byte { return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }

// props is a property block: its length, then the properties.
func props(parts ...[]byte) []byte {
	body := cat(parts...)
	return append(AppendVarint(nil, len(body)), body...)
}

// Single properties by wire type.
func pByte(id PropID, v byte) []byte  { return []byte{byte(id), v} }
func pU16(id PropID, v uint16) []byte { return append([]byte{byte(id)}, u16b(v)...) }
func pU32(id PropID, v uint32) []byte { return append([]byte{byte(id)}, u32b(v)...) }
func pStr(id PropID, v string) []byte { return append([]byte{byte(id)}, ls(v)...) }
func pVar(id PropID, v int) []byte    { return AppendVarint([]byte{byte(id)}, v) }
func pUser(k, v string) []byte        { return cat([]byte{byte(PropUserProperty)}, ls(k), ls(v)) }
func bs(v string) []byte              { return []byte(v) }
func user(k, v string) UserProperty   { return UserProperty{Key: bs(k), Value: bs(v)} }
func present(ids ...PropID) (m uint64) {
	for _, id := range ids {
		m |= 1 << id
	}
	return m
}
