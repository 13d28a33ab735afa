package session

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/loom-mqtt/loom/proto"
)

// The broker's bounds on sessions that outlive their connection.
//
// MaxSessionExpiry (connect.go's capSessionExpiry) bounds how long one
// stays after its client left; MaxPersistentSessions bounds how many there
// are. A persistent session is one with a Session Expiry Interval above 0
// — a 3.1.1 session with Clean Session 0 is one — online or offline, in
// memory and, with a Store, on disk. Each is counted once, from the moment
// it becomes persistent until it leaves the registry or its expiry drops
// to 0 at a later CONNECT; the count is one integer under Broker.mu, read
// and changed only at CONNECT, at a session's end and at Restore, never
// per message.
//
// Past the bound, a CONNECT that would make a new persistent session is
// turned down; one whose session is persistent already keeps its place,
// whether it resumes it or replaces it by a clean start. A v5 client is
// accepted with Session Expiry Interval 0 in CONNACK (section 3.2.2.3.2:
// the client must use the server's value), so its session ends with the
// connection; CONNACK 0x97 (Quota exceeded) would deny it service
// altogether, while what the bound protects — memory and disk after the
// client left — is protected as well by a session that does not stay, and
// a client that only needs to be connected, as most devices arriving on a
// full broker do, keeps working. 3.1.1 has no way to tell a client its
// session will not be kept, and accepting Clean Session 0 with a session
// that silently disappears would break its promise [MQTT-3.1.2-4], so a
// 3.1.1 client is refused with return code 3 (Server unavailable).

// Defaults for a broker exposed to clients it does not know; Options
// documents why.
const (
	defaultMaxSessionExpiry      = 7 * 24 * time.Hour
	defaultMaxPersistentSessions = 10000
	// limitWarnEvery spaces the WARN that says sessions were turned down,
	// so a client retrying in a loop cannot flood the log.
	limitWarnEvery = time.Minute
)

// Session.bits of this file, kept clear of session.go's from the top.
const (
	// sessCounted: the session is one of the persistent sessions counted
	// against MaxPersistentSessions.
	sessCounted uint8 = 1 << 7
	// sessLimited: a v5 client asked for a persistent session when the
	// broker was full and was given Session Expiry 0. A non-zero expiry on
	// its DISCONNECT is then not a Protocol Error (its CONNECT's was not
	// 0) but is ignored: the server's value stands.
	sessLimited uint8 = 1 << 6
)

// errSessionsFull is returned, after CONNACK 3, to close the connection of
// a 3.1.1 client that asked for a new persistent session on a full broker.
var errSessionsFull = errors.New("persistent session limit reached")

// sessionLimit is the state of the bound: n is guarded by Broker.mu, the
// rest are atomics for the refusal counting and its warning.
type sessionLimit struct {
	n        int          // persistent sessions in the registry
	refused  atomic.Int64 // CONNECTs turned down since the start
	warnedAt atomic.Int64 // Broker.now of the last WARN, plus 1 (0 before the first)
	unwarned atomic.Int64 // refusals not yet in a WARN
}

// fullLocked reports whether a CONNECT that wants a persistent session for
// the registry's session s (nil if none) must be turned down: the broker
// holds MaxPersistentSessions already and s does not hold one of them.
// b.mu is held; s.mu is not.
func (b *Broker) fullLocked(s *Session) bool {
	limit := b.opts.MaxPersistentSessions
	if limit < 0 || b.limit.n < limit {
		return false
	}
	if s == nil {
		return true
	}
	s.mu.Lock()
	held := s.bits&sessCounted != 0
	s.mu.Unlock()
	return !held
}

// countLocked makes s count among the persistent sessions, or stop
// counting; it does nothing when s already does as asked. b.mu and s.mu
// are held (or s is not yet shared).
func (b *Broker) countLocked(s *Session, on bool) {
	if (s.bits&sessCounted != 0) == on {
		return
	}
	s.setBit(sessCounted, on)
	if on {
		b.limit.n++
	} else {
		b.limit.n--
	}
}

// PersistentSessions is the number of persistent sessions the broker holds,
// connected or not: what Options.MaxPersistentSessions bounds.
func (b *Broker) PersistentSessions() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.limit.n
}

// RefusedSessions is the number of CONNECTs that asked for a new persistent
// session past Options.MaxPersistentSessions: v5 clients given Session
// Expiry 0, 3.1.1 clients refused.
func (b *Broker) RefusedSessions() int64 { return b.limit.refused.Load() }

// refuseFull answers a 3.1.1 CONNECT that asked for a new persistent
// session on a full broker: CONNACK return code 3 with Session Present 0
// [MQTT-3.2.2-4], then the connection closes [MQTT-3.2.2-5]. It is not a
// protocol failure, so it is not counted as one.
func (c *Client) refuseFull(id string) error {
	c.loop.broker.noteRefusedSession(id, c.version)
	ack := proto.Connack{Reason: proto.V3ServerUnavailable}
	c.buf().B = ack.Append(c.out.B, c.version)
	return errSessionsFull
}

// noteRefusedSession counts a CONNECT that did not get the persistent
// session it asked for and logs it, at most once per limitWarnEvery with
// the number turned down since the last time.
func (b *Broker) noteRefusedSession(id string, v proto.Version) {
	l := &b.limit
	l.refused.Add(1)
	l.unwarned.Add(1)
	now := b.now() + 1
	last := l.warnedAt.Load()
	if last != 0 && now-last < limitWarnEvery.Milliseconds() {
		return
	}
	if !l.warnedAt.CompareAndSwap(last, now) {
		return // another loop is logging it
	}
	treatment := "v5 client given Session Expiry 0"
	if v != proto.V5 {
		treatment = "3.1.1 client refused with CONNACK 3"
	}
	b.opts.Logger.Warn("persistent session limit reached: new persistent sessions are turned down",
		"limit", b.opts.MaxPersistentSessions, "turned_down", l.unwarned.Swap(0),
		"last_client", id, "last", treatment)
}
