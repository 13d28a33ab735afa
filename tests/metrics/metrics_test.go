// Package metrics tests the broker's /metrics and top-topics endpoints from
// the outside: a real broker, real Paho clients sending known traffic, and
// the Prometheus text parser reading what is served.
package metrics

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/eclipse/paho.golang/paho"
	mqtt3 "github.com/eclipse/paho.mqtt.golang"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/admin"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/tests/internal/pahotest"
)

// gate refuses the CONNECT of user "intruder" and publishing under
// "deny/": an auth failure and an ACL denial to count.
type gate struct{ loom.HookBase }

func (gate) ID() string { return "gate" }
func (gate) Provides(e loom.Event) bool {
	return e == loom.OnConnectAuthenticate || e == loom.OnACLCheck
}
func (gate) OnConnectAuthenticate(cl loom.ClientInfo, _ *proto.Connect, _ loom.Answer) loom.Verdict {
	if cl.Username == "intruder" {
		return loom.Deny
	}
	return loom.Allow
}
func (gate) OnACLCheck(_ loom.ClientInfo, topic string, write bool, _ loom.Answer) loom.Verdict {
	if write && strings.HasPrefix(topic, "deny/") {
		return loom.Deny
	}
	return loom.Allow
}

// scrape GETs /metrics from h and parses it with the Prometheus text
// parser.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Content-Type"), "text/plain")
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	return fams
}

// value is the value of the sample of family name whose labels are
// exactly labels ("k=v" pairs).
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	f, ok := fams[name]
	require.True(t, ok, "no metric %s", name)
	for _, m := range f.GetMetric() {
		var got []string
		for _, l := range m.GetLabel() {
			got = append(got, l.GetName()+"="+l.GetValue())
		}
		if strings.Join(got, ",") != strings.Join(labels, ",") {
			continue
		}
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue()
		case dto.MetricType_GAUGE:
			return m.GetGauge().GetValue()
		}
		t.Fatalf("%s is a %v", name, f.GetType())
	}
	t.Fatalf("no sample of %s with labels %v", name, labels)
	return 0
}

// size is the size of the whole v5 PUBLISH packet of a message without
// properties: what a Paho client sends and the broker forwards.
func size(topic string, payload int, qos byte) float64 {
	p := proto.Publish{Topic: []byte(topic), QoS: qos, Payload: make([]byte, payload)}
	if qos > 0 {
		p.PacketID = 1
	}
	return float64(p.Size(proto.V5))
}

// TestMetricsCountKnownTraffic: /metrics, parsed as Prometheus parses it,
// counts the traffic that real clients sent: messages and bytes by QoS,
// clients by protocol version, subscriptions, retained and queued
// messages, drops by cause, auth failures, ACL denials, and the store's
// commit latency.
func TestMetricsCountKnownTraffic(t *testing.T) {
	srv, addr := loomtest.Start(t, loom.Options{DataDir: t.TempDir(), SysInterval: -1}, gate{})
	web := httptest.NewServer(admin.Metrics(srv))
	t.Cleanup(web.Close)

	sub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "sub"})
	sub.Sub(t, pahotest.V5Opt("m/#", 2), pahotest.V5Opt("$share/g/s/#", 1))
	// A client that takes packets of at most 40 bytes: a larger message
	// for it is dropped as too_large [MQTT-3.1.2-25].
	limit := uint32(40)
	small, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "small",
		Props: &paho.ConnectProperties{MaximumPacketSize: &limit}})
	small.Sub(t, pahotest.V5Opt("big/#", 1))
	// An offline persistent session: what is published for it waits in
	// its queue (and goes to the store).
	off, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "off", Expiry: 300})
	off.Sub(t, pahotest.V5Opt("q/#", 1))
	require.NoError(t, off.Disconnect(&paho.Disconnect{ReasonCode: 0}))
	loomtest.Eventually(t, "the offline session's client gone", func() bool { return srv.Stats().Connected == 2 })

	v3, _ := pahotest.V3Connect(t, pahotest.V3Options(addr, "v3"))
	pub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "pub"})

	// Refused credentials: CONNACK return code 4 (3.1.1).
	intruder := mqtt3.NewClient(pahotest.V3Options(addr, "x").SetUsername("intruder").SetPassword("guess"))
	tok := intruder.Connect()
	require.True(t, tok.WaitTimeout(loomtest.Wait))
	require.Error(t, tok.Error(), "the gate refuses the intruder")

	var wantIn, wantOut, bytesIn, bytesOut [3]float64
	send := func(topic string, qos byte, payload, n int, delivered bool) {
		for range n {
			pub.Pub(t, &paho.Publish{Topic: topic, QoS: qos, Payload: make([]byte, payload)})
		}
		wantIn[qos] += float64(n)
		bytesIn[qos] += float64(n) * size(topic, payload, qos)
		if delivered {
			wantOut[qos] += float64(n)
			bytesOut[qos] += float64(n) * size(topic, payload, qos)
		}
	}
	send("m/q0", 0, 10, 10, true)
	send("m/q1", 1, 20, 5, true)
	send("m/q2", 2, 30, 3, true)
	send("q/x", 1, 8, 2, false)     // queued for the offline session
	send("big/x", 1, 100, 1, false) // too large for "small"
	// Refused by the ACL: counted in, acknowledged with 0x87, dropped.
	ctx, cancel := context.WithTimeout(context.Background(), loomtest.Wait)
	r, err := pub.Publish(ctx, &paho.Publish{Topic: "deny/x", QoS: 1, Payload: []byte("no")})
	cancel()
	require.Error(t, err, "paho reports the refusal")
	require.NotNil(t, r)
	require.Equal(t, byte(proto.NotAuthorized), r.ReasonCode)
	wantIn[1]++
	bytesIn[1] += size("deny/x", 2, 1)
	// Retained, from the 3.1.1 client; no one subscribes to it.
	pahotest.V3Publish(t, v3, "r/1", 0, true, "kept")
	wantIn[0]++
	// A 3.1.1 PUBLISH has no property length.
	bytesIn[0] += size("r/1", 4, 0) - 1

	sub.RecvN(t, 18)
	loomtest.Eventually(t, "two messages queued", func() bool { return srv.Stats().Queued == 2 })
	loomtest.Eventually(t, "the retained message stored", func() bool { return srv.Stats().Retained == 1 })

	fams := scrape(t, web.URL+"/metrics")
	for q := range 3 {
		qos := fmt.Sprintf("qos=%d", q)
		require.Equal(t, wantIn[q], value(t, fams, "loom_messages_in_total", qos), "in, %s", qos)
		require.Equal(t, wantOut[q], value(t, fams, "loom_messages_out_total", qos), "out, %s", qos)
		require.Equal(t, bytesIn[q], value(t, fams, "loom_publish_bytes_in_total", qos), "bytes in, %s", qos)
		require.Equal(t, bytesOut[q], value(t, fams, "loom_publish_bytes_out_total", qos), "bytes out, %s", qos)
	}
	require.Equal(t, 3.0, value(t, fams, "loom_clients_connected", "version=5.0")) // sub, small, pub
	require.Equal(t, 1.0, value(t, fams, "loom_clients_connected", "version=3.1.1"))
	require.Equal(t, 0.0, value(t, fams, "loom_clients_connected", "version=3.1"))
	require.Equal(t, 4.0, value(t, fams, "loom_connections_open"))
	require.Equal(t, 5.0, value(t, fams, "loom_sessions")) // and off's
	require.Equal(t, 1.0, value(t, fams, "loom_sessions_persistent"))
	require.Equal(t, 4.0, value(t, fams, "loom_subscriptions"))
	require.Equal(t, 1.0, value(t, fams, "loom_shared_groups"))
	require.Equal(t, 1.0, value(t, fams, "loom_retained_messages"))
	require.Equal(t, 2.0, value(t, fams, "loom_messages_queued"))
	require.Equal(t, 0.0, value(t, fams, "loom_messages_inflight"))
	require.Equal(t, 1.0, value(t, fams, "loom_messages_dropped_total", "cause=too_large"))
	require.Equal(t, 1.0, value(t, fams, "loom_messages_dropped_total", "cause=not_authorized"))
	require.Equal(t, 0.0, value(t, fams, "loom_messages_dropped_total", "cause=queue_full"))
	require.Equal(t, 1.0, value(t, fams, "loom_auth_failures_total"))
	require.Equal(t, 1.0, value(t, fams, "loom_acl_denied_total"))
	require.Positive(t, value(t, fams, "loom_uptime_seconds"))
	require.Contains(t, fams, "go_goroutines")
	require.Contains(t, fams, "process_cpu_seconds_total")

	h := fams["loom_store_commit_duration_seconds"].GetMetric()[0].GetHistogram()
	require.Positive(t, h.GetSampleCount(), "the store has committed")
	require.Positive(t, h.GetSampleSum())
	prev := uint64(0)
	for _, b := range h.GetBucket() {
		require.GreaterOrEqual(t, b.GetCumulativeCount(), prev, "buckets are cumulative")
		prev = b.GetCumulativeCount()
	}
	require.LessOrEqual(t, prev, h.GetSampleCount())

	// The offline session resumes: its queue drains into its connection.
	back, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "off", Keep: true, Expiry: 300})
	back.RecvN(t, 2)
	loomtest.Eventually(t, "the queue drained", func() bool { return srv.Stats().Queued == 0 })
	fams = scrape(t, web.URL+"/metrics")
	require.Equal(t, 0.0, value(t, fams, "loom_messages_queued"))
	require.Equal(t, 4.0, value(t, fams, "loom_clients_connected", "version=5.0"))
	require.Equal(t, wantOut[1]+2, value(t, fams, "loom_messages_out_total", "qos=1"))
}
