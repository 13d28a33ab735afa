package persist

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/loom-mqtt/loom/session"
)

// Load calls v for everything stored: sessions, then subscriptions (grouped
// by client, filters in byte order), then retained messages, then pending
// messages (grouped by client, each client's in Seq order), then inbound
// QoS 2 packet ids. A record that
// does not decode stops it with an error naming the key: a damaged store is
// reported at start, not half loaded in silence. Call it before any write;
// a visitor may queue changes, but Close must not run while Load does.
func (s *Store) Load(v session.LoadVisitor) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	var t loadTally // counts for the log line at the end (recovery.go)
	v = t.wrap(v)
	if err := s.loadExtra(v); err != nil { // wills and counters first (extra.go)
		return err
	}
	if v.Session != nil {
		if err := s.scan(prefixSession, func(k, val []byte) error {
			cid, err := parseSessionKey(k)
			if err != nil {
				return err
			}
			r, err := decodeSession(cid, val)
			if err != nil {
				return err
			}
			v.Session(r)
			return nil
		}); err != nil {
			return err
		}
	}
	if v.Subscription != nil {
		if err := s.scan(prefixSub, func(k, val []byte) error {
			cid, filter, err := parseSubKey(k)
			if err != nil {
				return err
			}
			o, err := decodeSub(val)
			if err != nil {
				return err
			}
			v.Subscription(cid, filter, o)
			return nil
		}); err != nil {
			return err
		}
	}
	if v.Retained != nil {
		if err := s.scan(prefixRetained, func(k, val []byte) error {
			// The message keeps payload and properties: give it its own
			// copy, one allocation, instead of the iterator's buffer.
			m, err := decodeRetained(append([]byte(nil), val...))
			if err != nil {
				return err
			}
			if m.Topic != string(k[len(prefixRetained):]) {
				return fmt.Errorf("message topic %q under another key", m.Topic)
			}
			v.Retained(m)
			return nil
		}); err != nil {
			return err
		}
	}
	if v.Pending != nil {
		if err := s.scan(prefixPending, func(k, val []byte) error {
			cid, seq, err := parsePendingKey(k)
			if err != nil {
				return err
			}
			// As for retained messages: the record's message aliases its
			// value, so it gets its own copy.
			r, err := decodePending(seq, append([]byte(nil), val...))
			if err != nil {
				return err
			}
			v.Pending(cid, r)
			return nil
		}); err != nil {
			return err
		}
	}
	if v.Inbound != nil {
		if err := s.scan(prefixInbound, func(k, _ []byte) error {
			cid, pid, err := parseInboundKey(k)
			if err != nil {
				return err
			}
			v.Inbound(cid, pid)
			return nil
		}); err != nil {
			return err
		}
	}
	t.log(s.opts.Logger, s.dir)
	return nil
}

// scan calls f for each key starting with prefix, in order. The iterator is
// closed before scan returns, whatever happens, because an open iterator
// makes the database's Close fail.
func (s *Store) scan(prefix string, f func(k, v []byte) error) (err error) {
	lo := []byte(prefix)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: prefixEnd(lo)})
	if err != nil {
		return fmt.Errorf("persist: read %s: %w", s.dir, err)
	}
	defer func() {
		if cerr := it.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("persist: read %s: %w", s.dir, cerr)
		}
	}()
	for valid := it.First(); valid; valid = it.Next() {
		val, verr := it.ValueAndErr()
		if verr != nil {
			return fmt.Errorf("persist: read %s key %q: %w", s.dir, it.Key(), verr)
		}
		if ferr := f(it.Key(), val); ferr != nil {
			return fmt.Errorf("persist: corrupt record in %s, key %q: %w", s.dir, it.Key(), ferr)
		}
	}
	if ierr := it.Error(); ierr != nil {
		return fmt.Errorf("persist: read %s: %w", s.dir, ierr)
	}
	return nil
}
