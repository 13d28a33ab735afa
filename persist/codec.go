package persist

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/router"
	"github.com/loom-mqtt/loom/session"
)

// Value format versions. A new layout gets a new number and a decoder that
// still reads the old ones.
const (
	sessionFormat1  = 1
	subFormat1      = 1
	retainedFormat1 = 1
	pendingFormat1  = 1
)

var errShort = errors.New("value too short")

// Session record v1: format, protocol version, expiry (u32 BE),
// disconnected-at (i64 BE): 14 bytes.
const sessionV1Len = 1 + 1 + 4 + 8

func encodeSession(r session.SessionRecord) []byte {
	b := make([]byte, 0, sessionV1Len)
	b = append(b, sessionFormat1, byte(r.Version))
	b = binary.BigEndian.AppendUint32(b, r.Expiry)
	return binary.BigEndian.AppendUint64(b, uint64(r.DisconnectedAt))
}

func decodeSession(clientID string, v []byte) (session.SessionRecord, error) {
	if len(v) == 0 {
		return session.SessionRecord{}, errShort
	}
	if v[0] != sessionFormat1 {
		return session.SessionRecord{}, fmt.Errorf("unknown session format %d", v[0])
	}
	if len(v) != sessionV1Len {
		return session.SessionRecord{}, fmt.Errorf("session record of %d bytes, want %d", len(v), sessionV1Len)
	}
	return session.SessionRecord{
		ClientID:       clientID,
		Version:        proto.Version(v[1]),
		Expiry:         binary.BigEndian.Uint32(v[2:]),
		DisconnectedAt: int64(binary.BigEndian.Uint64(v[6:])),
	}, nil
}

// Subscription v1: format, QoS, flags, retain handling, uvarint id.
const (
	subNoLocal           = 1 << 0
	subRetainAsPublished = 1 << 1
)

func encodeSub(o router.SubOptions) []byte {
	var flags byte
	if o.NoLocal {
		flags |= subNoLocal
	}
	if o.RetainAsPublished {
		flags |= subRetainAsPublished
	}
	b := make([]byte, 0, 4+binary.MaxVarintLen32)
	b = append(b, subFormat1, o.QoS, flags, o.RetainHandling)
	return binary.AppendUvarint(b, uint64(o.ID))
}

func decodeSub(v []byte) (router.SubOptions, error) {
	if len(v) == 0 {
		return router.SubOptions{}, errShort
	}
	if v[0] != subFormat1 {
		return router.SubOptions{}, fmt.Errorf("unknown subscription format %d", v[0])
	}
	if len(v) < 5 {
		return router.SubOptions{}, errShort
	}
	id, n := binary.Uvarint(v[4:])
	if n <= 0 || 4+n != len(v) || id > 1<<32-1 {
		return router.SubOptions{}, errors.New("bad subscription identifier")
	}
	if v[1] > 2 || v[2]&^(subNoLocal|subRetainAsPublished) != 0 || v[3] > 2 {
		return router.SubOptions{}, errors.New("bad subscription options")
	}
	return router.SubOptions{
		QoS:               v[1],
		NoLocal:           v[2]&subNoLocal != 0,
		RetainAsPublished: v[2]&subRetainAsPublished != 0,
		RetainHandling:    v[3],
		ID:                uint32(id),
	}, nil
}

// storedProps are the properties a retained message carries forward; the
// per-delivery ones (subscription identifiers, topic alias) are not kept,
// and every one of these is valid in a PUBLISH, so the stored packet always
// decodes.
const storedProps = 1<<proto.PropPayloadFormat | 1<<proto.PropMessageExpiry |
	1<<proto.PropContentType | 1<<proto.PropResponseTopic |
	1<<proto.PropCorrelationData | 1<<proto.PropUserProperty

// Retained v1: format, lp(origin), expiry (zigzag varint, unix ns), then the
// message as a whole v5 PUBLISH (topic, QoS, retain flag, properties,
// payload). proto has no standalone property decoder, and reusing the
// PUBLISH codec keeps one definition of the property wire format.
func encodeRetained(m *router.Message) []byte {
	p := proto.Publish{QoS: m.QoS, Retain: m.Retain, Topic: []byte(m.Topic), Payload: m.Payload}
	if m.QoS > 0 {
		p.PacketID = 1 // any non-zero id; it is not kept
	}
	if m.Props != nil {
		p.Props = *m.Props // shallow: Append only reads
		p.Props.Present &= storedProps
	}
	b := make([]byte, 0, 1+binary.MaxVarintLen64*2+len(m.Origin)+p.Size(proto.V5))
	b = append(b, retainedFormat1)
	b = appendLP(b, m.Origin)
	b = binary.AppendVarint(b, m.Expiry)
	return p.Append(b, proto.V5)
}

// decodeRetained decodes a retained message. v must be owned by the caller:
// the message's payload and properties alias it.
func decodeRetained(v []byte) (*router.Message, error) {
	if len(v) == 0 {
		return nil, errShort
	}
	if v[0] != retainedFormat1 {
		return nil, fmt.Errorf("unknown retained format %d", v[0])
	}
	origin, rest, err := parseLP(v[1:])
	if err != nil {
		return nil, fmt.Errorf("origin: %w", err)
	}
	expiry, n := binary.Varint(rest)
	if n <= 0 {
		return nil, errors.New("bad expiry")
	}
	rest = rest[n:]
	pkt, used, err := proto.Decode(rest, proto.V5)
	if err != nil {
		return nil, fmt.Errorf("message: %w", err)
	}
	p, ok := pkt.(*proto.Publish)
	if !ok || used != len(rest) {
		return nil, errors.New("message is not one PUBLISH")
	}
	m := &router.Message{
		Topic:   string(p.Topic),
		Payload: p.Payload,
		QoS:     p.QoS,
		Retain:  p.Retain,
		Origin:  origin,
		Expiry:  expiry,
	}
	if p.Props.Present != 0 {
		m.Props = &p.Props
	}
	return m, nil
}

// Pending v1: format, QoS, flags, packet id (u16 BE), state, uvarint count
// of subscription identifiers and each as a uvarint, then, when the message
// flag is set, the message in the retained encoding (its own format byte
// included). The sequence number is in the key.
const (
	pendingRetain = 1 << 0
	pendingHasMsg = 1 << 1
	pendingV1Head = 1 + 1 + 1 + 2 + 1
)

func encodePending(r session.PendingRecord) []byte {
	var flags byte
	if r.Retain {
		flags |= pendingRetain
	}
	var msg []byte
	if r.Msg != nil {
		flags |= pendingHasMsg
		msg = encodeRetained(r.Msg)
	}
	b := make([]byte, 0, pendingV1Head+binary.MaxVarintLen32*(1+len(r.SubIDs))+len(msg))
	b = append(b, pendingFormat1, r.QoS, flags)
	b = binary.BigEndian.AppendUint16(b, r.PacketID)
	b = append(b, r.State)
	b = binary.AppendUvarint(b, uint64(len(r.SubIDs)))
	for _, id := range r.SubIDs {
		b = binary.AppendUvarint(b, uint64(id))
	}
	return append(b, msg...)
}

// decodePending decodes the pending record seq. v must be owned by the
// caller: the message's payload and properties alias it.
func decodePending(seq uint64, v []byte) (session.PendingRecord, error) {
	if len(v) == 0 {
		return session.PendingRecord{}, errShort
	}
	if v[0] != pendingFormat1 {
		return session.PendingRecord{}, fmt.Errorf("unknown pending format %d", v[0])
	}
	if len(v) < pendingV1Head+1 {
		return session.PendingRecord{}, errShort
	}
	r := session.PendingRecord{
		Seq:      seq,
		QoS:      v[1],
		Retain:   v[2]&pendingRetain != 0,
		PacketID: binary.BigEndian.Uint16(v[3:]),
		State:    v[5],
	}
	if r.QoS > 2 || v[2]&^(pendingRetain|pendingHasMsg) != 0 || r.State > 3 {
		return session.PendingRecord{}, errors.New("bad pending header")
	}
	rest := v[pendingV1Head:]
	n, w := binary.Uvarint(rest)
	// Each identifier takes at least one byte: a count beyond what is left
	// is damage, and must not size an allocation.
	if w <= 0 || n > uint64(len(rest)-w) {
		return session.PendingRecord{}, errors.New("bad subscription identifier count")
	}
	rest = rest[w:]
	if n > 0 {
		r.SubIDs = make([]uint32, n)
		for i := range r.SubIDs {
			id, w := binary.Uvarint(rest)
			if w <= 0 || id > 1<<32-1 {
				return session.PendingRecord{}, errors.New("bad subscription identifier")
			}
			r.SubIDs[i] = uint32(id)
			rest = rest[w:]
		}
	}
	if v[2]&pendingHasMsg == 0 {
		if len(rest) != 0 {
			return session.PendingRecord{}, fmt.Errorf("%d bytes after a record without message", len(rest))
		}
		return r, nil
	}
	m, err := decodeRetained(rest)
	if err != nil {
		return session.PendingRecord{}, fmt.Errorf("message: %w", err)
	}
	r.Msg = m
	return r, nil
}
