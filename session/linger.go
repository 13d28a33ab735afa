package session

// Lingering: how the broker ends a connection after its last word.
//
// When the broker sends DISCONNECT or a refusing CONNACK, the client may
// still be sending (a publisher past Receive Maximum, a device that writes
// its first packets behind CONNECT). Closing the socket then, with input
// unread, makes the kernel answer with a reset, and the client's writes
// fail with a broken pipe before it has read the reason code (Paho's v5
// flow-control interoperability test fails on exactly that). So the
// connection enters stateClosing instead: nothing more is decoded (the
// reactor drops whatever arrives), the write side is shut once the packet
// has left gnet's buffer (the client reads the packet, then the end of
// the stream), and the broker closes when the client does (gnet reads the
// end of stream and calls OnClose) or when Options.CloseLinger has passed,
// whichever comes first. The linger is the client's deadline in the loop's
// timing wheel, and packets still in gnet's buffer are looked at once per
// tick: no timer per connection.

// linger enters stateClosing for c, which has just been given its last
// packet: Handle decodes nothing more, and the next Flush writes the packet
// and shuts the write side. [MQTT-3.14.4-1] [MQTT-3.14.4-2] [MQTT-3.2.2-7]
func (c *Client) linger() {
	if c.state == stateClosing || c.state == stateClosed {
		return
	}
	c.state = stateClosing
	c.rateWaitOver() // read again, to see the client close (pubrate.go)
	c.deadline = c.loop.clock + c.loop.broker.opts.CloseLinger.Milliseconds()
	if c.wpos == 0 {
		c.loop.wheel.add(c)
	} else {
		c.loop.wheel.refile(c) // the linger may be shorter than a keepalive
	}
	c.loop.markDirty(c)
}

// Linger ends c after its transport's last word (an HTTP refusal, a
// WebSocket close frame) as after the broker's last packet: nothing more
// is decoded, and the connection closes when the client does or the linger
// ends.
func (c *Client) Linger() { c.linger() }

// Lingering reports whether c is closing after the broker's last packet:
// the reactor then drops its input and keeps the connection open.
func (c *Client) Lingering() bool { return c.state == stateClosing }

// Ending reports whether c decodes no more packets: it lingers, or it has
// closed (or its close is queued).
func (c *Client) Ending() bool { return c.state == stateClosing || c.state == stateClosed }

// shutWrite shuts c's write side once everything written has left gnet's
// buffer; until then c waits on the loop's list, looked at each tick. A
// connection that cannot be half-closed is closed at once.
func (c *Client) shutWrite() {
	if c.state != stateClosing || c.flags.Load()&flagWriteShut != 0 {
		return
	}
	c.pump(true)
	if c.state != stateClosing {
		return // a failed write closed it
	}
	if c.conn.OutboundBuffered() > 0 {
		if !c.setFlag(flagShutWaits) {
			c.loop.shutWaits = append(c.loop.shutWaits, c)
		}
		return
	}
	c.setFlag(flagWriteShut)
	// Only on c's loop, while c is open (not stateClosed): its descriptor
	// cannot have been closed and reused by then. A transport says its own
	// goodbye first (a WebSocket close frame, TLS's close_notify).
	if cw, ok := c.conn.(interface{ CloseWrite() error }); ok {
		if cw.CloseWrite() != nil {
			_ = c.conn.Close()
		}
	} else if f, ok := c.conn.(interface{ Fd() int }); !ok || shutdownWrite(f.Fd()) != nil {
		_ = c.conn.Close()
	}
}

// retryShut shuts the write side of lingering clients whose buffer has
// emptied since; it runs at each tick.
func (l *Loop) retryShut() {
	if len(l.shutWaits) == 0 {
		return
	}
	waits := l.shutWaits
	l.shutWaits = nil
	for i, c := range waits {
		waits[i] = nil
		c.clearFlag(flagShutWaits)
		c.shutWrite() // back on the list if still not empty
	}
}

// endLinger closes a lingering connection whose client has not closed
// within the linger.
func (c *Client) endLinger() {
	_ = c.conn.Close()
	c.state = stateClosed
}
