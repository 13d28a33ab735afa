package session

import (
	"net"
	"slices"
	"sync"
	"time"

	"github.com/loom-mqtt/loom/proto"
)

// Slowing down password guessing. Each refused authentication from a
// remote address makes the next refusal to that address wait longer
// before its CONNACK: throttleBase after the second failure, doubling up
// to throttleMax (rounded up to the loops' timing wheel, a quarter
// second). A client that authenticates is never delayed, whatever its
// address, and a client from another address is not affected. The wait
// is the client's deadline in its loop's wheel, as keepalives are; the
// connection meanwhile waits as for a hook's answer (its input unread). Counts are forgotten throttleForget
// after an address's last failure, and at most throttleAddrs addresses
// are remembered (past that the oldest are forgotten), so a flood of
// addresses cannot grow the table.
const (
	throttleBase   = 100 * time.Millisecond
	throttleMax    = 5 * time.Second
	throttleForget = 10 * time.Minute
	throttleAddrs  = 10000
)

type authThrottle struct {
	mu    sync.Mutex
	fails map[string]*failures
}

type failures struct {
	n    int
	last time.Time
}

// fail records a refused authentication from remote at now and returns
// how long its CONNACK waits.
func (t *authThrottle) fail(remote string, now time.Time) time.Duration {
	host := remote
	if h, _, err := net.SplitHostPort(remote); err == nil {
		host = h
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fails == nil {
		t.fails = make(map[string]*failures)
	}
	f := t.fails[host]
	if f == nil || now.Sub(f.last) > throttleForget {
		if len(t.fails) >= throttleAddrs {
			t.forgetOldest(now)
		}
		f = &failures{}
		t.fails[host] = f
	}
	f.n++
	f.last = now
	if f.n < 2 {
		return 0 // one mistyped password costs nothing
	}
	d := throttleBase << min(f.n-2, 16)
	return min(d, throttleMax)
}

// forgetOldest drops the expired entries, or, when none has, the older
// half.
func (t *authThrottle) forgetOldest(now time.Time) {
	for k, f := range t.fails {
		if now.Sub(f.last) > throttleForget {
			delete(t.fails, k)
		}
	}
	if len(t.fails) < throttleAddrs {
		return
	}
	times := make([]time.Time, 0, len(t.fails))
	for _, f := range t.fails {
		times = append(times, f.last)
	}
	slices.SortFunc(times, time.Time.Compare)
	cut := times[len(times)/2]
	for k, f := range t.fails {
		if f.last.Before(cut) {
			delete(t.fails, k)
		}
	}
}

// refuseAuth answers a CONNECT whose credentials the hooks refused:
// CONNACK 0x86 (3.1.1: 4), at once or, for an address that keeps
// failing, after a growing wait.
func (c *Client) refuseAuth() error {
	b := c.loop.broker
	b.Stats.AuthFailures.Add(1)
	err := proto.Errorf(proto.BadUserNameOrPassword, "not authorised")
	d := b.throttle.fail(c.info().Remote, time.Now())
	if d <= 0 {
		return c.refuse(c.version, err)
	}
	// The wait is the client's deadline in its loop's timing wheel (no
	// timer of its own), earlier than its connect timeout: expire sends
	// the refusal (refuseHeld). The reactor reads nothing more meanwhile.
	c.x().refusal = err
	c.setFlag(flagWaiting)
	c.deadline = c.loop.clock + d.Milliseconds()
	c.loop.wheel.refile(c)
	return ErrWaiting
}

// refuseHeld sends the refusal refuseAuth held back, once its wait is
// over, and reads the connection again to see it close.
func (c *Client) refuseHeld() {
	err := c.ext.refusal
	c.ext.refusal = nil
	c.clearFlag(flagWaiting)
	_ = c.refuse(c.version, err)
	if !c.Lingering() {
		c.hangUp()
		c.state = stateClosed
		return
	}
	if c.loop.wake != nil {
		c.loop.wake(c) // the lingering connection's input is read and dropped
	}
}
