package loom

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Returning memory after a change in load (Options.ReturnMemory).
//
// Go keeps the heap it has grown and gives it back to the system only
// slowly, so a gateway that held 20,000 devices for a while, or buffered a
// burst of messages for slow readers, keeps that memory long after. When
// the connections have changed a lot since the last release — the count
// moved far from it, or many clients came (and perhaps went again, as in a
// reconnect storm that ends where it began) — or the heap has more than
// doubled since the last release (past 32 MiB), and the broker has gone
// quiet, the server runs a collection and returns every free page at once.
// The test of "quiet" keeps this away from busy brokers, where the forced
// collection would cost latency and the memory would soon be used again.
const (
	memCheckEvery  = 250 * time.Millisecond
	memMinChange   = 1000     // connections, and
	memMinFraction = 8        // at least 1/8 of the count at the last release
	memQuietMsgs   = 2000     // messages in and out per check, at most
	memMinHeap     = 32 << 20 // bytes of heap below which a burst is not worth a release
)

// memWatch decides when to return memory; it is fed one sample per check.
type memWatch struct {
	base      int64  // connections at the last release (or start)
	baseConns uint64 // CONNECTs accepted, in all, at the last release
	prev      int64  // connections at the last check
	prevMsgs  uint64
	seen      bool   // a first sample was taken: prevMsgs means something
	floor     uint64 // heap bytes just after the last release
}

// sample reports whether to release memory now: traffic was low since the
// last check, and either the connections changed a lot since base (the
// count moved far from it, or many clients connected since) and the count
// held still since the last check, or the heap (live, garbage and free) has grown past memMinHeap and
// twice its size after the last release (a burst). conns is the number
// connected now, connects the CONNECTs accepted since start. Steady
// reconnects under a large crowd stay below the 1/8 share for long, so
// they release seldom.
func (w *memWatch) sample(conns int64, connects, msgs, heap uint64) bool {
	change := conns - w.base
	if change < 0 {
		change = -change
	}
	if came := int64(connects - w.baseConns); came > change {
		change = came
	}
	size := max(w.base, conns)
	still := conns == w.prev
	quiet := w.seen && msgs-w.prevMsgs <= memQuietMsgs
	w.prev, w.prevMsgs, w.seen = conns, msgs, true
	if !quiet {
		return false
	}
	if (heap > memMinHeap && heap > 2*w.floor) || (change >= memMinChange && change >= size/memMinFraction && still) {
		w.base, w.baseConns = conns, connects
		return true
	}
	return false
}

// heapBytes reads the heap's size in objects (live or not yet collected)
// and free memory not returned to the system, without stopping the world.
func heapBytes(s []metrics.Sample) uint64 {
	metrics.Read(s)
	var n uint64
	for _, x := range s {
		if x.Value.Kind() == metrics.KindUint64 {
			n += x.Value.Uint64()
		}
	}
	return n
}

func (s *Server) watchMemory(stop <-chan struct{}) {
	t := time.NewTicker(memCheckEvery)
	defer t.Stop()
	var w memWatch
	heap := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/free:bytes"}}
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			st := s.snapshot(false)
			msgs := uint64(st.MessagesIn + st.MessagesOut)
			if w.sample(st.OpenConnections, uint64(st.TotalConnections), msgs, heapBytes(heap)) {
				// gnet's per-loop connection maps keep the size of the
				// largest crowd; rebuilt first, their tables go too.
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				s.reactor.CompactLoops(ctx)
				cancel()
				debug.FreeOSMemory()
				w.floor = heapBytes(heap)
			}
		}
	}
}
