package session

import (
	"time"

	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/router"
)

// persistLocked brings the stored record of s in line with its state: a
// session with a non-zero expiry is stored (with its subscriptions, the
// first time), one without is removed. disconnectedAt is 0 while a client
// is attached.
func (s *Session) persistLocked(version proto.Version, disconnectedAt int64) {
	st := s.broker.opts.Store
	if st == nil || s.isEnded() {
		return
	}
	if s.expiry == 0 {
		s.forgetLocked()
		return
	}
	st.PutSession(SessionRecord{ClientID: s.id, Version: version, Expiry: s.expiry, DisconnectedAt: disconnectedAt})
	if !s.isStored() {
		s.setStored(true)
		for f, o := range s.subs {
			st.PutSubscription(s.id, f, o)
		}
		for _, f := range s.inflight {
			s.storePendingLocked(&f.pending, f.pid, f.state)
		}
		if s.q != nil {
			for i := s.q.head; i < len(s.q.items); i++ {
				if p := &s.q.items[i]; p.qos > 0 {
					s.storePendingLocked(p, 0, 0)
				}
			}
		}
		for pid := range s.inQoS2 {
			st.PutInbound(s.id, pid) // refs of these, if any, were never written
			s.inQoS2[pid] = nil
		}
	}
}

// setStored records whether a record of s is in the store, and keeps the
// broker's count of stored sessions, which tells the publish path whether
// a delivery may have to be written (storeRouted, ackPublish).
func (s *Session) setStored(on bool) {
	if s.isStored() == on {
		return
	}
	s.setBit(sessStored, on)
	if on {
		s.broker.storedSessions.Add(1)
	} else {
		s.broker.storedSessions.Add(-1)
	}
}

// storePendingLocked writes an outbound QoS 1/2 message of a stored
// session, giving it a sequence number if it has none.
func (s *Session) storePendingLocked(p *pending, pid uint16, state byte) {
	if p.seq == 0 {
		s.seq++
		p.seq = s.seq
	}
	s.broker.opts.Store.PutPending(s.id, PendingRecord{Seq: p.seq, QoS: p.qos, Retain: p.retain,
		SubIDs: p.subIDs, PacketID: pid, State: state, Msg: p.msg})
}

// unstoreLocked removes a message that was delivered or dropped.
func (s *Session) unstoreLocked(seq uint64) {
	if s.isStored() && seq != 0 {
		s.broker.opts.Store.DeletePending(s.id, seq)
	}
}

// forgetLocked removes s from the store, if it is there.
func (s *Session) forgetLocked() {
	if s.isStored() {
		s.broker.opts.Store.DeleteSession(s.id)
		s.setStored(false)
	}
}

// storeRetained records a retained message (or its deletion) as it enters
// the router.
func (b *Broker) storeRetained(m *router.Message) {
	st := b.opts.Store
	if st == nil || !m.Retain {
		return
	}
	if len(m.Payload) == 0 {
		st.DeleteRetained(m.Topic)
		return
	}
	st.PutRetained(m)
}

// Restore rebuilds sessions, their subscriptions and the retained messages
// from the store. The server calls it once, before its listeners open.
// Sessions whose expiry passed while the broker was down are removed.
func (b *Broker) Restore() error {
	st := b.opts.Store
	if st == nil {
		return nil
	}
	now := time.Now().UnixNano()
	// Subscriptions go into the router after the retained messages, so that
	// restoring a retained message delivers it to no one.
	type sub struct {
		s      *Session
		filter string
		o      router.SubOptions
	}
	var subs []sub
	var saved restoredState // wills and counters (persist_will.go)
	err := st.Load(LoadVisitor{
		Will:     saved.will,
		Counters: saved.setCounters,
		Session: func(r SessionRecord) {
			r.Expiry = b.capSessionExpiry(r.Expiry) // a maximum set since it was stored holds too
			left := time.Duration(-1)
			if r.Expiry != ExpiryNever {
				left = time.Duration(r.Expiry) * time.Second
				if r.DisconnectedAt != 0 {
					left -= time.Duration(now - r.DisconnectedAt)
				}
				if left <= 0 {
					st.DeleteSession(r.ClientID) // expired while the broker was down
					return
				}
			}
			s := newSession(b, r.ClientID)
			s.expiry = r.Expiry
			s.setStored(true)
			if left > 0 {
				s.off = &offlineState{expiryTimer: time.AfterFunc(left, s.expire)}
			}
			b.mu.Lock()
			b.addSessionLocked(s)
			b.countLocked(s, true) // resumable, so counted even past the bound
			b.mu.Unlock()
		},
		Subscription: func(clientID, filter string, o router.SubOptions) {
			b.mu.Lock()
			s := b.sessions.get(clientID)
			b.mu.Unlock()
			if s == nil {
				return // its session expired and was removed
			}
			s.mu.Lock()
			if s.subs == nil {
				s.subs = make(map[string]router.SubOptions)
			}
			s.subs[filter] = o
			s.mu.Unlock()
			subs = append(subs, sub{s, filter, o})
		},
		Retained: func(m *router.Message) {
			if m.Expiry != 0 && m.Expiry <= now {
				st.DeleteRetained(m.Topic) // expired while the broker was down
				return
			}
			m.Retain = true
			b.router.Publish(m)
		},
		Pending: func(clientID string, r PendingRecord) {
			b.mu.Lock()
			s := b.sessions.get(clientID)
			b.mu.Unlock()
			if s == nil {
				// Its session expired, or a write raced with the session's
				// removal (routing queues its writes outside the session's
				// lock): nothing would ever read it.
				st.DeletePending(clientID, r.Seq)
				return
			}
			if r.PacketID == 0 && r.Msg != nil && r.Msg.Expiry != 0 && r.Msg.Expiry <= now {
				// Queued and expired while the broker was down: past
				// delivery [MQTT-3.3.2-5]. One in flight is kept: its
				// delivery had begun, and it is re-sent as it was.
				st.DeletePending(clientID, r.Seq)
				b.drop(DropExpired)
				return
			}
			p := pending{msg: r.Msg, qos: r.QoS, retain: r.Retain, subIDs: r.SubIDs, seq: r.Seq}
			s.mu.Lock()
			if r.Msg != nil {
				// Counted, never dropped here: what was acknowledged is kept.
				// Past the budget the shedder sheds the largest holders.
				b.held.Add(hold(&s.held, r.Msg))
				p.held = true
			}
			s.seq = max(s.seq, r.Seq)
			if r.PacketID != 0 && (r.Msg != nil || r.State == waitPubcomp) {
				if s.inflight == nil {
					s.inflight = make(map[uint16]*inflight)
				}
				s.inflight[r.PacketID] = &inflight{pending: p, pid: r.PacketID, state: r.State}
				b.Stats.Inflight.Add(1)
			} else if r.Msg != nil {
				if s.q == nil {
					s.q = &msgQueue{}
				}
				s.q.items = append(s.q.items, p)
				b.Stats.Queued.add(s, 1)
			}
			s.mu.Unlock()
		},
		Inbound: func(clientID string, pid uint16) {
			b.mu.Lock()
			s := b.sessions.get(clientID)
			b.mu.Unlock()
			if s == nil {
				st.DeleteInbound(clientID, pid)
				return
			}
			s.mu.Lock()
			if s.inQoS2 == nil {
				s.inQoS2 = make(map[uint16]*publishRef)
			}
			s.inQoS2[pid] = nil // its PUBREL, or a re-sent PUBLISH, is still to come
			s.mu.Unlock()
		},
	})
	if err != nil {
		return err
	}
	for _, x := range subs {
		b.router.Subscribe(x.s, x.filter, x.o, false)
	}
	b.restoreSaved(&saved, now)
	return nil
}
