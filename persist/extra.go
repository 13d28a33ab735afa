package persist

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/loom-mqtt/loom/session"
)

// Wills of stored sessions and the broker's counters: keys, encodings, the
// Store methods and their part of Load.
//
//	w/ + lp(clientID) → will of the session's last connection
//	c/broker          → cumulative counters
const (
	prefixWill     = "w/"
	prefixCounters = "c/"
	countersKey    = prefixCounters + "broker"
)

const (
	willFormat1     = 1
	countersFormat1 = 1
)

func willKey(clientID string) []byte { return clientKey(prefixWill, clientID, 0) }

// parseWillKey returns the client id of a w/ key.
func parseWillKey(k []byte) (string, error) {
	cid, _, err := parseClientKey(k, prefixWill, 0)
	return cid, err
}

// PutWill stores w as the will of clientID's session, replacing any. The
// encoding made here is the store's own copy: w's message may change (its
// expiry is stamped when it is published) once this returns.
func (s *Store) PutWill(clientID string, w session.WillRecord) {
	s.send(op{kind: opSet, key: willKey(clientID), val: encodeWill(w)})
}

// DeleteWill removes the will of clientID's session.
func (s *Store) DeleteWill(clientID string) {
	s.send(op{kind: opDelete, key: willKey(clientID)})
}

// PutCounters replaces the stored counters.
func (s *Store) PutCounters(c session.Counters) {
	s.send(op{kind: opSet, key: []byte(countersKey), val: encodeCounters(c)})
}

// loadExtra visits the wills and the counters. Load calls it first, before
// any visitor has had a chance to queue the deletion of a session, so that
// the will of a session that expired while the broker was down is still
// seen.
func (s *Store) loadExtra(v session.LoadVisitor) error {
	if v.Will != nil {
		if err := s.scan(prefixWill, func(k, val []byte) error {
			cid, err := parseWillKey(k)
			if err != nil {
				return err
			}
			// The message aliases its value, so it gets its own copy.
			w, err := decodeWill(append([]byte(nil), val...))
			if err != nil {
				return err
			}
			v.Will(cid, w)
			return nil
		}); err != nil {
			return err
		}
	}
	if v.Counters != nil {
		if err := s.scan(prefixCounters, func(k, val []byte) error {
			if string(k) != countersKey {
				return errors.New("unknown counters key")
			}
			c, err := decodeCounters(val)
			if err != nil {
				return err
			}
			v.Counters(c)
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// Will v1: format, delay (u32 BE), disconnected-at (i64 BE), then the
// message in the retained encoding (its own format byte included), which
// keeps topic, QoS, retain flag, the forwarded v5 properties, payload and
// origin.
const willV1Head = 1 + 4 + 8

func encodeWill(w session.WillRecord) []byte {
	msg := encodeRetained(w.Msg)
	b := make([]byte, 0, willV1Head+len(msg))
	b = append(b, willFormat1)
	b = binary.BigEndian.AppendUint32(b, w.Delay)
	b = binary.BigEndian.AppendUint64(b, uint64(w.DisconnectedAt))
	return append(b, msg...)
}

// decodeWill decodes a will. v must be owned by the caller: the message's
// payload and properties alias it.
func decodeWill(v []byte) (session.WillRecord, error) {
	if len(v) == 0 {
		return session.WillRecord{}, errShort
	}
	if v[0] != willFormat1 {
		return session.WillRecord{}, fmt.Errorf("unknown will format %d", v[0])
	}
	if len(v) < willV1Head+1 {
		return session.WillRecord{}, errShort
	}
	m, err := decodeRetained(v[willV1Head:])
	if err != nil {
		return session.WillRecord{}, fmt.Errorf("message: %w", err)
	}
	return session.WillRecord{
		Msg:            m,
		Delay:          binary.BigEndian.Uint32(v[1:]),
		DisconnectedAt: int64(binary.BigEndian.Uint64(v[5:])),
	}, nil
}

// Counters v1: format, uvarint count, then that many varints in the order
// of counterFields. A later version that appends counters stays readable
// here (the extra ones are skipped), and an older record leaves the ones it
// lacks at zero.
func counterFields(c *session.Counters) []*int64 {
	fs := []*int64{&c.Connections, &c.MessagesIn, &c.MessagesOut, &c.BytesIn, &c.BytesOut,
		&c.Dropped, &c.ProtocolFails, &c.MaxConnected, &c.ReadPauses}
	for i := range c.Drops {
		fs = append(fs, &c.Drops[i])
	}
	return fs
}

func encodeCounters(c session.Counters) []byte {
	fs := counterFields(&c)
	b := make([]byte, 0, 2+binary.MaxVarintLen64*len(fs))
	b = append(b, countersFormat1)
	b = binary.AppendUvarint(b, uint64(len(fs)))
	for _, f := range fs {
		b = binary.AppendVarint(b, *f)
	}
	return b
}

func decodeCounters(v []byte) (session.Counters, error) {
	var c session.Counters
	if len(v) == 0 {
		return c, errShort
	}
	if v[0] != countersFormat1 {
		return c, fmt.Errorf("unknown counters format %d", v[0])
	}
	n, w := binary.Uvarint(v[1:])
	// Each counter takes at least one byte.
	if w <= 0 || n > uint64(len(v)-1-w) {
		return c, errors.New("bad counter count")
	}
	rest := v[1+w:]
	fs := counterFields(&c)
	for i := range n {
		x, w := binary.Varint(rest)
		if w <= 0 {
			return session.Counters{}, fmt.Errorf("bad counter %d", i)
		}
		if i < uint64(len(fs)) {
			*fs[i] = x
		}
		rest = rest[w:]
	}
	if len(rest) != 0 {
		return session.Counters{}, fmt.Errorf("%d bytes after the counters", len(rest))
	}
	return c, nil
}
