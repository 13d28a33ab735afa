package reactor

import (
	"encoding/binary"
	"strconv"
)

// WebSocket opcodes and close codes (RFC 6455 sections 5.2 and 7.4.1).
const (
	wsContinuation = 0x0
	wsText         = 0x1
	wsBinary       = 0x2
	wsClose        = 0x8
	wsPing         = 0x9
	wsPong         = 0xA

	wsCloseNormal      = 1000
	wsCloseProtocol    = 1002
	wsCloseUnsupported = 1003
	wsCloseTooBig      = 1009
)

// wsReader unwraps the frames a client sends (RFC 6455 section 5). It is
// per connection and lives as long as the connection, so it is 16 bytes:
// only what is needed to resume inside a data frame's payload, plus whether
// a fragmented message is open. A frame header or control frame cut short
// is not copied here; it stays in the caller's buffer until whole.
type wsReader struct {
	remaining int     // payload bytes of the current data frame not yet read
	mask      [4]byte // that frame's masking key
	maskOff   uint8   // index in mask of the key byte for the next payload byte
	open      bool    // a data frame without FIN was read: continuations must follow
}

// wsControl is a control frame read whole: op is wsPing, wsPong or wsClose
// (0 when read returned none); payload aliases src, unmasked in place.
type wsControl struct {
	op      byte
	payload []byte
}

// wsError closes the connection with a close frame of code.
type wsError struct {
	code   uint16
	reason string
}

func (e *wsError) Error() string {
	return "websocket: " + e.reason + " (close " + strconv.Itoa(int(e.code)) + ")"
}

// The errors are shared values so that a protocol error costs no
// allocation. Callers must not modify them.
var (
	errWSReserved      = &wsError{wsCloseProtocol, "reserved bits set"}
	errWSOpcode        = &wsError{wsCloseProtocol, "unknown opcode"}
	errWSText          = &wsError{wsCloseUnsupported, "text frame (MQTT over WebSocket is binary)"}
	errWSUnmasked      = &wsError{wsCloseProtocol, "unmasked client frame"}
	errWSFragmentedCtl = &wsError{wsCloseProtocol, "fragmented control frame"}
	errWSCtlTooLong    = &wsError{wsCloseProtocol, "control frame payload over 125 bytes"}
	errWSContinuation  = &wsError{wsCloseProtocol, "continuation frame with no message open"}
	errWSInterleaved   = &wsError{wsCloseProtocol, "new data frame while a fragmented message is open"}
	errWSLength        = &wsError{wsCloseProtocol, "64-bit payload length with the top bit set"}
	errWSTooBig        = &wsError{wsCloseTooBig, "frame larger than the packet limit"}
)

// read unwraps from src (bytes as received) and appends to dst the unmasked
// payload of binary data frames (and their continuations), consuming payload
// progressively: a data frame's payload may be split across calls at any
// byte. It stops and returns after one control frame (which it only
// consumes once the whole control frame is in src), or when src holds
// nothing more it can use (a partial frame header or a partial control
// frame stays in src: n excludes it). n is the bytes of src consumed; the
// caller drops them and calls again with what follows once a control frame
// has been handled or more bytes have arrived.
//
// A control frame's payload is unmasked in place in src, so that it can be
// returned without a copy.
//
// Errors: unmasked frame, RSV bits set, unknown opcode → 1002; text frame →
// 1003 (MQTT over WebSocket is binary only); control frame with payload
// over 125 bytes or without FIN → 1002; continuation with no open message,
// or a new data frame while one is open → 1002; a data frame whose declared
// length exceeds maxFrame → 1009, as soon as the header says so; a 64-bit
// length with the top bit set → 1002. Non-minimal length encodings are
// accepted. Each check is made as soon as the bytes it needs are in src, so
// a bad frame is refused without waiting for the rest of its header. On an
// error, out still holds the payload read before the bad frame.
func (r *wsReader) read(src, dst []byte, maxFrame int) (n int, out []byte, ctl wsControl, err *wsError) {
	out = dst
	for {
		if r.remaining > 0 {
			k := min(r.remaining, len(src)-n)
			if k == 0 {
				return n, out, ctl, nil
			}
			start := len(out)
			out = append(out, src[n:n+k]...)
			r.maskOff = unmask(out[start:], r.mask, r.maskOff)
			r.remaining -= k
			n += k
			continue
		}

		h := src[n:]
		if len(h) == 0 {
			return n, out, ctl, nil
		}
		b0 := h[0]
		fin := b0&0x80 != 0
		op := b0 & 0x0f
		if b0&0x70 != 0 {
			// No extension is agreed in the handshake, so none may be used.
			return n, out, ctl, errWSReserved
		}
		switch op {
		case wsBinary:
			if r.open {
				return n, out, ctl, errWSInterleaved
			}
		case wsContinuation:
			if !r.open {
				return n, out, ctl, errWSContinuation
			}
		case wsText:
			return n, out, ctl, errWSText
		case wsClose, wsPing, wsPong:
			if !fin {
				return n, out, ctl, errWSFragmentedCtl
			}
		default:
			return n, out, ctl, errWSOpcode
		}
		if len(h) < 2 {
			return n, out, ctl, nil
		}
		b1 := h[1]
		if b1&0x80 == 0 {
			// RFC 6455 section 5.1: a server must close on an unmasked
			// client frame.
			return n, out, ctl, errWSUnmasked
		}
		length := uint64(b1 & 0x7f)
		hl := 2
		switch length {
		case 126:
			if len(h) < 4 {
				return n, out, ctl, nil
			}
			length = uint64(binary.BigEndian.Uint16(h[2:]))
			hl = 4
		case 127:
			if len(h) < 10 {
				return n, out, ctl, nil
			}
			length = binary.BigEndian.Uint64(h[2:])
			if length>>63 != 0 {
				return n, out, ctl, errWSLength
			}
			hl = 10
		}
		control := op >= 0x8
		if control {
			if length > 125 {
				return n, out, ctl, errWSCtlTooLong
			}
		} else if maxFrame < 0 || length > uint64(maxFrame) {
			return n, out, ctl, errWSTooBig
		}
		hl += 4 // the masking key
		if len(h) < hl {
			return n, out, ctl, nil
		}
		mask := [4]byte(h[hl-4 : hl])

		if control {
			// length ≤ 125 here, so the conversion is safe.
			end := hl + int(length)
			if len(h) < end {
				return n, out, ctl, nil
			}
			p := h[hl:end]
			unmask(p, mask, 0)
			return n + end, out, wsControl{op: op, payload: p}, nil
		}
		// length ≤ maxFrame, an int, so the conversion is safe.
		r.open = !fin
		r.mask = mask
		r.maskOff = 0
		r.remaining = int(length)
		n += hl
	}
}

// unmask XORs p with mask, starting at mask[off], and returns the offset
// for the byte after p. Every byte a WebSocket client sends passes through
// here, so long runs go eight bytes at a time.
func unmask(p []byte, mask [4]byte, off uint8) uint8 {
	i := 0
	if len(p) >= 16 {
		// The key rotated to start at off, twice: a step of eight bytes
		// leaves the offset unchanged.
		var m [8]byte
		for j := range m {
			m[j] = mask[(int(off)+j)&3]
		}
		key := binary.LittleEndian.Uint64(m[:])
		for ; i+8 <= len(p); i += 8 {
			binary.LittleEndian.PutUint64(p[i:], binary.LittleEndian.Uint64(p[i:])^key)
		}
	}
	for ; i < len(p); i++ {
		p[i] ^= mask[(int(off)+i)&3]
	}
	return uint8((int(off) + len(p)) & 3)
}

// appendFrameHeader appends the header of an unmasked server frame (FIN
// set) of opcode op and payload length n (n ≥ 0), in the shortest length
// encoding as RFC 6455 section 5.2 requires of a sender.
func appendFrameHeader(dst []byte, op byte, n int) []byte {
	b0 := 0x80 | op
	switch {
	case n <= 125:
		return append(dst, b0, byte(n))
	case n <= 0xffff:
		return append(dst, b0, 126, byte(n>>8), byte(n))
	default:
		return binary.BigEndian.AppendUint64(append(dst, b0, 127), uint64(n))
	}
}

// appendCloseFrame appends a whole close frame with code (and no reason
// text). Codes that RFC 6455 section 7.4.1 forbids on the wire — 1005 (no
// status), 1006 (abnormal closure), 1015 (TLS failure) — give a close frame
// with no payload instead, so that echoing closeCode's answer is safe.
func appendCloseFrame(dst []byte, code uint16) []byte {
	switch code {
	case 1005, 1006, 1015:
		return append(dst, 0x80|wsClose, 0)
	}
	return append(dst, 0x80|wsClose, 2, byte(code>>8), byte(code))
}

// closeCode reads the status code of a received close frame's payload
// (1005, "no status received", when empty). A one-byte payload cannot hold
// a code (RFC 6455 section 5.5.1); it reads as 1002, the peer's protocol
// error. The code is returned as sent, even one the RFC reserves.
func closeCode(payload []byte) uint16 {
	switch len(payload) {
	case 0:
		return 1005
	case 1:
		return wsCloseProtocol
	}
	return binary.BigEndian.Uint16(payload)
}
