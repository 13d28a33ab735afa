package reactor

import (
	"github.com/panjf2000/gnet/v2"

	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/session"
)

// OnTraffic frames every whole packet buffered on c and hands each to the
// session layer. gnet calls it once per read and not again for bytes left
// over, so it loops until only a partial packet remains; that one waits in
// gnet's ring for the next read. A connection with a transport (TLS,
// WebSocket, PROXY; transport.go) has what arrived unwrapped first, and
// its partial packet waits in its own buffer.
func (h *handler) OnTraffic(c gnet.Conn) gnet.Action {
	var cl *session.Client
	var t *tconn
	switch x := c.Context().(type) {
	case *session.Client:
		cl = x
	case *tconn:
		t, cl = x, x.cl
	default:
		return gnet.Close
	}
	cl.Loop().Refresh()
	if cl.Ending() {
		// The broker has said its last word (session/linger.go): what the
		// client still sends is read and dropped, never decoded, until it
		// closes or the linger ends.
		if cl.ReadPaused() {
			ls := h.loopOf(c.EventLoop())
			h.unpause(ls, c, cl)
			_ = setInterest(ls.poller, c.Fd(), true, c.OutboundBuffered() > 0)
		}
		_, _ = c.Discard(-1)
		if t != nil {
			t.drop()
		}
		return gnet.None
	}
	if cl.ReadStopped() {
		// A packet waits for a hook's answer (session/decide.go) or for
		// its client's publish rate (session/pubrate.go): read nothing
		// more until then; the loop's waker reads on.
		h.stopReading(c)
		return gnet.None
	}
	if cl.ReadPaused() {
		ls := h.loopOf(c.EventLoop())
		if !h.srv.broker.Relieved() && h.pause(ls, c, cl) {
			// Read again because gnet changed the write interest: the
			// bytes stay in the buffer until the backlog falls.
			return gnet.None
		}
		h.unpause(ls, c, cl)
	}
	if t == nil {
		return h.frame(c, c, cl, 0)
	}
	if a := h.unwrap(c, t); a != gnet.None || t.stage != stageOpen || cl.Ending() {
		cl.Loop().Flush()
		return a
	}
	held := 0
	if cl.PreConnect() { // charged to the pre-CONNECT budget only
		held = t.transportHeld()
	}
	a := h.frame(c, &t.in, cl, held)
	if t.endCode != 0 && a == gnet.None && !cl.Ending() {
		// A close frame, or one MQTT over WebSocket refuses, came after
		// the packets just handled: answer it and end.
		t.farewell(t.endCode)
		a, _ = h.refuse(t)
		cl.Loop().Flush()
	}
	return a
}

// frame hands the whole packets in `in` to cl, whose connection is c:
// gnet's buffer itself, or a transport's buffer of unwrapped bytes (then
// held is what the transport holds besides, charged to the pre-CONNECT
// budget with what waits in `in`).
func (h *handler) frame(c gnet.Conn, in stream, cl *session.Client, held int) gnet.Action {
	action := gnet.None
	consumed := 0
	// pre: the client has not completed CONNECT, so its packets are held
	// to Options.MaxConnectSize and what it leaves buffered to its loop's
	// share of Options.PreConnectBudget (session/preconnect.go). A
	// connected client pays this one test of its state per packet.
	pre := cl.PreConnect()
	for {
		n := in.InboundBuffered()
		if n < 2 {
			break
		}
		head, _ := in.Peek(min(n, 5))
		fh, hl, err := proto.ParseFixedHeader(head)
		if err == proto.ErrIncomplete {
			break
		}
		if err != nil {
			_ = cl.Fail(err)
			action = end(c, in, cl)
			break
		}
		total := hl + fh.Remaining
		if cl.PreConnect() {
			head, _ = in.Peek(min(n, session.ConnectPeek))
			err = cl.CheckPreConnect(fh, hl, total, head)
		} else {
			err = cl.CheckSize(total)
		}
		if err != nil {
			action = end(c, in, cl)
			break
		}
		if n < total {
			break
		}
		if fh.Type == proto.PUBLISH {
			if h.srv.broker.Congested() && h.pause(h.loopOf(c.EventLoop()), c, cl) {
				break // the rest waits in the buffer: see pause.go
			}
			if cl.RateLimited(total) {
				// Past its publish rate: the packet waits in the buffer
				// until the loop's wheel reads the client again
				// (session/pubrate.go).
				h.stopReading(c)
				break
			}
		}
		pkt, _ := in.Peek(total)
		err = cl.Handle(fh, pkt[hl:])
		if err == session.ErrWaiting {
			// The packet stays in the buffer, to be handled again with the
			// hook's answer.
			h.stopReading(c)
			break
		}
		_, _ = in.Discard(total)
		consumed += total
		if err != nil {
			action = end(c, in, cl)
			break
		}
	}
	if pre && action == gnet.None {
		// Charge what waits in gnet's buffer for the rest of a packet, or
		// release the charge once CONNECT is through.
		if n := in.InboundBuffered(); !cl.HoldPreConnect(n + held) {
			head, _ := in.Peek(min(n, session.ConnectPeek))
			_ = cl.RefuseBusy(head)
			action = end(c, in, cl)
		}
	}
	if consumed > 0 {
		// One add per read, not per packet.
		cl.Loop().CountBytesIn(consumed)
	}
	cl.Loop().Flush()
	return action
}

// end is the action for a connection whose packet ended it: one the broker
// has sent its last packet on lingers (session/linger.go) — its remaining
// input is dropped and the connection stays open until the client closes
// or the linger ends; any other is closed now.
func end(c gnet.Conn, in stream, cl *session.Client) gnet.Action {
	if !cl.Lingering() {
		return gnet.Close
	}
	_, _ = in.Discard(-1)
	if in != stream(c) {
		_, _ = c.Discard(-1)
	}
	return gnet.None
}

// stopReading turns reading off for c while its client waits for a hook's
// answer, so what it sends meanwhile stays in the kernel. gnet turns
// reading back on when it changes the write interest; the next OnTraffic
// then stops it again.
func (h *handler) stopReading(c gnet.Conn) {
	if ls := h.loopOf(c.EventLoop()); ls.poller >= 0 {
		_ = setInterest(ls.poller, c.Fd(), false, c.OutboundBuffered() > 0)
	}
}

// wake reads c again once its client's answer came (session/decide.go):
// reading on, and OnTraffic for what waits in the buffer.
func (h *handler) wake(ls *loopState, cl *session.Client) {
	c, ok := cl.Conn().(gnet.Conn)
	if !ok {
		return
	}
	if ls.poller >= 0 && !cl.ReadPaused() {
		_ = setInterest(ls.poller, c.Fd(), true, c.OutboundBuffered() > 0)
	}
	_ = c.Wake(nil)
}
