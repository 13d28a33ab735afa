package session

import (
	"crypto/rand"
	"encoding/base32"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loom-mqtt/loom/router"
)

// Broker is the registry of sessions and the bridge between connections and
// the router. One Broker serves every loop of a server.
type Broker struct {
	opts   Options
	router *router.Router
	start  time.Time
	epoch  int64 // start in unix nanoseconds: the base of wallNow

	mu       sync.Mutex // guards sessions and loops; taken before any Session.mu
	sessions registry
	loops    []*Loop

	idPrefix string
	idSeq    atomic.Uint64
	sys      *sysPublisher // nil when $SYS topics are disabled
	saver    counterSaver  // stores Stats' totals (persist_sys.go)

	// storedSessions counts the sessions with a record in the store
	// (Session.setStored); while it is 0 no delivery is written.
	storedSessions atomic.Int64

	// held is the bytes of messages held for sessions (held.go); shedding
	// says the shedder runs; lastRefusal is the broker clock (ms, +1) of
	// the last message a bound dropped.
	held        atomic.Int64
	shedding    atomic.Bool
	lastRefusal atomic.Int64

	inboxed atomic.Int64 // deliveries and tasks queued in the loops' inboxes (backlog.go)
	relief  relief

	pumping atomic.Bool  // the spool pump runs (spool.go)
	pumped  atomic.Int64 // bytes the loops' pumps moved since the pump last looked
	closing atomic.Bool
	limit   sessionLimit // persistent sessions and their bound (sessionlimit.go)
	// preLoops is the number of loops sharing PreConnectBudget (preconnect.go).
	preLoops atomic.Int32

	// gates are the listeners' admission states, numbered from 1 in
	// Client.gate; admitted counts the CONNECTs holding a slot under
	// Options.MaxClients (gate.go).
	gates    []*Gate
	admitted atomic.Int64
	capWarn  warnEvery
	// rate is the per-client publish rate, nil without one; rateOff: a
	// loop could not apply it, and said so (pubrate.go).
	rate    *rateLimit
	rateOff atomic.Bool

	hooks    hookSet      // hooks.go
	inline   inlineSubs   // inline.go
	throttle authThrottle // throttle.go

	Stats Stats
}

// Stats are the broker's counters, safe to read from any goroutine.
type Stats struct {
	Connected     atomic.Int64             // clients with a completed CONNECT
	Connections   atomic.Int64             // total CONNECTs accepted
	MessagesIn    ByQoS                    // PUBLISH packets received, by QoS (counter.go)
	MessagesOut   ByQoS                    // PUBLISH packets sent, by the QoS sent with
	Dropped       atomic.Int64             // messages dropped, every cause
	Drops         [dropCauses]atomic.Int64 // messages dropped by cause (DropCause)
	ProtocolFails atomic.Int64             // connections closed for a protocol violation
	BytesIn       Counter                  // bytes of whole packets read from clients
	BytesOut      Counter                  // bytes written to clients
	Inflight      atomic.Int64             // outbound QoS 1/2 messages awaiting acknowledgement, all sessions
	// MaxConnected is the high-water mark of Connected, raised at CONNECT.
	MaxConnected atomic.Int64
	// ReadPauses counts the times a publisher's reading was paused because
	// the broker's backlog was over Options.IngestBacklog (backlog.go).
	ReadPauses atomic.Int64
	// SpoolBlocks is the number of spool blocks mapped now (spool.go):
	// outbound bytes held for slow readers outside Go's heap, 64 KiB each.
	SpoolBlocks atomic.Int64
	// PreConnectRefused counts connections refused before completing
	// CONNECT for Options.MaxConnectSize or Options.PreConnectBudget
	// (preconnect.go).
	PreConnectRefused atomic.Int64
	// HookPanics counts hook calls that panicked and were recovered
	// (hooks.go).
	HookPanics atomic.Int64
	// ACLDenied counts PUBLISH packets and subscriptions an ACL hook
	// refused.
	ACLDenied atomic.Int64
	// AuthFailures counts CONNECTs whose credentials the hooks refused
	// (throttle.go).
	AuthFailures atomic.Int64

	// For the metrics. PublishBytesIn and PublishBytesOut are the bytes
	// of whole PUBLISH packets received and encoded for sending, by QoS;
	// Queued the messages waiting in sessions' queues. (Clients by
	// protocol version are counted by each listener's Gate.)
	PublishBytesIn, PublishBytesOut ByQoS
	Queued                          Striped
	// RefusedCap counts CONNECTs refused at Options.MaxClients or a
	// listener's cap; RefusedRate connections refused past a listener's
	// connect rate (gate.go). RatePauses counts the times a client's
	// reading stopped for its publish rate (pubrate.go).
	RefusedCap, RefusedRate atomic.Int64
	RatePauses              Counter
}

// NewBroker builds a broker and starts its router.
func NewBroker(opts Options) *Broker {
	b := &Broker{
		opts:  opts.withDefaults(),
		start: time.Now(),
	}
	var r [5]byte
	_, _ = rand.Read(r[:])
	b.epoch = b.start.UnixNano()
	b.idPrefix = "loom-" + base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(r[:]) + "-"
	ro := b.opts.Router
	ro.AfterBatch = b.checkRelief
	ro.RetainedExpired = b.retainedExpired
	b.router = router.New(ro, b.sink)
	b.rate = newRateLimit(&b.opts)
	if b.opts.SysInterval > 0 {
		b.sys = newSysPublisher(b)
		go b.sys.run(b.opts.SysInterval)
	}
	return b
}

// Options returns the effective options, defaults filled in.
func (b *Broker) Options() Options { return b.opts }

// Router is the broker's router (tests and the embedding facade use it).
func (b *Broker) Router() *router.Router { return b.router }

// Close stops the $SYS publisher, then the router after it has delivered
// what was queued.
func (b *Broker) Close() {
	b.closing.Store(true)
	if b.sys != nil {
		b.sys.close()
	}
	// Offline sessions' clocks stop with the broker: a timer left running
	// would keep the whole broker in memory until it fired.
	b.mu.Lock()
	b.sessions.each(func(s *Session) {
		s.mu.Lock()
		s.stopTimerLocked()
		s.mu.Unlock()
	})
	b.mu.Unlock()
	b.router.Close()
	if b.opts.Store != nil {
		b.saveCounters() // the last interval's counting
		if err := b.opts.Store.Close(); err != nil {
			b.opts.Logger.Error("closing the store", "err", err)
		}
	}
	b.stopHooks()
}

// now is the broker's monotonic clock in milliseconds.
func (b *Broker) now() int64 { return time.Since(b.start).Milliseconds() }

// NewLoop registers an event loop. exec must run f on that loop, later, from
// any goroutine; the reactor passes gnet's EventLoop.Execute.
func (b *Broker) NewLoop(exec func(f func())) *Loop {
	l := &Loop{broker: b, exec: exec}
	l.Refresh()
	l.wheel.init(wheelResolutionMs, l.clock)
	b.mu.Lock()
	st := &b.Stats
	l.counts = loopCounts{msgsIn: st.MessagesIn.cells(), msgsOut: st.MessagesOut.cells(),
		pubBytesIn: st.PublishBytesIn.cells(), pubBytesOut: st.PublishBytesOut.cells(),
		bytesIn: st.BytesIn.cell(), bytesOut: st.BytesOut.cell(),
		ratePauses: st.RatePauses.cell()}
	l.rate = b.rate
	l.index = len(b.loops)
	b.loops = append(b.loops, l)
	b.mu.Unlock()
	return l
}

// Tick asks every loop to advance its timing wheel. The reactor calls it
// from gnet's OnTick, which does not run on a loop.
func (b *Broker) Tick() {
	b.mu.Lock()
	loops := b.loops
	b.mu.Unlock()
	for _, l := range loops {
		l.exec(l.advance)
	}
	b.checkRelief()
}

// SessionCount is the number of sessions held, connected or not.
func (b *Broker) SessionCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sessions.len()
}

func (b *Broker) assignClientID() string {
	return b.idPrefix + itoa(b.idSeq.Add(1))
}

func itoa(v uint64) string {
	var buf [20]byte
	i := len(buf)
	for {
		i--
		buf[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(buf[i:])
		}
	}
}

// Subscriber is what the router delivers to besides sessions: an inline
// subscription (inline.go), later a cluster link. Deliver is called on a
// router shard's goroutine with each delivery for it and must not block;
// it decides itself what it may hold, and must not keep d.SubIDs past the
// call.
type Subscriber interface {
	router.Client
	Deliver(d router.Delivery)
}

// sink receives the router's deliveries on a shard goroutine and hands each
// to the loop of its session's connection, one inbox lock per run of
// deliveries bound for the same loop, or to its Subscriber. Hooks may
// first drop some (OnSelectSubscribers). It then decides which deliveries
// may be held (admitDeliveries); with a store, the messages for stored
// sessions are then written (storeRouted), so no loop sees one before its
// write is queued and no dropped one is written.
func (b *Broker) sink(ds []router.Delivery) {
	w := routeWorkPool.Get().(*routeWork)
	defer routeWorkPool.Put(w)
	if b.has(OnSelectSubscribers) {
		b.selectSubscribers(w, ds)
	}
	if len(ds) > 0 && ds[0].Stored && b.has(OnACLCheck) {
		b.aclRetained(w, ds)
	}
	b.admitDeliveries(w, ds)
	w.seqs = w.seqs[:0]
	if b.opts.Store != nil {
		b.storeRouted(w, ds)
	}
	// Deliveries for connected sessions are grouped by their loop, so
	// that each loop's inbox is locked once per call however the trie
	// interleaves its subscribers (a fan-out alternates loops at nearly
	// every delivery).
	for i := range ds {
		if w.skip[i] {
			continue
		}
		s, ok := ds[i].Client.(*Session)
		if !ok {
			ds[i].Client.(Subscriber).Deliver(ds[i])
			continue
		}
		c := s.client.Load()
		if c == nil {
			s.deliverOffline(ds[i], w.seq(i))
			continue
		}
		w.toLoop(c.loop, i)
	}
	for _, l := range w.loops {
		idx := w.dest[l.index]
		l.lockInbox()
		for _, i := range idx {
			l.appendLocked(item{sess: ds[i].Client.(*Session), d: ds[i], seq: w.seq(int(i))})
		}
		l.unlockInbox()
		w.dest[l.index] = idx[:0]
	}
	clear(w.loops)
	w.loops = w.loops[:0]
	if len(ds) > 0 && ds[0].Stored && b.has(OnRetainPublished) {
		b.retainPublished(w, ds)
	}
	w.drop = nil
}

// selectSubscribers runs the OnSelectSubscribers hooks over each message's
// deliveries in ds and marks those they drop in w.drop.
func (b *Broker) selectSubscribers(w *routeWork, ds []router.Delivery) {
	w.drop = make([]bool, len(ds))
	for i := 0; i < len(ds); {
		j := i + 1
		for j < len(ds) && ds[j].Msg == ds[i].Msg {
			j++
		}
		rs := make([]Recipient, 0, j-i)
		for k := i; k < j; k++ {
			rs = append(rs, Recipient{ClientID: ds[k].Client.ClientID(), QoS: ds[k].QoS, SubIDs: ds[k].SubIDs})
		}
		pk := publishView(ds[i].Msg)
		for _, e := range b.hooks.load().by[OnSelectSubscribers] {
			in := rs
			if b.callOne(e, OnSelectSubscribers, func(h Hook) { rs = h.OnSelectSubscribers(pk, in) }) {
				rs = in
			}
		}
		keep := make(map[string]int, len(rs))
		for _, r := range rs {
			keep[r.ClientID]++
		}
		for k := i; k < j; k++ {
			id := ds[k].Client.ClientID()
			if keep[id] > 0 {
				keep[id]--
			} else {
				w.drop[k] = true
				b.drop(DropRejected)
			}
		}
		i = j
	}
}

// retainPublished fires OnRetainPublished for the retained messages of a
// new subscription that were passed on.
func (b *Broker) retainPublished(w *routeWork, ds []router.Delivery) {
	for i := range ds {
		if w.skip[i] || !ds[i].Stored {
			continue
		}
		cl := ClientInfo{ID: ds[i].Client.ClientID()}
		if s, ok := ds[i].Client.(*Session); ok {
			cl = s.whoOf()
		}
		pk := publishView(ds[i].Msg)
		b.call(OnRetainPublished, func(h Hook) { h.OnRetainPublished(cl, pk) })
	}
}

// forgetSessionLocked removes s from the registry if it is the session
// registered under its id, and from the persistent sessions' count; s.mu
// is held.
func (b *Broker) forgetSessionLocked(s *Session) {
	b.sessions.remove(s)
	b.countLocked(s, false)
}

// addSessionLocked registers s under its id.
func (b *Broker) addSessionLocked(s *Session) { b.sessions.put(s) }

// retainedExpired runs on a router shard when it deleted an expired
// retained message, for the hooks. The store's copy stays (Restore skips
// expired ones): a delete queued from here could overtake the write of a
// newer message for the topic, queued by a loop before it was routed.
func (b *Broker) retainedExpired(topic string) {
	if b.has(OnRetainedExpired) {
		b.call(OnRetainedExpired, func(h Hook) { h.OnRetainedExpired(topic) })
	}
}

// aclRetained asks the ACL hooks whether each session may read the
// retained messages its new subscription matched: the subscription's
// filter was allowed, but a message under it may not be (a filter "a/#"
// allowed, a topic "a/secret" denied). A denied one is dropped and
// counted; one whose answer comes later is delivered then, on its own.
func (b *Broker) aclRetained(w *routeWork, ds []router.Delivery) {
	if w.drop == nil {
		w.drop = make([]bool, len(ds))
	}
	for i := range ds {
		s, ok := ds[i].Client.(*Session)
		if !ok || w.drop[i] {
			continue
		}
		// The delivery as a late answer would deliver it, alone: its own
		// copy (ds is the router's, reused after this call), not Stored,
		// so that it is not asked about again.
		d := ds[i]
		d.SubIDs, d.Stored = append([]uint32(nil), d.SubIDs...), false
		deny := func() {
			b.Stats.ACLDenied.Add(1)
			s.dropped(d.Msg, DropNotAuthorized)
		}
		allow, settled := b.decideFor(s.whoOf(), d.Msg.Topic, false, func(allow bool) {
			if allow {
				b.sink([]router.Delivery{d})
			} else {
				deny()
			}
		})
		switch {
		case !settled:
			w.drop[i] = true // for now: see above
		case !allow:
			deny()
			w.drop[i] = true
		}
	}
}
