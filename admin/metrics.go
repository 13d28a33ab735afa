package admin

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	loom "github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/proto"
)

// Metrics serves srv's metrics in the Prometheus text format: the broker's
// from one Stats snapshot per scrape, and the Go runtime's and the
// process's. They are kept in a registry of their own, not the global
// default one, so an embedder's metrics and a second broker's stay apart.
// Every metric is listed in the README's Metrics section (a test keeps the
// two the same).
func Metrics(srv *loom.Server) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister( // fixed collectors with distinct names: cannot fail
		brokerCollector{srv: srv},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		// A metric that cannot be built is left out and said in the
		// scrape's log, not a failed scrape of all the others.
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// brokerCollector turns a loom.Stats snapshot into constant metrics at each
// scrape: the broker's counters live in its event loops and are summed
// when read, so nothing is kept here between scrapes.
type brokerCollector struct{ srv *loom.Server }

// metric is one metric of the broker: its description, its type, and the
// values it has in a snapshot (one per label value, in labels' order).
type metric struct {
	desc   *prometheus.Desc
	kind   prometheus.ValueType
	values func(st *loom.Stats) []labelled
}

type labelled struct {
	value  float64
	labels []string // nil when the metric has none
}

func one(v int64) []labelled { return []labelled{{value: float64(v)}} }

// byQoS gives one value per QoS, labelled qos="0", "1", "2".
func byQoS(v [3]int64) []labelled {
	return []labelled{{float64(v[0]), []string{"0"}}, {float64(v[1]), []string{"1"}}, {float64(v[2]), []string{"2"}}}
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("loom_"+name, help, labels, nil)
}

var (
	gauge   = prometheus.GaugeValue
	counter = prometheus.CounterValue
)

// versions are the protocol versions of Stats.ConnectedByVersion, named as
// the admin API names a client's version.
var versions = [3]string{proto.V31.String(), proto.V311.String(), proto.V5.String()}

var brokerMetrics = []metric{
	{desc("clients_connected", "Clients with a completed CONNECT, by protocol version.", "version"), gauge,
		func(st *loom.Stats) []labelled {
			out := make([]labelled, len(versions))
			for i, v := range versions {
				out[i] = labelled{float64(st.ConnectedByVersion[i]), []string{v}}
			}
			return out
		}},
	{desc("clients_connected_max", "The most clients connected at once (a high-water mark, kept across restarts with a store)."), gauge,
		func(st *loom.Stats) []labelled { return one(st.MaxConnected) }},
	{desc("connections_open", "Network connections open, those that have not completed CONNECT included."), gauge,
		func(st *loom.Stats) []labelled { return one(st.OpenConnections) }},
	{desc("connections_total", "CONNECTs accepted (kept across restarts with a store)."), counter,
		func(st *loom.Stats) []labelled { return one(st.TotalConnections) }},
	{desc("connections_refused_total", "Connections refused before MQTT began, by cause: preconnect (Limits.MaxConnectSize or PreConnectBudget), tls (failed handshake), websocket (upgrade or frame refused), proxy (no valid PROXY header).", "cause"), counter,
		func(st *loom.Stats) []labelled {
			return []labelled{
				{float64(st.PreConnectRefused), []string{"preconnect"}},
				{float64(st.TLSFailures), []string{"tls"}},
				{float64(st.WebSocketRefused), []string{"websocket"}},
				{float64(st.ProxyRefused), []string{"proxy"}},
			}
		}},
	{desc("protocol_errors_total", "Connections closed for a protocol violation."), counter,
		func(st *loom.Stats) []labelled { return one(st.ProtocolFailures) }},
	{desc("auth_failures_total", "CONNECTs whose credentials were refused."), counter,
		func(st *loom.Stats) []labelled { return one(st.AuthFailures) }},
	{desc("acl_denied_total", "PUBLISH packets, subscriptions, wills and retained messages an ACL refused."), counter,
		func(st *loom.Stats) []labelled { return one(st.ACLDenied) }},
	{desc("hook_panics_total", "Hook calls that panicked and were recovered."), counter,
		func(st *loom.Stats) []labelled { return one(st.HookPanics) }},
	{desc("sessions", "Sessions, online and offline."), gauge,
		func(st *loom.Stats) []labelled { return one(int64(st.Sessions)) }},
	{desc("sessions_persistent", "Sessions that outlive their connection."), gauge,
		func(st *loom.Stats) []labelled { return one(int64(st.PersistentSessions)) }},
	{desc("sessions_refused_total", "New persistent sessions turned down at Limits.MaxPersistentSessions."), counter,
		func(st *loom.Stats) []labelled { return one(st.RefusedSessions) }},
	{desc("messages_in_total", "PUBLISH messages received, by QoS (wills and the inline client's included).", "qos"), counter,
		func(st *loom.Stats) []labelled { return byQoS(st.MessagesInByQoS) }},
	{desc("messages_out_total", "PUBLISH messages sent, by the QoS they were sent with.", "qos"), counter,
		func(st *loom.Stats) []labelled { return byQoS(st.MessagesOutByQoS) }},
	{desc("publish_bytes_in_total", "Bytes of the PUBLISH packets received from clients, by QoS.", "qos"), counter,
		func(st *loom.Stats) []labelled { return byQoS(st.PublishBytesIn) }},
	{desc("publish_bytes_out_total", "Bytes of the PUBLISH packets sent to clients, by QoS.", "qos"), counter,
		func(st *loom.Stats) []labelled { return byQoS(st.PublishBytesOut) }},
	{desc("bytes_in_total", "Bytes of all packets read from clients (kept across restarts with a store)."), counter,
		func(st *loom.Stats) []labelled { return one(st.BytesIn) }},
	{desc("bytes_out_total", "Bytes written to clients (kept across restarts with a store)."), counter,
		func(st *loom.Stats) []labelled { return one(st.BytesOut) }},
	{desc("messages_dropped_total", "Messages bound for a subscriber and not delivered, by cause.", "cause"), counter,
		func(st *loom.Stats) []labelled {
			d := st.Drops
			return []labelled{
				{float64(d.QueueFull), []string{"queue_full"}},
				{float64(d.SessionBytes), []string{"session_bytes"}},
				{float64(d.Budget), []string{"budget"}},
				{float64(d.SlowReader), []string{"slow_reader"}},
				{float64(d.Expired), []string{"expired"}},
				{float64(d.TooLarge), []string{"too_large"}},
				{float64(d.NotAuthorized), []string{"not_authorized"}},
				{float64(d.Rejected), []string{"rejected"}},
			}
		}},
	{desc("messages_inflight", "Outbound QoS 1 and 2 messages awaiting acknowledgement."), gauge,
		func(st *loom.Stats) []labelled { return one(st.Inflight) }},
	{desc("messages_queued", "Messages waiting in sessions' queues, past their inflight window or offline."), gauge,
		func(st *loom.Stats) []labelled { return one(st.Queued) }},
	{desc("held_bytes", "Bytes held for subscribers (queued, in flight, spooled): what Limits.MemoryBudget bounds."), gauge,
		func(st *loom.Stats) []labelled { return one(st.HeldBytes) }},
	{desc("spool_bytes", "The part of held_bytes spooled for slow readers outside Go's heap."), gauge,
		func(st *loom.Stats) []labelled { return one(st.SpoolBytes) }},
	{desc("publish_rate_pauses_total", "Times a client's reading stopped because it published past Limits.PublishRate or PublishByteRate (back-pressure)."), counter,
		func(st *loom.Stats) []labelled { return one(st.PublishRatePauses) }},
	{desc("read_pauses_total", "Times the broker stopped reading publishers because its backlog passed Limits.IngestBacklog (back-pressure)."), counter,
		func(st *loom.Stats) []labelled { return one(st.ReadPauses) }},
	{desc("subscriptions", "Subscriptions, a shared group's members one each."), gauge,
		func(st *loom.Stats) []labelled { return one(int64(st.Subscriptions)) }},
	{desc("shared_groups", "Distinct ($share group, filter) pairs."), gauge,
		func(st *loom.Stats) []labelled { return one(int64(st.SharedGroups)) }},
	{desc("retained_messages", "Retained messages stored."), gauge,
		func(st *loom.Stats) []labelled { return one(int64(st.Retained)) }},
	{desc("uptime_seconds", "Seconds since the broker was made."), gauge,
		func(st *loom.Stats) []labelled { return []labelled{{value: st.Uptime.Seconds()}} }},
}

// The metrics of each listener, labelled with its ID (Server.ListenerStats).
var (
	listenerConnectedDesc = desc("listener_clients_connected",
		"Clients with a completed CONNECT through the listener, by protocol version.", "listener", "version")
	listenerRefusedDesc = desc("listener_refused_total",
		"CONNECTs the listener refused, by cause: cap (its MaxClients or Limits.MaxClients; v5 CONNACK 0x97), rate (past its ConnectRate; v5 CONNACK 0x9F).", "listener", "cause")
	listenerMaxDesc = desc("listener_max_clients",
		"The listener's client cap (MaxClients); 0 when it has none of its own.", "listener")
)

// collectListeners sends each listener's metrics.
func (c brokerCollector) collectListeners(ch chan<- prometheus.Metric) {
	send := func(d *prometheus.Desc, kind prometheus.ValueType, v float64, labels ...string) {
		pm, err := prometheus.NewConstMetric(d, kind, v, labels...)
		if err != nil {
			pm = prometheus.NewInvalidMetric(d, err)
		}
		ch <- pm
	}
	for _, l := range c.srv.ListenerStats() {
		for i, n := range [3]int64{l.ConnectedV31, l.ConnectedV311, l.ConnectedV5} {
			send(listenerConnectedDesc, gauge, float64(n), l.ID, versions[i])
		}
		send(listenerRefusedDesc, counter, float64(l.RefusedAtCap), l.ID, "cap")
		send(listenerRefusedDesc, counter, float64(l.RefusedForRate), l.ID, "rate")
		send(listenerMaxDesc, gauge, float64(l.MaxClients), l.ID)
	}
}

var (
	storeCommitDesc = desc("store_commit_duration_seconds",
		"Time of the store's commits, each a batch of changes written to its log, with the fsync the sync policy makes then.")
	storeSyncDesc = desc("store_sync_duration_seconds",
		"Time of the store's fsyncs of its log made apart from a commit (sync policy interval).")
)

// Describe implements prometheus.Collector.
func (c brokerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range brokerMetrics {
		ch <- m.desc
	}
	ch <- storeCommitDesc
	ch <- storeSyncDesc
	ch <- listenerConnectedDesc
	ch <- listenerRefusedDesc
	ch <- listenerMaxDesc
}

// Collect implements prometheus.Collector: one snapshot for every metric,
// so that they agree with one another.
func (c brokerCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.srv.Stats()
	c.collectListeners(ch)
	for _, m := range brokerMetrics {
		for _, v := range m.values(&st) {
			pm, err := prometheus.NewConstMetric(m.desc, m.kind, v.value, v.labels...)
			if err != nil {
				pm = prometheus.NewInvalidMetric(m.desc, err)
			}
			ch <- pm
		}
	}
	// Without a store that times its commits there is no histogram:
	// leaving it out says so, where zeros would claim commits were fast.
	for _, h := range []struct {
		desc *prometheus.Desc
		lat  loom.Latency
	}{{storeCommitDesc, st.StoreCommits}, {storeSyncDesc, st.StoreSyncs}} {
		if len(h.lat.Bounds) == 0 {
			continue
		}
		if len(h.lat.Counts) != len(h.lat.Bounds) {
			ch <- prometheus.NewInvalidMetric(h.desc, fmt.Errorf("%d bucket counts for %d bounds", len(h.lat.Counts), len(h.lat.Bounds)))
			continue
		}
		buckets := make(map[float64]uint64, len(h.lat.Bounds))
		for i, b := range h.lat.Bounds {
			buckets[b.Seconds()] = h.lat.Counts[i]
		}
		pm, err := prometheus.NewConstHistogram(h.desc, h.lat.Count, h.lat.Sum.Seconds(), buckets)
		if err != nil {
			pm = prometheus.NewInvalidMetric(h.desc, err)
		}
		ch <- pm
	}
}
