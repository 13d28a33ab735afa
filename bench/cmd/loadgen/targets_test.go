package main

import (
	"math"
	"strings"
	"testing"
)

// targetRuns is a small set of runs of both brokers covering a few targets.
const targetRuns = `{"mode":"idle","label":"loom","params":{"version":4,"n":2000},"figures":{"rss_per_conn_bytes":800}}
{"mode":"idle","label":"loom","params":{"version":4,"n":19000},"figures":{"rss_per_conn_bytes":700,"rss_after_ratio":1.5,"connect_per_s":20000}}
{"mode":"idle","label":"loom","params":{"version":4,"n":19000},"figures":{"rss_per_conn_bytes":900,"rss_after_ratio":1.02,"connect_per_s":10000}}
{"mode":"idle","label":"mosquitto","params":{"version":4,"n":19000},"figures":{"rss_per_conn_bytes":736,"rss_after_ratio":1.01,"connect_per_s":9000}}
{"mode":"fanout","label":"loom","params":{"qos":0},"figures":{"recv_per_s":200}}
{"mode":"fanout","label":"mosquitto","params":{"qos":0},"figures":{"recv_per_s":100}}
{"mode":"pubsub","label":"loom","params":{"qos":0,"clients":10,"rate":0},"figures":{"recv_per_s":300,"delivery_ratio":1}}
{"mode":"pubsub","label":"mosquitto","params":{"qos":0,"clients":10,"rate":0},"figures":{"recv_per_s":100,"delivery_ratio":1}}
{"mode":"pubsub","label":"loom","params":{"qos":0,"clients":10,"rate":500},"figures":{"lat_p50_ms":1,"lat_p99_ms":2}}
{"mode":"pubsub","label":"loom","params":{"qos":1,"clients":10,"rate":0},"figures":{"recv_per_s":300,"pub_per_s":300,"delivery_ratio":1}}
{"mode":"pubsub","label":"mosquitto","params":{"qos":1,"clients":10,"rate":0},"figures":{"recv_per_s":100,"pub_per_s":100,"delivery_ratio":1}}
{"mode":"pubsub","label":"loom","params":{"qos":1,"clients":10,"rate":0,"persistent":true},"figures":{"recv_per_s":50,"pub_per_s":50,"delivery_ratio":1}}
{"mode":"pubsub","label":"mosquitto","params":{"qos":1,"clients":10,"rate":0,"persistent":true},"figures":{"recv_per_s":80,"pub_per_s":80,"delivery_ratio":1}}
{"mode":"slow","label":"loom","params":{"slow":true},"figures":{"recv_per_s":95,"rss_peak_bytes":10485760,"sys_dropped":5,"rss_released_bytes":3145728}}
{"mode":"slow","label":"loom","params":{"slow":false},"figures":{"recv_per_s":100,"rss_peak_bytes":8388608}}
{"mode":"slow","label":"loom","params":{"slow":true,"reads":true},"figures":{"recv_per_s":90,"rss_peak_bytes":4194304}}
{"mode":"slow","label":"loom","params":{"slow":true,"reads":false},"figures":{"recv_per_s":97,"rss_peak_bytes":14680064,"rss_released_bytes":6291456}}
{"mode":"slow","label":"mosquitto","params":{"slow":true,"reads":false},"figures":{"rss_released_bytes":0}}
{"mode":"exhaust","label":"loom","params":{},"figures":{"pass":0}}
{"mode":"exhaust","label":"mosquitto","params":{},"figures":{"pass":1}}
`

func TestEvalTargets(t *testing.T) {
	rs, err := readResults(strings.NewReader(targetRuns))
	if err != nil {
		t.Fatal(err)
	}
	rows := evalTargets(rs, "loom", "mosquitto", "")
	find := func(name, figPrefix string) targetRow {
		t.Helper()
		for _, r := range rows {
			if r.Name == name && strings.HasPrefix(r.Figure, figPrefix) {
				return r
			}
		}
		t.Fatalf("no row %q / %q in %+v", name, figPrefix, rows)
		return targetRow{}
	}
	nan := math.NaN()
	tests := []struct {
		name, fig string
		a, b      float64 // NaN: absent
		met       int
	}{
		// The median of 700 and 900 is 800, above Mosquitto's 736.
		{"Idle memory, MQTT 3.1.1", "RSS per idle", 800, 736, 0},
		// 800 at 19,000 over 800 at 2,000: flat counts as met.
		{"Idle memory flat, MQTT 3.1.1", "per-connection", 1, nan, 1},
		{"Idle memory given back, MQTT 3.1.1", "RSS after", 1.26, 1.01, 0},
		{"Connect rate, MQTT 3.1.1", "connections/s", 15000, 9000, 1},
		{"Fan-out", "delivered", 200, 100, 0}, // 2×, not 3×
		{"Pubsub QoS 0, C=10", "received", 300, 100, 1},
		{"Pubsub QoS 0, C=10", "delivery", 1, 1, 1},
		{"Latency at 50% of Loom's peak", "p99", 2, nan, -1},
		// The persistent runs are their own target, not mixed into the
		// in-memory one: 300 vs 100 met there, 50 vs 80 not met here.
		{"Pubsub QoS 1, C=10", "received", 300, 100, 1},
		{"Pubsub QoS 1, C=10, persistent sessions, stored", "received", 50, 80, 0},
		{"Pubsub QoS 1, C=10, persistent sessions, stored", "delivery", 1, 1, 1},
		// The stalled runs are the one without "reads" (older runs) and the
		// one with reads=false: medians 96 msg/s and 12 MiB; the reading
		// one is the control, never counted as stalled.
		{"Slow consumer", "healthy", 0.96, nan, 1},
		// Given back: the median of 3 and 6 MiB is 4.5, over the 4 MiB
		// limit; Mosquitto's 0 is reported beside it.
		{"Slow consumer", "RSS the broker gave back", 4.5, 0, 0},
		{"Slow consumer", "peak RSS with it − with a reading", 8, nan, -1},
		{"Slow consumer", "peak RSS with it − without", 4, nan, -1},
		{"Slow consumer", "drops", 5, nan, 1},
		{"Descriptor exhaustion", "excess", 0, 1, 0},
	}
	for _, tt := range tests {
		r := find(tt.name, tt.fig)
		if !same(r.A, tt.a) || !same(r.B, tt.b) || r.Met != tt.met {
			t.Errorf("%s / %s: a %v b %v met %d; want a %v b %v met %d", tt.name, tt.fig, r.A, r.B, r.Met, tt.a, tt.b, tt.met)
		}
	}
	// Nothing ran: no row.
	for _, r := range rows {
		if r.Name == "Connection storm" || r.Name == "Pubsub QoS 2, C=10" {
			t.Errorf("row without runs: %+v", r)
		}
	}
}

func same(x, y float64) bool {
	if math.IsNaN(x) || math.IsNaN(y) {
		return math.IsNaN(x) && math.IsNaN(y)
	}
	return math.Abs(x-y) < 1e-9
}

func TestWriteTargetsAndChart(t *testing.T) {
	rs, err := readResults(strings.NewReader(targetRuns))
	if err != nil {
		t.Fatal(err)
	}
	var md strings.Builder
	if err := writeTargets(&md, "T", "loom", "mosquitto", "", rs); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| Fan-out | delivered msg/s | 200 | 100 | 2.00 | ≥ 3× Mosquitto | not met |",
		"| Connect rate, MQTT 3.1.1 | connections/s, 19000 clients | 15,000 | 9,000 | 1.67 | > 1× Mosquitto | met |",
		// A Loom-only target shows no ratio.
		"| Slow consumer | drops counted in $SYS ($SYS/broker/publish/messages/dropped) | 5 | – | – | > 0 | met |",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("missing row %q in:\n%s", want, md.String())
		}
	}

	var svg strings.Builder
	if err := writeChart(&svg, "a <b>", "loom", "mosquitto", "", evalTargets(rs, "loom", "mosquitto", "")); err != nil {
		t.Fatal(err)
	}
	s := svg.String()
	if !strings.HasPrefix(s, "<svg ") || !strings.HasSuffix(s, "</svg>\n") {
		t.Fatalf("not one svg element:\n%s", s)
	}
	if !strings.Contains(s, "a &lt;b&gt;") {
		t.Error("title not escaped")
	}
	// One bar per target against Mosquitto with both brokers measured:
	// idle memory, connect rate, fan-out, pubsub QoS 0 received, QoS 1
	// published and received, in memory and stored (the background is the
	// one other rect).
	if got := strings.Count(s, "<rect ") - 1; got != 8 {
		t.Errorf("%d bars, want 8\n%s", got, s)
	}
	// Fan-out at 2× misses its 3× target: red.
	if !strings.Contains(s, `fill="#c62828"`) {
		t.Error("no bar drawn as missed")
	}
}

func TestKVFlags(t *testing.T) {
	tests := []struct {
		in      string
		wantKey string
		wantVal any
		wantErr bool
	}{
		{"clients=10", "clients", 10.0, false},
		{"slow=true", "slow", true, false},
		{"rate=0.5", "rate", 0.5, false},
		{"noequals", "", nil, true},
		{"qos=high", "", nil, true},
	}
	for _, tt := range tests {
		var k kvFlags
		err := k.Set(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("Set(%q) error %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if err == nil && (k[0] != tt.wantKey || k[1] != tt.wantVal) {
			t.Errorf("Set(%q) = %v, want %s=%v", tt.in, k, tt.wantKey, tt.wantVal)
		}
	}
}
