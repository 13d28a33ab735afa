package session

import (
	"sync"
	"sync/atomic"

	"github.com/loom-mqtt/loom/router"
)

// Store writes made while routing.
//
// A QoS 1/2 message bound for a stored session is written to the store on
// the router's shard, in the same pass that routes it, before any loop or
// offline queue sees it: the writes of one routing pass, and the inbound
// QoS 2 records of the publishes routed in it, go to the store as one
// WriteGroup that is committed atomically. This holds for connected stored
// sessions too, whose loop writes the copy again with its packet id when it
// sends it. Two things follow:
//   - the acknowledgement of a publish (ackPublish) waits for the commit of
//     the group, whatever the sync policy, and so covers every copy of the
//     message: an acknowledged message survives a kill of the process;
//   - after a crash, a QoS 2 PUBLISH is either routed and recorded as
//     received, or neither: the client's re-sent PUBLISH is then answered
//     without a second delivery, or delivered for the first time
//     [MQTT-4.3.3-10].
// Later changes of a message (packet id given, PUBREC received, acked) are
// made by the session that holds it and queue behind the group.

// publishRef travels with a QoS 1/2 message through the router
// (router.Message.Ref) while the broker has a store and something of the
// publish may be written: a stored session exists, the message is
// retained, or it is a QoS 2 PUBLISH of a stored session, whose inbound
// record it then carries.
type publishRef struct {
	clientID string
	pid      uint16
	// inbound: clientID and pid name an inbound QoS 2 record to write.
	inbound bool
	// queued and stored are touched only on the message's shard. queued:
	// the inbound record is in a WriteGroup or was written alone. stored:
	// some write of this publish is queued, so its acknowledgement waits
	// for the commit.
	queued bool
	stored bool
	// reached and refused count, on the shard, the deliveries of the
	// publish that were passed on and those a bound dropped (held.go): a
	// QoS 1/2 publish that reached no one for that is acknowledged 0x97.
	reached, refused int32
	// state is shared by the shard (which writes the record) and the
	// publisher's loop (which deletes it on PUBREL), so that a PUBREL that
	// comes before the shard has written never leaves a record behind.
	state atomic.Uint32
}

const (
	refNew      = iota // not written yet
	refWritten         // queued for the store
	refReleased        // PUBREL came before it was queued: never write it
)

// written runs on the shard once the record is queued. A PUBREL that came
// meanwhile found nothing to delete, so the delete is queued here, after
// the write.
func (b *Broker) written(r *publishRef) {
	if !r.state.CompareAndSwap(refNew, refWritten) {
		b.opts.Store.DeleteInbound(r.clientID, r.pid)
	}
}

// settleInbound runs on the message's shard after it was routed: the record
// of a message that reached no stored session is written alone. A ref
// without a store (held.go's, for 0x97) is never inbound: only its Ref goes.
func (b *Broker) settleInbound(m *router.Message, r *publishRef) {
	m.Ref = nil // a retained copy delivered later is not this publish
	if r.inbound && !r.queued {
		r.stored = true
		r.queued = true
		b.opts.Store.PutInbound(r.clientID, r.pid)
		b.written(r)
	}
}

// releaseInboundLocked forgets the inbound record of pid on PUBREL. r is
// the entry of s.inQoS2: nil for one restored from the store or written
// when the session became stored.
func (s *Session) releaseInboundLocked(r *publishRef, pid uint16) {
	if !s.isStored() {
		return
	}
	if r == nil || !r.state.CompareAndSwap(refNew, refReleased) {
		s.broker.opts.Store.DeleteInbound(s.id, pid)
	}
}

// routeWork is the scratch of one sink call.
type routeWork struct {
	g    WriteGroup
	seqs []uint64
	refs []*publishRef
	skip []bool // skip[i]: ds[i] was dropped (admitDeliveries)
	// drop[i]: an OnSelectSubscribers hook dropped ds[i] (nil without
	// such hooks).
	drop []bool
	// dest[l] are the indexes of the deliveries for loop index l; loops
	// are the loops with some, in the order first met.
	dest  [][]int32
	loops []*Loop
}

func (w *routeWork) rejected(i int) bool { return w.drop != nil && w.drop[i] }

// seq is the sequence number storeRouted gave ds[i], 0 without a store.
func (w *routeWork) seq(i int) uint64 {
	if len(w.seqs) == 0 {
		return 0
	}
	return w.seqs[i]
}

// toLoop files delivery i for loop l.
func (w *routeWork) toLoop(l *Loop, i int) {
	for len(w.dest) <= l.index {
		w.dest = append(w.dest, nil)
	}
	if len(w.dest[l.index]) == 0 {
		w.loops = append(w.loops, l)
	}
	w.dest[l.index] = append(w.dest[l.index], int32(i))
}

// admitDeliveries decides, for each delivery of one sink call, whether it
// goes on: a QoS 0 one unless its reader is being shed, a QoS 1/2 one if
// its session may hold it (admit), which reserves it. The broker's total
// is added once for the call.
func (b *Broker) admitDeliveries(w *routeWork, ds []router.Delivery) {
	if cap(w.skip) < len(ds) {
		w.skip = make([]bool, len(ds))
	}
	w.skip = w.skip[:len(ds)]
	// The total is read once for the call: its atomics are written by
	// every loop, and the call's own reservations are added as it goes.
	var pend int64
	total := b.HeldBytes()
	for i := range ds {
		d := &ds[i]
		s, ok := d.Client.(*Session)
		if !ok {
			// Another subscriber (an inline subscription) admits its
			// deliveries itself, in Deliver.
			w.skip[i] = w.rejected(i)
			continue
		}
		skip := w.rejected(i)
		if skip {
			// dropped by OnSelectSubscribers
		} else if min(d.QoS, d.Msg.QoS) == 0 {
			if c := s.client.Load(); c != nil && c.shedding() {
				s.dropped(d.Msg, DropSlowReader) // a reader that stopped: see Client.shed
				skip = true
			}
		} else if g, cause, ok := b.admit(&s.held, d.Msg, total+pend); ok {
			pend += g
		} else {
			s.refused(d.Msg, cause)
			skip = true
		}
		if r, _ := d.Msg.Ref.(*publishRef); r != nil {
			if skip {
				r.refused++
			} else {
				r.reached++
			}
		}
		w.skip[i] = skip
	}
	if pend != 0 {
		b.held.Add(pend)
	}
}

var routeWorkPool = sync.Pool{New: func() any { return new(routeWork) }}

// storeRouted writes, as one group, the QoS 1/2 deliveries in ds that are
// bound for stored sessions, and the inbound records their messages carry.
// seqs[i] is the sequence number given to ds[i], 0 when it was not stored.
func (b *Broker) storeRouted(w *routeWork, ds []router.Delivery) {
	if cap(w.seqs) < len(ds) {
		w.seqs = make([]uint64, len(ds))
	}
	w.seqs = w.seqs[:len(ds)]
	// Without a stored session no delivery is written: no session lock is
	// taken off its loop for nothing.
	anyStored := b.storedSessions.Load() > 0
	for i := range ds {
		d := &ds[i]
		w.seqs[i] = 0
		if w.skip[i] {
			continue
		}
		r, _ := d.Msg.Ref.(*publishRef)
		if r != nil && r.inbound && !r.queued {
			r.queued, r.stored = true, true
			w.g.Inbound = append(w.g.Inbound, InboundRecord{ClientID: r.clientID, PacketID: r.pid})
			w.refs = append(w.refs, r)
		}
		q := min(d.QoS, d.Msg.QoS)
		if q == 0 || !anyStored {
			continue
		}
		s, ok := d.Client.(*Session)
		if !ok {
			continue // only sessions are stored
		}
		s.mu.Lock()
		if s.isStored() && !s.isEnded() {
			s.seq++
			w.seqs[i] = s.seq
			w.g.Pending = append(w.g.Pending, GroupPending{ClientID: s.id, Record: PendingRecord{
				Seq: s.seq, QoS: q, Retain: d.Retain, SubIDs: d.SubIDs, Msg: d.Msg}})
			if r != nil {
				r.stored = true
			}
		}
		s.mu.Unlock()
	}
	if len(w.g.Pending)+len(w.g.Inbound) > 0 {
		b.opts.Store.Apply(&w.g)
	}
	for _, r := range w.refs {
		b.written(r)
	}
	w.g.reset()
	clear(w.refs)
	w.refs = w.refs[:0]
}
