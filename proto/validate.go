package proto

import (
	"encoding/binary"
	"unicode/utf8"
)

// ValidUTF8 reports whether b is well-formed UTF-8 without U+0000. Go's
// decoder already refuses surrogate halves (U+D800..U+DFFF), overlong forms
// and code points past U+10FFFF [MQTT-1.5.4-1]; the null character is
// refused here [MQTT-1.5.4-2]. A BOM is kept as given [MQTT-1.5.4-3].
func ValidUTF8(b []byte) bool {
	i := 0
	// Topics are mostly ASCII: take eight bytes at a time while none has the
	// top bit set and none is zero.
	for ; i+8 <= len(b); i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		if w&0x8080808080808080 != 0 || (w-0x0101010101010101)&^w&0x8080808080808080 != 0 {
			break
		}
	}
	for i < len(b) {
		c := b[i]
		if c < utf8.RuneSelf {
			if c == 0 {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return false
		}
		i += n
	}
	return true
}

// ValidTopicName reports whether t may name a topic in a PUBLISH: non-empty,
// at most 65,535 bytes, valid UTF-8, no wildcard characters [MQTT-4.7.3-1]
// [MQTT-3.3.2-2].
func ValidTopicName(t []byte) bool {
	if len(t) == 0 || len(t) > 0xFFFF {
		return false
	}
	for _, c := range t {
		if c == '+' || c == '#' {
			return false
		}
	}
	return ValidUTF8(t)
}

// ValidTopicFilter reports whether f is a well-formed topic filter:
// non-empty [MQTT-4.7.3-1], valid UTF-8, '+' only as a whole level
// [MQTT-4.7.1-2] and '#' only as the whole last level [MQTT-4.7.1-1]. A
// shared subscription filter passes if its text does; ParseShared checks
// its parts.
func ValidTopicFilter(f []byte) bool {
	if len(f) == 0 || len(f) > 0xFFFF {
		return false
	}
	for i, c := range f {
		switch c {
		case '+':
			if (i > 0 && f[i-1] != '/') || (i+1 < len(f) && f[i+1] != '/') {
				return false
			}
		case '#':
			if (i > 0 && f[i-1] != '/') || i+1 != len(f) {
				return false
			}
		}
	}
	return ValidUTF8(f)
}

// HasWildcard reports whether f holds '+' or '#'.
func HasWildcard(f []byte) bool {
	for _, c := range f {
		if c == '+' || c == '#' {
			return true
		}
	}
	return false
}

var sharePrefix = []byte("$share/")

// ParseShared splits a shared subscription filter "$share/{group}/{filter}".
// shared is false (and err nil) for any filter that does not start with
// "$share/". For one that does, the group must be non-empty and free of
// '/', '+' and '#' [MQTT-4.8.2-2], and a valid non-empty filter must follow
// [MQTT-4.8.2-1]; otherwise err is a ProtocolError *Error (the session
// answers TopicFilterInvalid in a SUBACK where it can).
func ParseShared(f []byte) (group, filter []byte, shared bool, err error) {
	if len(f) < len(sharePrefix) || string(f[:len(sharePrefix)]) != string(sharePrefix) {
		return nil, f, false, nil
	}
	rest := f[len(sharePrefix):]
	slash := -1
	for i, c := range rest {
		if c == '/' {
			slash = i
			break
		}
		if c == '+' || c == '#' {
			return nil, nil, true, Errorf(ProtocolError, "shared subscription group holds a wildcard")
		}
	}
	if slash <= 0 {
		return nil, nil, true, Errorf(ProtocolError, "shared subscription needs a group and a filter")
	}
	group, filter = rest[:slash], rest[slash+1:]
	if !ValidTopicFilter(filter) {
		return nil, nil, true, Errorf(ProtocolError, "shared subscription filter invalid")
	}
	return group, filter, true, nil
}
