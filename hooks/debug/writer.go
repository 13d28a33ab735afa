package debug

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loom-mqtt/loom/session"
)

// writer hands records to the handler on a goroutine of its own. The
// hook's events run on event loops that serve thousands of clients, and
// a handler writes to a terminal, a file or a pipe that may be slow or
// full: the loops only ever put a record in a bounded queue, or drop it.
type writer struct {
	handler slog.Handler
	queue   chan slog.Record
	quit    chan struct{}
	done    chan struct{}
	once    sync.Once
	stopped atomic.Bool
	dropped atomic.Int64
	// reported is how many drops were reported; the goroutine's own.
	reported int64
}

func startWriter(h slog.Handler, size int) *writer {
	w := &writer{handler: h, queue: make(chan slog.Record, size),
		quit: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

// record starts a record for an event of cl, or reports false when none
// is to be written: before Init, after Stop, or at a level the handler
// does not take (then nothing else is built).
func (h *Hook) record(msg string, cl session.ClientInfo) (slog.Record, bool) {
	w := h.w
	if w == nil || w.stopped.Load() {
		return slog.Record{}, false
	}
	lvl := h.level.Level()
	if !w.handler.Enabled(context.Background(), lvl) {
		return slog.Record{}, false
	}
	r := slog.NewRecord(time.Now(), lvl, msg, 0)
	r.AddAttrs(slog.String("client", cl.ID))
	return r, true
}

// log queues a record of msg for cl, with what add puts in it, unless
// none is to be written.
func (h *Hook) log(msg string, cl session.ClientInfo, add func(r *slog.Record)) {
	r, ok := h.record(msg, cl)
	if !ok {
		return
	}
	if add != nil {
		add(&r)
	}
	h.w.send(r)
}

// send queues r without waiting: a full queue drops it.
func (w *writer) send(r slog.Record) {
	select {
	case w.queue <- r:
	default:
		w.dropped.Add(1)
	}
}

func (w *writer) run() {
	defer close(w.done)
	for {
		select {
		case r := <-w.queue:
			w.handle(r)
			if len(w.queue) == 0 {
				w.reportDropped()
			}
		case <-w.quit:
			for {
				select {
				case r := <-w.queue:
					w.handle(r)
				default:
					w.reportDropped()
					return
				}
			}
		}
	}
}

// handle writes one record of an event; one the handler panicked on
// counts as dropped.
func (w *writer) handle(r slog.Record) {
	if !w.write(r) {
		w.dropped.Add(1)
	}
}

// write hands r to the handler and reports whether it returned. The
// goroutine is outside the broker's recovery of hook panics, so a handler
// that panics costs its record here rather than the whole process. Its
// errors have nowhere better to go than the handler that returned them.
func (w *writer) write(r slog.Record) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	_ = w.handler.Handle(context.Background(), r)
	return true
}

// reportDropped writes a warning with the records dropped since the last
// one, once the writer has caught up, so a reader of the log knows it has
// gaps.
func (w *writer) reportDropped() {
	d := w.dropped.Load()
	if d == w.reported {
		return
	}
	n := d - w.reported
	w.reported = d
	if w.handler.Enabled(context.Background(), slog.LevelWarn) {
		r := slog.NewRecord(time.Now(), slog.LevelWarn, "debug hook dropped records: the handler did not keep up", 0)
		r.AddAttrs(slog.Int64("dropped", n))
		w.write(r) // not counted if it fails: it reports drops, it is not one
	}
}

// stop writes what is queued and ends the goroutine; later events are
// not logged.
func (w *writer) stop() {
	w.once.Do(func() {
		w.stopped.Store(true)
		close(w.quit)
		<-w.done
	})
}
