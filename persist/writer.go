package persist

import (
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

type opKind uint8

const (
	opSet opKind = iota
	opDelete
	opDeleteSession // key: the session key; val: the client id
	opFlush         // done is closed once everything before it is committed
	opAfter         // cb runs once everything before it is committed (written to the OS; synced under SyncAlways)
	opGroup         // sets that go into one batch together
)

type op struct {
	kind     opKind
	key, val []byte
	group    []kv
	done     chan struct{}
	cb       func(error)
}

type kv struct{ key, val []byte }

// A batch stops growing at these sizes, so one huge retained payload or a
// burst of changes does not hold the next commit back for long.
const (
	maxBatchOps   = 1024
	maxBatchBytes = 4 << 20
)

// write is the store's one writer: it takes whatever is queued, adds it to
// batches of bounded size, commits them, and applies the sync policy. One
// writer keeps the order of changes for one key without any lock, and lets a
// burst share a commit.
func (s *Store) write() {
	defer close(s.done)
	w := writer{s: s, b: s.db.NewBatch()}
	defer w.b.Close()
	if s.opts.Sync == SyncInterval {
		w.timer = time.NewTimer(time.Hour)
		w.timer.Stop()
		defer w.timer.Stop()
		w.timerC = w.timer.C
	}
	var ops []op
	for {
		select {
		case <-s.wake:
			var closing bool
			ops, closing = s.take(ops)
			for i := range ops {
				w.add(ops[i])
				if w.n >= maxBatchOps || w.b.Len() >= maxBatchBytes {
					w.commit(w.syncNow(closing))
				}
			}
			w.commit(w.syncNow(closing))
			if closing {
				return
			}
		case <-w.timerC:
			w.armed = false
			if w.unsynced {
				w.syncAlone()
			}
		}
	}
}

// syncNow says whether the commit about to be made must reach the disk.
func (w *writer) syncNow(closing bool) bool {
	return closing || w.s.opts.Sync == SyncAlways || (len(w.waiters) > 0 && w.s.opts.Sync != SyncNone)
}

type writer struct {
	s       *Store
	b       *pebble.Batch
	n       int // operations in b
	waiters []chan struct{}
	after   []func(error) // AfterDurable callbacks waiting for this commit
	// failed is the first error met building, committing or syncing a
	// batch since AfterDurable callbacks last ran: the next ones get it. A
	// callback covers every write queued before it, and the writes it
	// follows may have failed in an earlier batch of their own (a routing
	// pass's group is queued before the ack's callback, and the writer may
	// commit them apart), so an error waits for the next callbacks rather
	// than for the same commit. No acknowledgement then claims writes that
	// did not happen; one unrelated to the failure may be refused with it.
	failed error

	// Under SyncInterval: unsynced says a commit has not reached the disk
	// yet; the timer runs only then.
	timer    *time.Timer
	timerC   <-chan time.Time
	armed    bool
	unsynced bool
}

func (w *writer) add(o op) {
	w.n++
	var err error
	switch o.kind {
	case opSet:
		err = w.b.Set(o.key, o.val, nil)
	case opDelete:
		err = w.b.Delete(o.key, nil)
	case opDeleteSession:
		// The ranges are built from the length-prefixed id, so a client
		// whose id this one starts with keeps its records.
		cid := string(o.val)
		err = w.b.Delete(o.key, nil)
		if err == nil {
			err = w.b.Delete(willKey(cid), nil)
		}
		for _, p := range [][]byte{subPrefix(cid), pendingPrefix(cid), inboundPrefix(cid)} {
			if err == nil {
				err = w.b.DeleteRange(p, prefixEnd(p), nil)
			}
		}
	case opGroup:
		for _, x := range o.group {
			if err = w.b.Set(x.key, x.val, nil); err != nil {
				break
			}
		}
	case opFlush:
		w.waiters = append(w.waiters, o.done)
	case opAfter:
		w.after = append(w.after, o.cb)
	}
	if err != nil {
		w.fail(fmt.Errorf("persist: batch %q: %w", o.key, err))
	}
}

// commit commits the batch, synced when sync is set, and releases the
// Flush calls waiting on it.
func (w *writer) commit(sync bool) {
	w.n = 0
	if !w.b.Empty() {
		start := time.Now()
		// pebble.Sync whatever the policy: it returns once the log record
		// is written, so a commit that returned survives a kill of the
		// process. Under "always" the WAL is also fsynced; under the others
		// walFS defers the fsync to syncLog.
		if err := w.b.Commit(pebble.Sync); err != nil {
			w.fail(fmt.Errorf("persist: commit in %s: %w", w.s.dir, err))
		} else if err := w.s.injected(); err != nil {
			w.fail(err)
		}
		w.s.commits.Add(1)
		w.b.Reset()
		switch {
		case w.s.wal == nil: // SyncAlways: the commit was fsynced
			w.s.syncs.Add(1)
		case sync:
			w.syncLog()
		case w.timer != nil:
			w.unsynced = true
			if !w.armed {
				w.timer.Reset(w.s.opts.Interval)
				w.armed = true
			}
		}
		w.s.commitLat.observe(time.Since(start))
	} else if sync && w.unsynced {
		w.syncAlone()
	}
	for _, d := range w.waiters {
		close(d)
	}
	clear(w.waiters)
	w.waiters = w.waiters[:0]
	if len(w.after) > 0 {
		for _, f := range w.after {
			f(w.failed)
		}
		clear(w.after)
		w.after = w.after[:0]
		w.failed = nil
	}
}

// syncAlone is syncLog apart from a commit, timed for SyncLatency.
func (w *writer) syncAlone() {
	start := time.Now()
	w.syncLog()
	w.s.syncLat.observe(time.Since(start))
}

// syncLog makes every commit so far durable by an fsync of the write-ahead
// log files written since the last one (walFS).
func (w *writer) syncLog() {
	if w.s.wal == nil {
		return // SyncAlways: every commit was synced
	}
	if err := w.s.wal.syncWAL(); err != nil {
		w.fail(fmt.Errorf("persist: sync in %s: %w", w.s.dir, err))
	}
	w.s.syncs.Add(1)
	w.unsynced = false
}

func (w *writer) fail(err error) {
	w.s.opts.Logger.Error("persist: write failed", "err", err)
	w.s.setErr(err)
	if w.failed == nil {
		w.failed = err
	}
}
