package session

import (
	"sync"
	"sync/atomic"
)

// Back-pressure on publishers.
//
// Reading a PUBLISH costs the broker far less than delivering it (matching,
// encoding once per subscriber, writing), so a crowd of fast publishers can
// outrun the event loops and fill memory with work accepted but not done.
// The broker counts that work — publishes queued for the router's shards
// and deliveries queued in the loops' inboxes — and, past
// Options.IngestBacklog, tells the reactor to stop reading publishers
// (Congested). Once the count is below a quarter of the limit, the reactor
// is called back (WhenRelieved) and reads them again. Nothing is dropped:
// the publishers' bytes wait in their sockets, and TCP slows them down.

// backlog is the routing work accepted and not yet done.
func (b *Broker) backlog() int64 { return b.inboxed.Load() + b.router.Pending() }

// Congested reports whether the reactor should stop reading PUBLISH packets
// now. Safe from any goroutine.
func (b *Broker) Congested() bool {
	hi := b.opts.IngestBacklog
	return hi > 0 && b.backlog() >= int64(hi)
}

// Relieved reports whether a paused publisher may be read again: the
// backlog is below a quarter of the limit (the gap keeps pauses from
// flapping at every message).
func (b *Broker) Relieved() bool {
	return b.backlog() < int64(b.opts.IngestBacklog/4)
}

// relief holds the callbacks waiting for the backlog to fall.
type relief struct {
	mu  sync.Mutex
	fns []func()
	n   atomic.Int32 // len(fns), read without mu on every drain
}

// WhenRelieved calls fn once, from whichever goroutine sees the backlog
// fall below the resume mark (at once if it is below already). fn must not
// block: the reactor posts a task to its loop.
func (b *Broker) WhenRelieved(fn func()) {
	b.relief.mu.Lock()
	b.relief.fns = append(b.relief.fns, fn)
	b.relief.n.Store(int32(len(b.relief.fns)))
	b.relief.mu.Unlock()
	b.checkRelief()
}

// checkRelief runs the waiting callbacks if the backlog has fallen. It is
// called after every loop drain and router batch, and on each tick as a
// safety net; with nothing waiting it costs one atomic load.
func (b *Broker) checkRelief() {
	if b.relief.n.Load() == 0 || !b.Relieved() {
		return
	}
	b.relief.mu.Lock()
	fns := b.relief.fns
	b.relief.fns = nil
	b.relief.n.Store(0)
	b.relief.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}
