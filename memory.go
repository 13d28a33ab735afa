package loom

import (
	"runtime/debug"
	"time"
)

// Returning memory after a change in load.
//
// Go keeps the heap it has grown and gives it back to the system only
// slowly, so a gateway that held 20,000 devices for a while keeps that
// memory long after most have gone. When the number of connections has
// moved by a lot since the last time and the broker has gone quiet, the
// server runs a collection and returns every free page at once. The test
// of "quiet" keeps this away from busy brokers, where the forced collection
// would cost latency and the memory would soon be used again.
const (
	memCheckEvery  = 500 * time.Millisecond
	memMinChange   = 1000 // connections, and
	memMinFraction = 8    // at least 1/8 of the count at the last release
	memQuietMsgs   = 2000 // messages in and out per check, at most
)

// memWatch decides when to return memory; it is fed one sample per check.
type memWatch struct {
	base     int64 // connections at the last release (or start)
	prev     int64 // connections at the last check
	prevMsgs uint64
}

// sample reports whether to release memory now: the count has moved far
// from base, it held still since the last check, and traffic was low.
func (w *memWatch) sample(conns int64, msgs uint64) bool {
	moved := conns - w.base
	if moved < 0 {
		moved = -moved
	}
	still := conns == w.prev
	quiet := msgs-w.prevMsgs <= memQuietMsgs
	w.prev, w.prevMsgs = conns, msgs
	if moved < memMinChange || moved < w.base/memMinFraction || !still || !quiet {
		return false
	}
	w.base = conns
	return true
}

func (s *Server) watchMemory(stop <-chan struct{}) {
	t := time.NewTicker(memCheckEvery)
	defer t.Stop()
	st := &s.broker.Stats
	var w memWatch
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			msgs := uint64(st.MessagesIn.Load() + st.MessagesOut.Load())
			if w.sample(s.reactor.Connections(), msgs) {
				debug.FreeOSMemory()
			}
		}
	}
}
