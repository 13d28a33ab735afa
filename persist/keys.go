package persist

import (
	"encoding/binary"
	"fmt"
)

// Key prefixes, one per kind of state.
const (
	prefixSession  = "s/"
	prefixSub      = "u/"
	prefixRetained = "r/"
	prefixPending  = "q/"
	prefixInbound  = "i/"
)

// seqLen is the size of the big-endian sequence number ending a q/ key;
// big-endian so that byte order is Seq order.
const seqLen = 8

// appendLP appends s with a uvarint length in front, so that the keys of one
// client never fall inside the range of another whose id it starts with.
func appendLP(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// clientKey is prefix + lp(clientID), with room for tail more bytes: the
// key, or the start of the range, of one client's records of a kind.
func clientKey(prefix, clientID string, tail int) []byte {
	return appendLP(append(make([]byte, 0, len(prefix)+binary.MaxVarintLen64+len(clientID)+tail), prefix...), clientID)
}

func sessionKey(clientID string) []byte { return clientKey(prefixSession, clientID, 0) }

// subPrefix is the start of the range holding all of clientID's
// subscriptions.
func subPrefix(clientID string) []byte { return clientKey(prefixSub, clientID, 0) }

func subKey(clientID, filter string) []byte {
	return append(subPrefix(clientID), filter...)
}

// pendingPrefix is the start of the range holding all of clientID's pending
// messages.
func pendingPrefix(clientID string) []byte { return clientKey(prefixPending, clientID, seqLen) }

func pendingKey(clientID string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(pendingPrefix(clientID), seq)
}

// inboundPrefix is the start of the range holding clientID's inbound QoS 2
// packet ids.
func inboundPrefix(clientID string) []byte { return clientKey(prefixInbound, clientID, 2) }

func inboundKey(clientID string, pid uint16) []byte {
	return binary.BigEndian.AppendUint16(inboundPrefix(clientID), pid)
}

func retainedKey(topic string) []byte {
	return append(append(make([]byte, 0, len(prefixRetained)+len(topic)), prefixRetained...), topic...)
}

// prefixEnd is the smallest key greater than every key starting with p, the
// exclusive end of p's range; nil when there is none (p all 0xff).
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// parseLP reads a length-prefixed string from the start of b (after the
// kind prefix) and returns it with the bytes that follow.
func parseLP(b []byte) (s string, rest []byte, err error) {
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)-w) {
		return "", nil, fmt.Errorf("bad length prefix")
	}
	return string(b[w : w+int(n)]), b[w+int(n):], nil
}

// parseClientKey returns the client id of a clientKey of prefix and the
// tail after it, which must be tail bytes long.
func parseClientKey(k []byte, prefix string, tail int) (string, []byte, error) {
	cid, rest, err := parseLP(k[len(prefix):])
	if err == nil && len(rest) != tail {
		err = fmt.Errorf("%d bytes after the client id, want %d", len(rest), tail)
	}
	return cid, rest, err
}

// parseSessionKey returns the client id of an s/ key.
func parseSessionKey(k []byte) (string, error) {
	cid, _, err := parseClientKey(k, prefixSession, 0)
	return cid, err
}

// parseSubKey returns the client id and filter of a u/ key.
func parseSubKey(k []byte) (clientID, filter string, err error) {
	cid, rest, err := parseLP(k[len(prefixSub):])
	if err != nil {
		return "", "", err
	}
	if len(rest) == 0 {
		return "", "", fmt.Errorf("empty filter")
	}
	return cid, string(rest), nil
}

// parsePendingKey returns the client id and sequence number of a q/ key.
func parsePendingKey(k []byte) (clientID string, seq uint64, err error) {
	cid, rest, err := parseClientKey(k, prefixPending, seqLen)
	if err != nil {
		return "", 0, err
	}
	return cid, binary.BigEndian.Uint64(rest), nil
}

// parseInboundKey returns the client id and packet id of an i/ key.
func parseInboundKey(k []byte) (clientID string, pid uint16, err error) {
	cid, rest, err := parseClientKey(k, prefixInbound, 2)
	if err != nil {
		return "", 0, err
	}
	return cid, binary.BigEndian.Uint16(rest), nil
}
