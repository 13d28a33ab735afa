package session

import "math"

// Per-client publish rates: Options.PublishRate (PUBLISH packets per
// second) and PublishByteRate (their bytes, fixed header included), each a
// token bucket per client.
//
// A client past its rate is slowed, not disconnected: the reactor asks
// RateLimited before handing over each whole PUBLISH, and on yes leaves
// the packet in the connection's buffer and stops reading the connection,
// as it does for a hook's late answer (decide.go). Its bytes wait in the
// socket, TCP's window closes, and the client's own writes slow to the
// rate; nothing is dropped and nothing more is buffered in the broker. The
// alternative, v5 DISCONNECT 0x96 (Message rate too high), would make a
// device that sent a burst reconnect — TLS handshake, authentication,
// session resumption, all costlier than the burst — and retry, likely in
// a loop, losing its QoS 0 messages on the way, and 3.1.1 has no code for
// it at all; operators expect a rate limit to slow a publisher, as EMQX's
// do.
//
// No timer per client: the client's wheel deadline (wheel.go) becomes the
// moment its tokens suffice, and when the loop's wheel reaches it,
// expireUnlessPaused reads it again (through the reactor's waker). The
// wheel turns in 250 ms steps, so a client is read again up to a step
// late; the tokens it earned meanwhile are not capped by the burst (owed),
// so a steady publisher still gets its whole rate, in steps. Its
// keepalive starts again when it is read again: its packet had come, it
// was the broker that did not read it. A client that waits much longer
// than its keepalive cannot be answered meanwhile (its PINGREQ waits
// behind its PUBLISH), which only a packet far past the byte burst causes.
//
// The buckets cost nothing until a limit is set (the reactor's check is a
// nil test of the loop's rateLimit) and a client publishes: they sit in
// the client's extension, made at its first PUBLISH.

// maxRateWait is the longest wait for tokens, in ms, before the client is
// looked at again.
const maxRateWait = 3600 * 1000

// rateLimit is the broker's publish rate, per millisecond.
type rateLimit struct {
	msgRate, msgBurst   float64 // 0 rate: no cap
	byteRate, byteBurst float64
}

// newRateLimit is o's publish rate, nil if there is none.
func newRateLimit(o *Options) *rateLimit {
	if o.PublishRate <= 0 && o.PublishByteRate <= 0 {
		return nil
	}
	l := &rateLimit{}
	if r := o.PublishRate; r > 0 {
		l.msgRate, l.msgBurst = r/1000, float64(o.PublishBurst)
		if l.msgBurst <= 0 {
			l.msgBurst = max(math.Ceil(r), 1)
		}
	}
	if r := o.PublishByteRate; r > 0 {
		l.byteRate, l.byteBurst = float64(r)/1000, float64(o.PublishByteBurst)
		if l.byteBurst <= 0 {
			l.byteBurst = float64(r)
		}
	}
	return l
}

// pubRate is one client's buckets.
type pubRate struct {
	msgs, bytes float64 // tokens; bytes may go below 0 (see take)
	at          int64   // loop clock (ms) of the last refill
	// owedMsgs, owedBytes: the client waited for that bucket's tokens, so
	// what it earns there until it is read again is its own in full, even
	// past the burst.
	owedMsgs, owedBytes bool
}

// take takes the tokens of a PUBLISH of n bytes at now, or says how many
// milliseconds the client must wait for them. A packet larger than the
// byte burst passes once the bucket is full and leaves it below 0: the
// next waits until the debt is repaid, so the rate holds for any size.
func (r *pubRate) take(l *rateLimit, now int64, n int) (wait int64) {
	if dt := now - r.at; dt > 0 {
		r.at = now
		r.msgs = refill(r.msgs, float64(dt)*l.msgRate, l.msgBurst, r.owedMsgs)
		r.bytes = refill(r.bytes, float64(dt)*l.byteRate, l.byteBurst, r.owedBytes)
		r.owedMsgs, r.owedBytes = false, false
	}
	var w float64
	if l.msgRate > 0 && r.msgs < 1 {
		w = (1 - r.msgs) / l.msgRate
		r.owedMsgs = true
	}
	if l.byteRate > 0 {
		if need := min(float64(n), l.byteBurst); r.bytes < need {
			w = max(w, (need-r.bytes)/l.byteRate)
			r.owedBytes = true
		}
	}
	if w > 0 {
		// A rate of a few per day waits long: looked at again hourly, it
		// waits on (and a float this large has no int64 conversion).
		return int64(math.Ceil(min(max(w, 1), maxRateWait)))
	}
	r.msgs--
	r.bytes -= float64(n)
	return 0
}

// refill adds earned tokens, up to the burst unless they are owed; tokens
// above the burst (owed earlier, not yet spent) are kept but do not grow.
func refill(tokens, earned, burst float64, owed bool) float64 {
	if owed {
		return tokens + earned
	}
	return max(tokens, min(tokens+earned, burst))
}

// RateLimited is asked by the reactor before it hands over a whole PUBLISH
// of n bytes: true means the client is past its publish rate, and the
// reactor must leave the packet in the buffer and stop reading the
// connection until the loop's waker reads it again. Without a rate it is
// one nil test.
func (c *Client) RateLimited(n int) bool {
	return c.loop.rate != nil && c.overRate(n)
}

func (c *Client) overRate(n int) bool {
	if c.state != stateConnected || c.handledAgain() {
		// Not connected: Handle refuses it. Handled again after a hook's
		// late answer: its tokens were taken the first time.
		return false
	}
	x := c.x()
	now := c.loop.clock
	if x.rate == nil {
		l := c.loop.rate
		x.rate = &pubRate{msgs: l.msgBurst, bytes: l.byteBurst, at: now}
	}
	wait := x.rate.take(c.loop.rate, now, n)
	if wait == 0 {
		return false
	}
	c.setFlag(flagRateWait)
	c.loop.counts.ratePauses.n.Add(1)
	// The wheel deadline is the moment to read it again; the keepalive
	// starts over then (expireUnlessPaused).
	prev := c.deadline
	c.deadline = now + wait
	switch {
	case c.wpos == 0:
		c.loop.wheel.add(c)
	case prev == 0 || c.deadline < prev:
		// Filed earlier by a deadline since cleared (no keepalive: the
		// connect timeout's slot) or a later one: the wheel only re-files
		// lazily forward.
		c.loop.wheel.refile(c)
	}
	return true
}

// ReadStopped reports whether the reactor must leave c's input unread: a
// packet waits for a hook's answer or for its publish rate's tokens.
func (c *Client) ReadStopped() bool {
	return c.flags.Load()&(flagWaiting|flagRateWait) != 0
}

// rateWaitOver reads c again once its wheel deadline, the end of its wait
// for tokens, has come, or when the broker ends the connection (linger)
// and must read its close; it reports whether c was waiting.
func (c *Client) rateWaitOver() bool {
	if c.flags.Load()&flagRateWait == 0 {
		return false
	}
	c.clearFlag(flagRateWait)
	if c.loop.wake != nil {
		c.loop.wake(c)
	}
	return true
}

// NoRatePause is called by the reactor for a loop on which it cannot stop
// reading a connection (pause_other.go): a client past its rate would
// have its packets pile up in the broker's buffer, so publish rates are
// off on that loop, and the broker says so once.
func (l *Loop) NoRatePause() {
	if l.rate == nil {
		return
	}
	l.rate = nil
	if l.broker.rateOff.CompareAndSwap(false, true) {
		l.broker.opts.Logger.Warn("publish rate limits are off: this system's poller cannot stop reading a connection")
	}
}
