package reactor

import (
	"github.com/panjf2000/gnet/v2"
)

// WebSocket on the loop (RFC 6455; MQTT's section 6): the upgrade request
// is read from gnet's buffer (or, for wss, from the TLS plaintext) exactly
// to its blank line, so frames sent right behind it are not lost, and
// frames are unmasked into the connection's MQTT buffer as they arrive,
// their payloads split and joined at any byte: MQTT packets may span
// frames and frames may hold several packets [MQTT-6.0.0-2]. Codecs:
// ws_upgrade.go, ws_frame.go.

// upgrade runs t's upgrade stage: it answers the HTTP request, 101 and on
// to MQTT, or an HTTP error and the end of the connection.
func (h *handler) upgrade(c gnet.Conn, t *tconn) (gnet.Action, bool) {
	src := stream(c)
	if t.tls != nil {
		if err := t.tls.read(&t.mid); err != nil {
			h.debug(t, "TLS read", err)
			return gnet.Close, false
		}
		src = &t.mid
	}
	n := src.InboundBuffered()
	if n == 0 {
		return gnet.None, false
	}
	b, _ := src.Peek(n)
	req, k, herr := parseUpgrade(b, t.l.path)
	if herr != nil {
		h.srv.WSRefused.Add(1)
		h.debug(t, "WebSocket upgrade", herr)
		_ = t.writeWire(appendHTTPError(nil, herr), nil)
		return h.refuse(t)
	}
	if k > 0 && !t.l.originAllowed(req.origin(b)) {
		// Cross-site WebSocket hijacking: a page from another site, open
		// in a browser that can reach the broker, may not connect.
		h.srv.WSRefused.Add(1)
		h.debug(t, "WebSocket origin", errUpgradeOrigin)
		_ = t.writeWire(appendHTTPError(nil, errUpgradeOrigin), nil)
		return h.refuse(t)
	}
	if k == 0 {
		if !t.cl.HoldPreConnect(n + t.transportHeld()) {
			return gnet.Close, false
		}
		return gnet.None, false
	}
	resp := appendUpgradeResponse(nil, req)
	_, _ = src.Discard(k)
	if err := t.writeWire(resp, nil); err != nil {
		return gnet.Close, false
	}
	t.stage = stageOpen
	return gnet.None, true
}

// readFrames unwraps the frames in src into t.in, answering pings and
// closes; a frame MQTT over WebSocket refuses ends the connection with a
// close frame [MQTT-6.0.0-1].
func (h *handler) readFrames(src stream, t *tconn) gnet.Action {
	for {
		n := src.InboundBuffered()
		if n == 0 {
			return gnet.None
		}
		b, _ := src.Peek(n)
		k, out, ctl, werr := t.ws.read(b, t.in.tail(), t.l.MaxFrame)
		t.in.setTail(out)
		if werr != nil {
			// What came before the bad frame is still read.
			_, _ = src.Discard(n)
			h.srv.WSRefused.Add(1)
			h.debug(t, "WebSocket frame", werr)
			t.endCode = werr.code
			return gnet.None
		}
		switch ctl.op {
		case wsPing:
			// Answered before the bytes it aliases are discarded.
			hdr := appendFrameHeader(t.ls.hdr[:0], wsPong, len(ctl.payload))
			if !t.wsClosed {
				_ = t.writeWire(hdr, ctl.payload)
			}
		case wsClose:
			code := closeCode(ctl.payload)
			if code == 1005 || code < 1000 {
				code = wsCloseNormal
			}
			// Packets before it are handled first, then the answer.
			_, _ = src.Discard(n)
			t.endCode = code
			return gnet.None
		}
		_, _ = src.Discard(k)
		if k == 0 {
			return gnet.None
		}
	}
}

// refuse ends t after its transport's last word (an HTTP error, a close
// frame): the session lingers, so the client reads it before the socket
// closes; one that cannot linger is closed.
func (h *handler) refuse(t *tconn) (gnet.Action, bool) {
	t.cl.Linger()
	if !t.cl.Lingering() {
		return gnet.Close, false
	}
	return gnet.None, false
}
