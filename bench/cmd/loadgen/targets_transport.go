package main

import "fmt"

// The targets of issue 19 (TLS and WebSocket listeners), as ratios to
// Mosquitto, on runs over each transport: idle memory per connection, and
// throughput with every message delivered. Plain TCP keeps the targets of
// issue 5 above.

// transportGoal is what issue 19 asks of one transport.
type transportGoal struct {
	transport, name string
	// idleMax: Loom's RSS per idle connection at most this × Mosquitto's.
	idleMax float64
}

var transportGoals = []transportGoal{
	{transportTLS, "TLS", 0.6},
	{transportWS, "WebSocket", 0.3},
}

// throughputMin: received (delivered) msg/s at least this × Mosquitto's
// over TLS and WebSocket.
const throughputMin = 3

func transportTargets(rs []result) []target {
	var ts []target
	for _, g := range transportGoals {
		// TLS runs count with the default ClientHello (X25519 alone);
		// -tls-go-curves runs are reported in the full table only.
		extra := []any{"transport", g.transport}
		if g.transport == transportTLS {
			extra = append(extra, "tls_curves", "x25519")
		}
		on := func(mode string, kv ...any) sel { return is(mode, append(kv, extra...)...) }
		for _, v := range []int{4, 5} {
			_, hi, ok := idleSizes(rs, v, extra...)
			if !ok {
				continue
			}
			pv := map[int]string{4: "3.1.1", 5: "5.0"}[v]
			big := on("idle", "version", v, "n", hi)
			ts = append(ts,
				target{name: fmt.Sprintf("%s: idle memory, MQTT %s", g.name, pv),
					figure: fmt.Sprintf("RSS per idle connection at %.0f (B)", hi),
					want:   fmt.Sprintf("≤ %g× Mosquitto", g.idleMax), value: med(big, "rss_per_conn_bytes"), vsB: true, op: '<', x: g.idleMax},
				target{name: fmt.Sprintf("%s: connect rate, MQTT %s", g.name, pv),
					figure: fmt.Sprintf("connections/s, %.0f clients", hi),
					want:   "beside Mosquitto's", value: med(big, "connect_per_s"), vsB: true},
			)
		}
		want := fmt.Sprintf("≥ %d× Mosquitto", throughputMin)
		fan := on("fanout", "qos", 0)
		ts = append(ts,
			target{name: g.name + ": fan-out", figure: "delivered msg/s", want: want,
				value: med(fan, "recv_per_s"), vsB: true, op: '>', x: throughputMin},
			target{name: g.name + ": fan-out", figure: "delivery ratio", want: "1 (all delivered)",
				value: med(fan, "delivery_ratio"), op: '>', x: 1})
		for _, q := range []int{0, 1} {
			s := both(on("pubsub", "qos", q, "clients", 10, "rate", 0), flagged("persistent", false))
			name := fmt.Sprintf("%s: pubsub QoS %d, C=10", g.name, q)
			ts = append(ts,
				target{name: name, figure: "received msg/s", want: want,
					value: med(s, "recv_per_s"), vsB: true, op: '>', x: throughputMin},
				target{name: name, figure: "delivery ratio", want: "1 (all delivered)",
					value: med(s, "delivery_ratio"), op: '>', x: 1})
		}
	}
	return ts
}
