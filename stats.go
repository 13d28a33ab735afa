package loom

import (
	"time"

	"github.com/loom-mqtt/loom/persist"
	"github.com/loom-mqtt/loom/session"
)

// Stats is a snapshot of the broker's counters and gauges, taken by
// Server.Stats. The cumulative counters (the totals) continue across
// restarts on the same store, as $SYS's do; the gauges say how things are
// now.
type Stats struct {
	// Connected is the number of clients with a completed CONNECT now.
	Connected int64
	// OpenConnections is the number of network connections open now,
	// those that have not completed CONNECT included.
	OpenConnections int64
	// MaxConnected is the most clients connected at once (a high-water mark).
	MaxConnected int64
	// TotalConnections is the number of CONNECTs accepted in all.
	TotalConnections int64
	// Sessions is the number of sessions, online and offline;
	// PersistentSessions those of them that outlive their connection.
	Sessions           int
	PersistentSessions int
	// RefusedSessions counts new persistent sessions turned down at
	// Limits.MaxPersistentSessions.
	RefusedSessions int64

	// MessagesIn and MessagesOut count PUBLISH packets received and sent;
	// BytesIn and BytesOut the bytes of whole packets read and written.
	MessagesIn, MessagesOut int64
	BytesIn, BytesOut       int64
	// Dropped counts the messages bound for a subscriber and not
	// delivered; Drops says why.
	Dropped int64
	Drops   Drops
	// Inflight is the number of outbound QoS 1/2 messages awaiting
	// acknowledgement, all sessions together.
	Inflight int64
	// HeldBytes is what the broker holds for subscribers now, the measure
	// of Limits.MemoryBudget: queued and in-flight messages (each counted
	// once) and SpoolBytes.
	HeldBytes int64
	// SpoolBytes is the part of HeldBytes spooled for slow readers, outside
	// Go's heap.
	SpoolBytes int64
	// ReadPauses counts the times the broker stopped reading publishers
	// because its backlog passed Limits.IngestBacklog.
	ReadPauses int64
	// PreConnectRefused counts connections refused before completing
	// CONNECT, for Limits.MaxConnectSize or Limits.PreConnectBudget.
	PreConnectRefused int64
	// ProtocolFailures counts connections closed for a protocol violation.
	ProtocolFailures int64
	// TLSFailures counts TLS handshakes that failed or timed out;
	// WebSocketRefused the WebSocket upgrades and frames refused (HTTP
	// errors, close codes 1002, 1003, 1009); ProxyRefused the connections
	// on a PROXY protocol listener without a valid header.
	TLSFailures, WebSocketRefused, ProxyRefused int64
	// ACLDenied counts PUBLISH packets, subscriptions, wills and retained
	// messages an ACL hook refused; AuthFailures the CONNECTs whose
	// credentials were refused; HookPanics the hook calls that panicked and
	// were recovered.
	ACLDenied    int64
	AuthFailures int64
	HookPanics   int64

	// Subscriptions counts subscriptions, a shared group's members one
	// each; SharedGroups the distinct ($share group, filter) pairs;
	// Retained the retained messages.
	Subscriptions int
	SharedGroups  int
	Retained      int

	// Uptime is the time since New.
	Uptime time.Duration

	// What the metrics read besides the above (admin.Metrics).
	//
	// MessagesInByQoS and MessagesOutByQoS count PUBLISH packets received
	// and sent, indexed by QoS (out: the QoS sent with); PublishBytesIn
	// and PublishBytesOut the bytes of those packets. Unlike MessagesIn and
	// MessagesOut they count from the start of the process, as Prometheus
	// counters do: a restart does not restore them.
	MessagesInByQoS, MessagesOutByQoS [3]int64
	PublishBytesIn, PublishBytesOut   [3]int64
	// ConnectedByVersion is Connected by protocol version: [0] MQTT 3.1,
	// [1] 3.1.1, [2] 5.0.
	ConnectedByVersion [3]int64
	// Queued is the number of messages waiting in sessions' queues (past
	// their inflight windows, or offline), all sessions together.
	Queued int64
	// StoreCommits is the histogram of the store's commits, each with its
	// fsync where the sync policy makes one then; StoreSyncs that of its
	// fsyncs of the log apart from a commit (SyncInterval). Both are empty
	// (no Bounds) without a DataDir, or with a Store that does not time
	// its commits.
	StoreCommits, StoreSyncs Latency

	// Connection and publish limits. RefusedAtCap counts the CONNECTs
	// refused at Limits.MaxClients or a Listener.MaxClients (v5: CONNACK
	// 0x97), RefusedForRate the connections refused past a
	// Listener.ConnectRate (v5: CONNACK 0x9F); Server.ListenerStats has
	// both per listener. PublishRatePauses counts the times a client's
	// reading stopped because it went past Limits.PublishRate or
	// PublishByteRate.
	RefusedAtCap, RefusedForRate int64
	PublishRatePauses            int64
}

// Latency is a histogram of durations: Counts[i] is the number of
// observations of at most Bounds[i] (cumulative); Count counts them all,
// those above the last bound too, and Sum is their total.
type Latency struct {
	Bounds []time.Duration
	Counts []uint64
	Count  uint64
	Sum    time.Duration
}

// Drops are the messages dropped by cause; they add up to Stats.Dropped.
// $SYS/broker/publish/messages/dropped/NAME publishes each, under the
// names given here.
type Drops struct {
	QueueFull     int64 // queue_full: the session held Limits.MaxQueued messages
	SessionBytes  int64 // session_bytes: the session held Limits.MaxSessionBytes
	Budget        int64 // budget: the broker held Limits.MemoryBudget, largest holders shed first
	SlowReader    int64 // slow_reader: QoS 0 for a connection past Limits.OutboundLimit
	Expired       int64 // expired: its Message Expiry Interval passed while held
	TooLarge      int64 // too_large: larger than its client's Maximum Packet Size
	NotAuthorized int64 // not_authorized: a client's PUBLISH to a $SYS topic, or one an ACL hook refused
	Rejected      int64 // rejected: a hook dropped it
}

// timedStore is a Store that times its commits, as persist.Store does.
type timedStore interface {
	CommitLatency() persist.Latency
	SyncLatency() persist.Latency
}

// spoolBlock is the size of one spool block (session/spool.go): the session
// layer counts the blocks it has mapped.
const spoolBlock = 64 << 10

// Stats takes a snapshot of the broker's counters. It asks every router
// shard for its counts, so it costs a round trip to each: fine once a
// second, not per message.
func (s *Server) Stats() Stats { return s.snapshot(true) }

// snapshot is the one place that reads the broker's counters; the router's
// counts only with routes, as they cost a round trip to every shard.
func (s *Server) snapshot(routes bool) Stats {
	b := s.broker
	c := &b.Stats
	st := Stats{
		Connected:          c.Connected.Load(),
		OpenConnections:    s.reactor.Connections(),
		TLSFailures:        s.reactor.TLSFailed.Load(),
		WebSocketRefused:   s.reactor.WSRefused.Load(),
		ProxyRefused:       s.reactor.ProxyRefused.Load(),
		MaxConnected:       c.MaxConnected.Load(),
		TotalConnections:   c.Connections.Load(),
		Sessions:           b.SessionCount(),
		PersistentSessions: b.PersistentSessions(),
		RefusedSessions:    b.RefusedSessions(),
		MessagesIn:         c.MessagesIn.Load(),
		MessagesOut:        c.MessagesOut.Load(),
		BytesIn:            c.BytesIn.Load(),
		BytesOut:           c.BytesOut.Load(),
		Dropped:            c.Dropped.Load(),
		Drops: Drops{
			QueueFull:     c.Drops[session.DropQueueFull].Load(),
			SessionBytes:  c.Drops[session.DropSessionBytes].Load(),
			Budget:        c.Drops[session.DropBudget].Load(),
			SlowReader:    c.Drops[session.DropSlowReader].Load(),
			Expired:       c.Drops[session.DropExpired].Load(),
			TooLarge:      c.Drops[session.DropTooLarge].Load(),
			NotAuthorized: c.Drops[session.DropNotAuthorized].Load(),
			Rejected:      c.Drops[session.DropRejected].Load(),
		},
		Inflight:          c.Inflight.Load(),
		HeldBytes:         b.HeldBytes(),
		SpoolBytes:        c.SpoolBlocks.Load() * spoolBlock,
		ReadPauses:        c.ReadPauses.Load(),
		PreConnectRefused: c.PreConnectRefused.Load(),
		ProtocolFailures:  c.ProtocolFails.Load(),
		ACLDenied:         c.ACLDenied.Load(),
		AuthFailures:      c.AuthFailures.Load(),
		HookPanics:        c.HookPanics.Load(),
		Uptime:            time.Since(s.born),
		RefusedAtCap:      c.RefusedCap.Load(),
		RefusedForRate:    c.RefusedRate.Load(),
		PublishRatePauses: c.RatePauses.Load(),
	}
	for q := range byte(3) {
		st.MessagesInByQoS[q] = c.MessagesIn.LoadQoS(q)
		st.MessagesOutByQoS[q] = c.MessagesOut.LoadQoS(q)
		st.PublishBytesIn[q] = c.PublishBytesIn.LoadQoS(q)
		st.PublishBytesOut[q] = c.PublishBytesOut.LoadQoS(q)
	}
	// By version: the sum of the listeners' counts (every listener has a
	// gate), not a second count of the same clients.
	for _, g := range s.gates {
		gs := g.Stats()
		st.ConnectedByVersion[0] += gs.V31
		st.ConnectedByVersion[1] += gs.V311
		st.ConnectedByVersion[2] += gs.V5
	}
	st.Queued = c.Queued.Load()
	if t, ok := b.Options().Store.(timedStore); ok {
		st.StoreCommits, st.StoreSyncs = Latency(t.CommitLatency()), Latency(t.SyncLatency())
	}
	if routes {
		r := b.Router().Stats()
		st.Subscriptions, st.SharedGroups, st.Retained = r.Subscriptions, r.SharedGroups, r.Retained
	}
	return st
}
