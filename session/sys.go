package session

import (
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/loom-mqtt/loom/router"
)

// Version is the broker's version, published on $SYS/broker/version.
const Version = "0.1.0-dev"

// The values published under $SYS, in Mosquitto's layout so that existing
// dashboards and `mosquitto_sub -t '$SYS/#'` habits carry over.
const (
	sysUptime = iota
	sysConnected
	sysDisconnected
	sysTotal
	sysMaximum
	sysMsgReceived
	sysMsgSent
	sysBytesReceived
	sysBytesSent
	sysDropped
	sysSubscriptions
	sysRetained
	sysInflight
	sysHeap
	sysSpool
	sysReadPauses
	sysHeld
	sysACLDenied
	sysAuthFailed
	// sysDrops + c is the count of messages dropped for DropCause c.
	sysDrops
)

const sysCount = sysDrops + int(dropCauses)

const sysVersionTopic = "$SYS/broker/version"

var sysTopics = func() [sysCount]string {
	t := sysBaseTopics
	for c := range dropCauses {
		t[sysDrops+int(c)] = sysBaseTopics[sysDropped] + "/" + dropNames[c]
	}
	return t
}()

var sysBaseTopics = [sysCount]string{
	sysUptime:        "$SYS/broker/uptime",
	sysConnected:     "$SYS/broker/clients/connected",
	sysDisconnected:  "$SYS/broker/clients/disconnected",
	sysTotal:         "$SYS/broker/clients/total",
	sysMaximum:       "$SYS/broker/clients/maximum",
	sysMsgReceived:   "$SYS/broker/messages/received",
	sysMsgSent:       "$SYS/broker/messages/sent",
	sysBytesReceived: "$SYS/broker/bytes/received",
	sysBytesSent:     "$SYS/broker/bytes/sent",
	sysDropped:       "$SYS/broker/publish/messages/dropped",
	sysSubscriptions: "$SYS/broker/subscriptions/count",
	sysRetained:      "$SYS/broker/retained messages/count",
	sysInflight:      "$SYS/broker/messages/inflight",
	sysHeap:          "$SYS/broker/heap/current",
	// Loom's own, from Stats.SpoolBlocks (in bytes) and Stats.ReadPauses.
	sysSpool:      "$SYS/broker/spool/bytes",
	sysReadPauses: "$SYS/broker/publish/reads/paused",
	// Broker.HeldBytes: what MemoryBudget bounds.
	sysHeld: "$SYS/broker/held/bytes",
	// Stats.ACLDenied: PUBLISH packets, subscriptions, wills and retained
	// messages an ACL hook refused.
	sysACLDenied: "$SYS/broker/acl/denied",
	// Stats.AuthFailures: CONNECTs whose credentials were refused.
	sysAuthFailed: "$SYS/broker/auth/failed",
}

// isSysTopic reports whether topic lies under $SYS, which only the broker
// publishes to.
func isSysTopic(topic string) bool {
	return len(topic) >= 4 && topic[:4] == "$SYS" && (len(topic) == 4 || topic[4] == '/')
}

// sysPublisher is the broker's one goroutine for $SYS topics. Its messages
// are retained, so a client subscribing to $SYS/# gets the current values at
// once from the retained store, and only values that changed are published
// again: counters of an idle broker send nothing. Everything it reads is an
// atomic, the session registry's size or one router.Stats per tick; it adds
// nothing to the path of a message.
type sysPublisher struct {
	b *Broker
	// uptime and heap are read once per tick; tests pin them. uptime has its
	// own start rather than Broker.now, which tests move under the loops.
	uptime func() time.Duration
	heap   func() uint64
	last   [sysCount]int64
	first  bool // nothing published yet: publish everything

	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
	kick     chan chan struct{} // refresh: tick now, then close the channel sent
}

func newSysPublisher(b *Broker) *sysPublisher {
	start := b.start
	return &sysPublisher{b: b, first: true,
		uptime: func() time.Duration { return time.Since(start) },
		heap:   heapInUse,
		stop:   make(chan struct{}), done: make(chan struct{}),
		kick: make(chan chan struct{})}
}

func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m) // stops the world briefly: once per interval
	return m.HeapAlloc
}

// run publishes at once, so the values exist before the first interval
// ends, then every interval until close.
func (p *sysPublisher) run(every time.Duration) {
	defer close(p.done)
	p.tick()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.tick()
			p.b.saveCounters()
		case d := <-p.kick:
			p.tick()
			close(d)
		}
	}
}

// close stops run and waits for it, so nothing is published into a router
// that is closing.
func (p *sysPublisher) close() {
	p.stopOnce.Do(func() { close(p.stop) })
	<-p.done
}

// snapshot reads every value once.
func (p *sysPublisher) snapshot() [sysCount]int64 {
	b := p.b
	st := &b.Stats
	var v [sysCount]int64
	v[sysUptime] = int64(p.uptime() / time.Second)
	v[sysConnected] = st.Connected.Load()
	v[sysTotal] = int64(b.SessionCount())
	// Connected may briefly count a taken-over connection that is still
	// closing, so the difference can dip below zero.
	v[sysDisconnected] = max(v[sysTotal]-v[sysConnected], 0)
	v[sysMaximum] = b.MaxConnected()
	v[sysMsgReceived] = st.MessagesIn.Load()
	v[sysMsgSent] = st.MessagesOut.Load()
	v[sysBytesReceived] = st.BytesIn.Load()
	v[sysBytesSent] = st.BytesOut.Load()
	v[sysDropped] = st.Dropped.Load()
	rs := b.router.Stats()
	v[sysSubscriptions] = int64(rs.Subscriptions)
	v[sysRetained] = int64(rs.Retained)
	v[sysInflight] = st.Inflight.Load()
	v[sysHeap] = int64(p.heap())
	v[sysSpool] = st.SpoolBlocks.Load() * spoolBlock
	v[sysReadPauses] = st.ReadPauses.Load()
	v[sysHeld] = b.HeldBytes()
	v[sysACLDenied] = st.ACLDenied.Load()
	v[sysAuthFailed] = st.AuthFailures.Load()
	for c := range dropCauses {
		v[sysDrops+int(c)] = st.Drops[c].Load()
	}
	return v
}

// tick publishes the values that changed since the last tick, all of them
// on the first, and reports how many it published.
func (p *sysPublisher) tick() int {
	v := p.snapshot()
	if p.b.has(OnSysInfoTick) {
		info := SysInfo{Uptime: v[sysUptime], Connected: v[sysConnected], Disconnected: v[sysDisconnected],
			Sessions: v[sysTotal], MaxConnected: v[sysMaximum], MessagesReceived: v[sysMsgReceived],
			MessagesSent: v[sysMsgSent], BytesReceived: v[sysBytesReceived], BytesSent: v[sysBytesSent],
			Dropped: v[sysDropped], Subscriptions: v[sysSubscriptions], Retained: v[sysRetained],
			Inflight: v[sysInflight], HeapBytes: v[sysHeap], SpoolBytes: v[sysSpool], HeldBytes: v[sysHeld]}
		p.b.call(OnSysInfoTick, func(h Hook) { h.OnSysInfoTick(info) })
	}
	n := 0
	if p.first {
		p.publish(sysVersionTopic, []byte("loom "+Version))
		n++
	}
	for i := range v {
		if p.first || v[i] != p.last[i] {
			p.publish(sysTopics[i], strconv.AppendInt(nil, v[i], 10))
			n++
		}
	}
	p.last, p.first = v, false
	return n
}

// publish sends one value as the inline client: the one publish path,
// with its hooks, the retained store and the expiry rules.
func (p *sysPublisher) publish(topic string, payload []byte) {
	// Origin "" marks the server, so No Local never hides these.
	_ = p.b.publishInline(&router.Message{Topic: topic, Payload: payload, Retain: true}, fromSys)
}

// raiseMaxConnected lifts the high-water mark of connected clients to n.
func (s *Stats) raiseMaxConnected(n int64) {
	for {
		m := s.MaxConnected.Load()
		if n <= m || s.MaxConnected.CompareAndSwap(m, n) {
			return
		}
	}
}

// MaxConnected is the most clients connected at the same time since the
// broker started.
func (b *Broker) MaxConnected() int64 {
	return b.Stats.MaxConnected.Load()
}
