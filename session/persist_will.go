package session

import (
	"time"

	"github.com/loom-mqtt/loom/router"
)

// WillStore is the part of Store that keeps the will of each stored
// session. MQTT 5 counts the Will Message and its Will Delay Interval as
// part of the server's Session State, so a session that survives a restart
// keeps its will too.
type WillStore interface {
	// PutWill stores (or replaces) the will of clientID's session; the
	// store keeps its own copy of what it needs. DeleteSession removes it
	// too.
	PutWill(clientID string, w WillRecord)
	DeleteWill(clientID string)
}

// WillRecord is the will of a stored session's last connection.
type WillRecord struct {
	// Msg is the will as it will be published: topic, payload, QoS, retain
	// flag, the v5 properties passed on to subscribers, and the origin (the
	// client id, for No Local). Its Expiry is not set yet: a will's message
	// expiry starts when it is published.
	Msg   *router.Message
	Delay uint32 // Will Delay Interval, seconds (0 in 3.1.1)
	// DisconnectedAt is when the connection ended, unix nanoseconds; 0
	// while it was connected (also after a crash).
	DisconnectedAt int64
}

// persistWillLocked brings the stored will of s in line with w, the will
// of its connection (nil when there is none, or none any more: published,
// discarded by a normal DISCONNECT, or cancelled by a reconnect).
// disconnectedAt is 0 while the connection is up.
func (s *Session) persistWillLocked(w *router.Message, delay uint32, disconnectedAt int64) {
	st := s.broker.opts.Store
	if st == nil || !s.isStored() || s.isEnded() {
		// A session out of the store has no will there: DeleteSession took
		// it with everything else.
		s.setBit(sessWillStored, false)
		return
	}
	if w == nil {
		if s.willIsStored() {
			st.DeleteWill(s.id)
			s.setBit(sessWillStored, false)
		}
		return
	}
	st.PutWill(s.id, WillRecord{Msg: w, Delay: delay, DisconnectedAt: disconnectedAt})
	s.setBit(sessWillStored, true)
}

// restoredState is what Restore reads besides sessions, subscriptions,
// retained and pending messages; it is applied once they are all in place.
type restoredState struct {
	wills    map[string]WillRecord
	counters *Counters
}

func (r *restoredState) will(clientID string, w WillRecord) {
	if r.wills == nil {
		r.wills = make(map[string]WillRecord)
	}
	r.wills[clientID] = w
}

func (r *restoredState) setCounters(c Counters) { r.counters = &c }

// restoreSaved applies what Restore collected, once the sessions and their
// subscriptions are back (so a will published now reaches the stored
// sessions that subscribed to it): the counters are added back and each
// stored will is published when its delay runs out.
func (b *Broker) restoreSaved(r *restoredState, now int64) {
	var stored Counters
	if r.counters != nil {
		stored = *r.counters
		b.restoreCounters(stored)
	}
	var due []*router.Message
	for id, w := range r.wills {
		b.mu.Lock()
		s := b.sessions.get(id)
		b.mu.Unlock()
		if s == nil {
			// Its session expired while the broker was down, and Restore
			// removed it with its will; the session's end made the will due
			// then [MQTT-3.1.2-8], so it goes out now, late rather than
			// never. (A will is only stored under its session record, and
			// removed with it, so there is no other way to miss one.)
			due = append(due, w.Msg)
			continue
		}
		// A will whose connection ended before the stop waits what is left
		// of its delay. One whose connection was up when the broker stopped
		// without closing it (a crash) lost that connection without a
		// DISCONNECT, which makes the will due [MQTT-3.1.2-8]: its delay
		// runs from the restart, the first moment the broker can know. A
		// 3.1.1 will has no delay and goes out at once. Either way the
		// session's expiry timer publishes it earlier if the session ends
		// first, and a reconnect within the delay cancels it
		// [MQTT-3.1.3-9].
		left := time.Duration(w.Delay) * time.Second
		if w.DisconnectedAt != 0 {
			left -= time.Duration(now - w.DisconnectedAt)
		}
		s.mu.Lock()
		s.setBit(sessWillStored, true)
		if left <= 0 {
			due = append(due, w.Msg)
			s.persistWillLocked(nil, 0, 0)
		} else {
			if s.off == nil {
				s.off = &offlineState{}
			}
			s.off.will = w.Msg
			s.off.willTimer = time.AfterFunc(left, s.willDue)
		}
		s.mu.Unlock()
	}
	for _, m := range due {
		b.publishWill(m, nil)
	}
	b.markCountersLoaded(stored)
}
