package persist

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/loom-mqtt/loom/router"
	"github.com/loom-mqtt/loom/session"
)

var _ session.Store = (*Store)(nil)

// ErrClosed is returned by Flush, Compact and Close once Close has begun.
var ErrClosed = errors.New("persist: store closed")

// Store is a session.Store on Pebble. Its Put and Delete methods encode the
// change, queue it for the writer goroutine and return at once. Changes made
// after Close has begun are dropped. All methods are safe for concurrent use.
type Store struct {
	db   *pebble.DB
	dir  string
	opts Options

	// mu guards closed for the readers of the database (Load, Compact,
	// metrics): they hold it shared, Close takes it exclusively.
	mu     sync.RWMutex
	closed bool

	// qmu guards the queue of operations waiting for the writer. A slice
	// under a mutex rather than a channel: it never blocks a sender, and
	// the writer takes everything queued in one swap.
	qmu     sync.Mutex
	queue   []op
	qclosed bool
	wake    chan struct{} // 1-buffered: the writer has something to take

	done     chan struct{} // closed when the writer has returned
	stop     chan struct{} // closed by Close: ends the compaction timer
	writeErr error         // first commit error, read after done or under errMu
	errMu    sync.Mutex
	inject   atomic.Pointer[error] // failCommits: tests make commits fail

	commits, syncs atomic.Int64 // counted for tests and metrics
	// commitLat and syncLat time the writer's commits and its fsyncs
	// apart from one (latency.go).
	commitLat, syncLat latency

	// wal defers the fsyncs of the write-ahead log under SyncInterval and
	// SyncNone (walfs.go); nil under SyncAlways.
	wal *walFS
}

// Open opens or creates the store in o.Dir and starts its writer. A directory
// another Store or process holds is a *LockedError (wrapping ErrLocked); a
// store Pebble cannot read is an error naming the directory.
func Open(o Options) (s *Store, err error) {
	if o.Dir == "" {
		return nil, errors.New("persist: no directory")
	}
	o.setDefaults()
	var wal *walFS
	if o.Sync != SyncAlways {
		wal = newWALFS(vfs.Default)
	}
	db, err := openDB(o, wal)
	if err != nil {
		return nil, err
	}
	s = &Store{
		wal:  wal,
		db:   db,
		dir:  o.Dir,
		opts: o,
		wake: make(chan struct{}, 1),
		done: make(chan struct{}),
		stop: make(chan struct{}),
	}
	go s.write()
	if o.CompactEvery > 0 {
		go s.compactEvery(o.CompactEvery)
	}
	return s, nil
}

func openDB(o Options, wal *walFS) (db *pebble.DB, err error) {
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
	if wal != nil {
		po.FS = wal
	}
	rec := newRecoveryFS(po.FS, o) // reports what the logs replay (recovery.go)
	po.FS = rec
	db, err = pebble.Open(o.Dir, po)
	if err != nil {
		if lerr := lockedError(o.Dir, err); lerr != nil {
			return nil, lerr
		}
		return nil, fmt.Errorf("persist: open %s: %w", o.Dir, err)
	}
	rec.finish()
	return db, nil
}

// Dir is the directory the store lives in.
func (s *Store) Dir() string { return s.dir }

// send queues one operation, or drops it once the store is closing.
func (s *Store) send(o op) bool {
	s.qmu.Lock()
	if s.qclosed {
		s.qmu.Unlock()
		return false
	}
	s.queue = append(s.queue, o)
	n := len(s.queue)
	s.qmu.Unlock()
	if n == 1 {
		s.signal()
	}
	return true
}

func (s *Store) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// take hands the writer everything queued, giving back the slice it has
// finished with, and reports whether the store is closing.
func (s *Store) take(done []op) (ops []op, closing bool) {
	clear(done)
	if cap(done) > 1<<16 {
		done = nil // a burst is over: do not keep its buffer
	}
	s.qmu.Lock()
	ops, s.queue = s.queue, done[:0]
	closing = s.qclosed
	s.qmu.Unlock()
	return ops, closing
}

// Backlog is the number of operations queued and not yet taken by the
// writer.
func (s *Store) Backlog() int {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	return len(s.queue)
}

// AfterDurable implements session.Store: fn runs on the writer goroutine
// after the commit that holds every write queued before it — synced under
// SyncAlways; under SyncInterval and SyncNone written to the log, which a
// kill of the process does not undo. On a closed store it runs at once.
func (s *Store) AfterDurable(fn func(error)) {
	if !s.send(op{kind: opAfter, cb: fn}) {
		fn(ErrClosed) // nothing queued now will be committed
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

// PutInbound records that clientID's QoS 2 message pid was received and
// routed, and its PUBREL has not come yet.
func (s *Store) PutInbound(clientID string, pid uint16) {
	s.send(op{kind: opSet, key: inboundKey(clientID, pid), val: []byte{}})
}

// DeleteInbound removes the record of clientID's inbound QoS 2 message pid.
func (s *Store) DeleteInbound(clientID string, pid uint16) {
	s.send(op{kind: opDelete, key: inboundKey(clientID, pid)})
}

// Apply queues the writes of g as one operation, which the writer puts into
// a single batch: they are committed together or, after a crash, not at
// all. The records are encoded before Apply returns; g may be reused.
func (s *Store) Apply(g *session.WriteGroup) {
	n := len(g.Pending) + len(g.Inbound)
	if n == 0 {
		return
	}
	kvs := make([]kv, 0, n)
	for i := range g.Pending {
		p := &g.Pending[i]
		kvs = append(kvs, kv{pendingKey(p.ClientID, p.Record.Seq), encodePending(p.Record)})
	}
	for _, r := range g.Inbound {
		kvs = append(kvs, kv{inboundKey(r.ClientID, r.PacketID), []byte{}})
	}
	s.send(op{kind: opGroup, group: kvs})
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
// as the store grows; the store also calls this every Options.CompactEvery
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

func (s *Store) compactEvery(d time.Duration) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if err := s.Compact(); err != nil && !errors.Is(err, ErrClosed) {
				s.opts.Logger.Warn("persist: periodic compaction", "err", err)
			}
		}
	}
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
	close(s.stop)
	s.qmu.Lock()
	s.qclosed = true
	s.qmu.Unlock()
	s.signal()
	s.mu.Unlock()
	<-s.done
	err := s.err()
	if cerr := s.db.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("persist: close %s: %w", s.dir, cerr)
	}
	return err
}

// failCommits makes every commit from now on report err (nil: none), as
// a disk that fails would: for tests of what the broker does then.
func (s *Store) failCommits(err error) { s.inject.Store(&err) }

// injected is the error failCommits set, if any.
func (s *Store) injected() error {
	if p := s.inject.Load(); p != nil {
		return *p
	}
	return nil
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
