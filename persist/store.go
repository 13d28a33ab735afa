package persist

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"

	"github.com/loom-mqtt/loom/router"
	"github.com/loom-mqtt/loom/session"
)

var _ session.Store = (*Store)(nil)

// ErrClosed is returned by Flush, Compact and Close once Close has begun.
var ErrClosed = errors.New("persist: store closed")

// Store is a session.Store on Pebble. Its Put and Delete methods encode the
// change, queue it for the writer goroutine and return; they block only while
// the queue (QueueSize operations) is full. Changes made after Close has
// begun are dropped. All methods are safe for concurrent use.
type Store struct {
	db   *pebble.DB
	dir  string
	opts Options

	// mu guards closed and the send side of ops: senders hold it shared,
	// Close takes it exclusively to close the channel exactly once.
	mu     sync.RWMutex
	closed bool
	ops    chan op

	done     chan struct{} // closed when the writer has returned
	writeErr error         // first commit error, read after done or under errMu
	errMu    sync.Mutex

	commits, syncs atomic.Int64 // counted for tests and metrics
}

// Open opens or creates the store in o.Dir and starts its writer. A directory
// another Store or process holds, or a store Pebble cannot read, is an error
// naming the directory.
func Open(o Options) (s *Store, err error) {
	if o.Dir == "" {
		return nil, errors.New("persist: no directory")
	}
	o.setDefaults()
	db, err := openDB(o)
	if err != nil {
		return nil, err
	}
	s = &Store{
		db:   db,
		dir:  o.Dir,
		opts: o,
		ops:  make(chan op, QueueSize),
		done: make(chan struct{}),
	}
	go s.write()
	return s, nil
}

func openDB(o Options) (db *pebble.DB, err error) {
	// Pebble reports most corruption as errors, but some readers of a
	// damaged MANIFEST or OPTIONS panic; at start a clear error is worth
	// more than a stack.
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("persist: open %s: %v", o.Dir, r)
		}
	}()
	po := &pebble.Options{
		CacheSize:          o.CacheSize,
		MemTableSize:       o.MemTableSize,
		MaxOpenFiles:       o.MaxOpenFiles,
		Logger:             pebbleLogger{o.Logger},
		FormatMajorVersion: pebble.FormatNewest,
		// One compaction at a time: a small board has one or two cores and
		// the event loops need them.
		CompactionConcurrencyRange: func() (int, int) { return 1, 1 },
	}
	db, err = pebble.Open(o.Dir, po)
	if err != nil {
		return nil, fmt.Errorf("persist: open %s: %w", o.Dir, err)
	}
	return db, nil
}

// Dir is the directory the store lives in.
func (s *Store) Dir() string { return s.dir }

// send queues one operation, or drops it once the store is closing.
func (s *Store) send(o op) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return false
	}
	s.ops <- o
	return true
}

// AcksWaitForDisk implements session.Store: under SyncAlways the broker
// acknowledges QoS 1/2 messages only once they are on disk.
func (s *Store) AcksWaitForDisk() bool { return s.opts.Sync == SyncAlways }

// AfterDurable implements session.Store: fn runs on the writer goroutine
// after the commit (synced under SyncAlways) that holds every write queued
// before it. On a closed store it runs at once.
func (s *Store) AfterDurable(fn func()) {
	if !s.send(op{kind: opAfter, cb: fn}) {
		fn()
	}
}

// PutSession stores r, replacing any record of r.ClientID.
func (s *Store) PutSession(r session.SessionRecord) {
	s.send(op{kind: opSet, key: sessionKey(r.ClientID), val: encodeSession(r)})
}

// DeleteSession removes the session and every subscription and pending
// message under it.
func (s *Store) DeleteSession(clientID string) {
	s.send(op{kind: opDeleteSession, key: sessionKey(clientID), val: []byte(clientID)})
}

// PutSubscription stores the options of clientID's subscription to filter.
func (s *Store) PutSubscription(clientID, filter string, o router.SubOptions) {
	s.send(op{kind: opSet, key: subKey(clientID, filter), val: encodeSub(o)})
}

// DeleteSubscription removes clientID's subscription to filter.
func (s *Store) DeleteSubscription(clientID, filter string) {
	s.send(op{kind: opDelete, key: subKey(clientID, filter)})
}

// PutRetained stores m as the retained message of m.Topic. The encoding made
// here is the store's own copy: m may change once this returns.
func (s *Store) PutRetained(m *router.Message) {
	s.send(op{kind: opSet, key: retainedKey(m.Topic), val: encodeRetained(m)})
}

// DeleteRetained removes the retained message of topic.
func (s *Store) DeleteRetained(topic string) {
	s.send(op{kind: opDelete, key: retainedKey(topic)})
}

// PutPending stores r under clientID and r.Seq, replacing the record there.
// The encoding made here is the store's own copy: r and its message may
// change once this returns.
func (s *Store) PutPending(clientID string, r session.PendingRecord) {
	s.send(op{kind: opSet, key: pendingKey(clientID, r.Seq), val: encodePending(r)})
}

// DeletePending removes clientID's pending message seq.
func (s *Store) DeletePending(clientID string, seq uint64) {
	s.send(op{kind: opDelete, key: pendingKey(clientID, seq)})
}

// Flush waits until every change queued before it is committed, and synced
// unless the policy is SyncNone. It returns the first commit error the store
// has met, if any. For tests and shutdown; the broker's loops never call it.
func (s *Store) Flush() error {
	done := make(chan struct{})
	if !s.send(op{kind: opFlush, done: done}) {
		return ErrClosed
	}
	<-done
	return s.err()
}

// Compact compacts the whole key space, so that the space of deleted
// sessions and retained messages comes back now rather than when Pebble's
// own compactions reach their tombstones. Pebble reclaims space on its own
// as the store grows; the broker may also call this on a slow timer (hours)
// to keep a churning but small store small. It does not block writers.
func (s *Store) Compact() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	if err := s.db.Compact(context.Background(), []byte{0}, []byte{0xff}, true); err != nil {
		return fmt.Errorf("persist: compact %s: %w", s.dir, err)
	}
	return nil
}

// DiskSpaceUsage is the store's size on disk in bytes, as Pebble counts it.
func (s *Store) DiskSpaceUsage() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0
	}
	return s.db.Metrics().DiskSpaceUsage()
}

// Close stops accepting changes, commits and syncs what is queued, and
// closes the database. A second Close returns ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.closed = true
	close(s.ops)
	s.mu.Unlock()
	<-s.done
	err := s.err()
	if cerr := s.db.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("persist: close %s: %w", s.dir, cerr)
	}
	return err
}

func (s *Store) err() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.writeErr
}

func (s *Store) setErr(err error) {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	if s.writeErr == nil {
		s.writeErr = err
	}
}
