package session

import "sync"

// CounterStore is the part of Store that keeps the broker's cumulative
// counters, so that $SYS totals continue across a restart instead of
// starting again from zero.
type CounterStore interface {
	// PutCounters replaces the stored counters with c.
	PutCounters(c Counters)
}

// Counters are the cumulative Stats, as stored. Gauges (clients connected,
// messages in flight, sessions, subscriptions, retained messages) are not
// here: Restore rebuilds what they count. Nor is uptime, which is the
// process's.
type Counters struct {
	Connections   int64 // CONNECTs accepted
	MessagesIn    int64 // $SYS/broker/messages/received
	MessagesOut   int64 // $SYS/broker/messages/sent
	BytesIn       int64 // $SYS/broker/bytes/received
	BytesOut      int64 // $SYS/broker/bytes/sent
	Dropped       int64 // $SYS/broker/publish/messages/dropped
	ProtocolFails int64 // connections closed for a protocol violation
	MaxConnected  int64 // $SYS/broker/clients/maximum, a high-water mark
	ReadPauses    int64 // $SYS/broker/publish/reads/paused
	// Drops are Dropped by cause: $SYS/broker/publish/messages/dropped/NAME.
	Drops [dropCauses]int64
}

// counterSaver remembers what was last stored, so that an idle broker
// writes nothing.
type counterSaver struct {
	mu   sync.Mutex
	last Counters
	// loaded is set once Restore has added the stored counters back.
	// Before that the live ones start from zero, and storing them would
	// overwrite the totals Restore has yet to read.
	loaded bool
}

// Counters reads the cumulative counters now.
func (s *Stats) Counters() Counters {
	return Counters{
		Connections:   s.Connections.Load(),
		MessagesIn:    s.MessagesIn.Load(),
		MessagesOut:   s.MessagesOut.Load(),
		BytesIn:       s.BytesIn.Load(),
		BytesOut:      s.BytesOut.Load(),
		Dropped:       s.Dropped.Load(),
		ProtocolFails: s.ProtocolFails.Load(),
		MaxConnected:  s.MaxConnected.Load(),
		ReadPauses:    s.ReadPauses.Load(),
		Drops:         s.dropCounts(),
	}
}

func (s *Stats) dropCounts() (d [dropCauses]int64) {
	for c := range d {
		d[c] = s.Drops[c].Load()
	}
	return d
}

// restoreCounters adds stored totals to the live counters; the high-water
// mark is raised to the stored one instead.
func (b *Broker) restoreCounters(c Counters) {
	st := &b.Stats
	st.Connections.Add(c.Connections)
	st.MessagesIn.Add(c.MessagesIn)
	st.MessagesOut.Add(c.MessagesOut)
	st.BytesIn.Add(c.BytesIn)
	st.BytesOut.Add(c.BytesOut)
	st.Dropped.Add(c.Dropped)
	st.ProtocolFails.Add(c.ProtocolFails)
	st.ReadPauses.Add(c.ReadPauses)
	for i, n := range c.Drops {
		st.Drops[i].Add(n)
	}
	st.raiseMaxConnected(c.MaxConnected)
}

// markCountersLoaded lets saveCounters store from now on; Restore calls it
// once it has added the stored totals back.
func (b *Broker) markCountersLoaded(stored Counters) {
	b.saver.mu.Lock()
	b.saver.loaded, b.saver.last = true, stored
	b.saver.mu.Unlock()
	if b.sys != nil {
		// The first $SYS values went out before Restore; correct them before
		// the listeners open rather than an interval later.
		b.sys.refresh()
	}
}

// saveCounters stores the counters if they changed since last stored. The
// $SYS publisher calls it each interval and Close once more at the end, so
// a crash loses at most one interval of counting.
func (b *Broker) saveCounters() {
	st := b.opts.Store
	if st == nil {
		return
	}
	v := &b.saver
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.loaded {
		return
	}
	c := b.Stats.Counters()
	if c == v.last {
		return
	}
	st.PutCounters(c)
	v.last = c
}

// refresh makes the publisher tick now, off its schedule, and waits for it.
func (p *sysPublisher) refresh() {
	done := make(chan struct{})
	select {
	case p.kick <- done:
		<-done
	case <-p.done:
	}
}
