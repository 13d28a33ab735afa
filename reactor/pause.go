package reactor

import (
	"context"

	"github.com/panjf2000/gnet/v2"

	"github.com/loom-mqtt/loom/session"
)

// Back-pressure: while the broker's backlog of routing work is over its
// limit (session.Broker.Congested), a connection about to hand over a
// PUBLISH is paused: its remaining bytes stay in gnet's buffer and the loop
// stops asking the kernel for more, so the publisher's socket fills and TCP
// slows it down. When the backlog has fallen (session.Broker.WhenRelieved)
// the loop turns reading back on and handles what waited.
//
// gnet has no call to stop reading a connection, so the loop's poller is
// asked directly (pause_linux.go): its descriptor is read from gnet's event
// loop once, when the loop is first seen (gnetinternal.go). gnet itself turns reading back on
// whenever it changes a connection's write interest; a paused connection
// read again that way is paused again at once, leaving at most one read
// (gnet's 64 KiB buffer) in memory. Where the poller cannot be reached
// (other systems, another gnet), nothing is paused.

// loopState is the reactor's share of one event loop.
type loopState struct {
	sl     *session.Loop
	el     gnet.EventLoop
	poller int         // the loop's poller descriptor; -1: pausing is off
	paused []gnet.Conn // paused connections, touched only on the loop
	// waiting: a callback is registered with the broker to resume them.
	waiting bool

	// Scratch space of the transports (transport.go, tls.go), used on the
	// loop only: a WebSocket frame header, a write's vector, TLS records on
	// their way to the socket, a frame's plaintext on its way into TLS.
	hdr, plainOut, tlsOut []byte
	vec                   [][]byte
}

// pause stops reading c, whose client is cl, or stops it again when gnet
// turned reading back on; it reports false if the poller refused (read
// on). It runs on c's loop.
func (h *handler) pause(ls *loopState, c gnet.Conn, cl *session.Client) bool {
	if ls.poller < 0 || setInterest(ls.poller, c.Fd(), false, c.OutboundBuffered() > 0) != nil {
		return false
	}
	if !cl.ReadPaused() {
		cl.SetReadPaused(true)
		ls.paused = append(ls.paused, c)
		h.srv.broker.Stats.ReadPauses.Add(1)
	}
	if !ls.waiting {
		ls.waiting = true
		h.srv.broker.WhenRelieved(func() {
			_ = ls.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
				h.resumeAll(ls)
				return nil
			}))
		})
	}
	return true
}

// unpause forgets that c was paused (it is read again, or closing).
func (h *handler) unpause(ls *loopState, c gnet.Conn, cl *session.Client) {
	cl.SetReadPaused(false)
	for i, p := range ls.paused {
		if p == c {
			last := len(ls.paused) - 1
			ls.paused[i] = ls.paused[last]
			ls.paused[last] = nil
			ls.paused = ls.paused[:last]
			return
		}
	}
}

// resumeAll turns reading back on for every connection paused on the loop
// and has each handle the bytes that waited in its buffer. It runs on the
// loop.
func (h *handler) resumeAll(ls *loopState) {
	ls.waiting = false
	paused := ls.paused
	ls.paused = nil
	for _, c := range paused {
		cl := clientOf(c)
		if cl == nil || !cl.ReadPaused() {
			continue
		}
		cl.SetReadPaused(false)
		_ = setInterest(ls.poller, c.Fd(), true, c.OutboundBuffered() > 0)
		_ = c.Wake(nil) // OnTraffic for what is buffered; it may pause again
	}
	clear(paused)
	if cap(paused) <= 64 { // Wake only queues: nothing was paused meanwhile
		ls.paused = paused[:0]
	}
}
