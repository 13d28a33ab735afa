package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
)

// trafficFlags are the flags fanout and pubsub share.
type trafficFlags struct {
	common
	n      int
	qos    int
	size   int
	rate   float64
	window int
	grace  time.Duration
}

func (f *trafficFlags) register(fs *flag.FlagSet, defaultN int) {
	f.common.register(fs)
	fs.IntVar(&f.n, "n", defaultN, "messages each publisher sends")
	fs.IntVar(&f.qos, "qos", 0, "QoS of publications and subscriptions: 0, 1 or 2")
	fs.IntVar(&f.size, "size", 64, fmt.Sprintf("payload bytes (at least %d: a send timestamp leads it)", stampSize))
	fs.Float64Var(&f.rate, "rate", 0, "messages per second per publisher; 0 sends as fast as the broker takes them")
	fs.IntVar(&f.window, "window", 100, "QoS 1/2 messages in flight per publisher")
	fs.DurationVar(&f.grace, "grace", 2*time.Second, "once publishing is over, stop after deliveries pause this long")
}

func (f *trafficFlags) parse(fs *flag.FlagSet, args []string) error {
	if err := f.common.parse(fs, args); err != nil {
		return err
	}
	switch {
	case f.n < 1:
		return fmt.Errorf("-n must be at least 1")
	case f.qos < 0 || f.qos > 2:
		return fmt.Errorf("-qos must be 0, 1 or 2")
	case f.size < stampSize || f.size > 1<<20:
		return fmt.Errorf("-size must be %d..%d", stampSize, 1<<20)
	case f.rate < 0:
		return fmt.Errorf("-rate must not be negative")
	case f.window < 1 || f.window > 32768:
		return fmt.Errorf("-window must be 1..32768")
	case f.grace <= 0:
		return fmt.Errorf("-grace must be positive")
	}
	return nil
}

// pairs is mqtt-stresser's shape: clients that each publish to their own
// topic, bench/<id>/c<i>, and subscribe to it.
func (f *trafficFlags) pairs(id string, clients int) *traffic {
	t := f.traffic("lg" + id)
	t.subTopics = make([]string, clients)
	for i := range t.subTopics {
		t.subTopics[i] = fmt.Sprintf("bench/%s/c%d", id, i)
	}
	t.pubTopics = t.subTopics
	return t
}

func (f *trafficFlags) traffic(prefix string) *traffic {
	return &traffic{addr: f.addr, v: f.protoVersion(), qos: byte(f.qos), size: f.size, perPub: f.n,
		rate: f.rate, window: f.window, concurrency: f.concurrency, grace: f.grace, idPrefix: prefix}
}

// rateName is the scenario-name suffix of a paced run; -rate is per
// publisher, and the name says so (a bare "rate=42327/s" read as the total).
func (f *trafficFlags) rateName() string {
	if f.rate == 0 {
		return ""
	}
	return fmt.Sprintf(" rate=%g/s each", f.rate)
}

func (f *trafficFlags) params(extra map[string]any) map[string]any {
	p := map[string]any{"n": f.n, "qos": f.qos, "size": f.size, "rate": f.rate, "window": f.window}
	for k, v := range extra {
		p[k] = v
	}
	return p
}

// runFanout: S subscribers on one topic, one publisher.
func runFanout(args []string) error {
	fs := flag.NewFlagSet("fanout", flag.ContinueOnError)
	var f trafficFlags
	f.register(fs, 2000)
	subs := fs.Int("subs", 1000, "subscribers of the one topic")
	if err := f.parse(fs, args); err != nil {
		return err
	}
	if *subs < 1 {
		return fmt.Errorf("-subs must be at least 1")
	}
	id := runID()
	t := f.traffic("lg" + id)
	topic := "bench/" + id + "/fanout"
	t.subTopics = make([]string, *subs)
	for i := range t.subTopics {
		t.subTopics[i] = topic
	}
	t.pubTopics = []string{topic}
	res := newResult("fanout", &f.common,
		fmt.Sprintf("fanout v%d qos%d subs=%d n=%d size=%d%s", f.version, f.qos, *subs, f.n, f.size, f.rateName()),
		f.params(map[string]any{"subs": *subs}))
	return runTrafficMode(&f, t, res)
}

// runPubsub: C clients, each with its own topic, publishing to it and
// subscribed to it (one publishing and one subscribing connection per client,
// as mqtt-stresser does).
func runPubsub(args []string) error {
	fs := flag.NewFlagSet("pubsub", flag.ContinueOnError)
	var f trafficFlags
	f.register(fs, 10000)
	clients := fs.Int("clients", 10, "clients, each a publisher and a subscriber of its own topic")
	persistent := fs.Bool("persistent", false, "subscribers keep persistent sessions (no clean start; v5: "+
		"Session Expiry Interval 3600), removed again at the end of the run")
	if err := f.parse(fs, args); err != nil {
		return err
	}
	if *clients < 1 {
		return fmt.Errorf("-clients must be at least 1")
	}
	id := runID()
	t := f.pairs(id, *clients)
	extra := map[string]any{"clients": *clients}
	suffix := ""
	if *persistent {
		t.subSession = persistentSession
		extra["persistent"] = true
		suffix = " persistent"
	}
	res := newResult("pubsub", &f.common,
		fmt.Sprintf("pubsub v%d qos%d clients=%d n=%d size=%d%s%s", f.version, f.qos, *clients, f.n, f.size, f.rateName(), suffix),
		f.params(extra))
	return runTrafficMode(&f, t, res)
}

func runTrafficMode(f *trafficFlags, t *traffic, res *result) error {
	ctx, cancel := f.context()
	defer cancel()
	r, err := runTraffic(ctx, t)
	if err != nil {
		return err
	}
	reportTraffic(f, t, res, r)
	return res.emit(&f.common)
}

// reportTraffic puts the figures of r into res and prints them.
func reportTraffic(f *trafficFlags, t *traffic, res *result, r *trafficResult) {
	out := f.human()
	p50, p99, maxLat := latencySummary(r.latencies)
	fig := res.Figures
	fig["setup_s"] = r.setup.Seconds()
	fig["published"] = float64(r.published)
	fig["expected"] = float64(r.expected)
	fig["received"] = float64(r.received)
	fig["pub_per_s"] = rate(r.published, r.pubElapsed)
	fig["recv_per_s"] = rate(r.received, r.recvElapsed)
	fig["delivery_ratio"] = 0
	if r.expected > 0 {
		fig["delivery_ratio"] = float64(r.received) / float64(r.expected)
	}
	fig["lat_p50_ms"] = ms(p50)
	fig["lat_p99_ms"] = ms(p99)
	fig["lat_max_ms"] = ms(maxLat)
	if f.qos > 0 {
		res.Params["window"] = r.window
	}
	res.TimedOut = r.timedOut
	res.Errors = r.errs

	name := fmt.Sprintf("%s %s", res.Mode, f.label)
	printf(out, "%s: %s", name, res.Scenario)
	printf(out, "%s: setup %v (%d subscribers, %d publishers)", name, r.setup.Round(time.Millisecond),
		len(t.subTopics), len(t.pubTopics))
	if f.qos > 0 && r.window != f.window {
		printf(out, "%s: in-flight window %d, the broker's Receive Maximum", name, r.window)
	}
	printf(out, "%s: published %d in %v: %.0f msg/s", name, r.published, r.pubElapsed.Round(time.Millisecond), fig["pub_per_s"])
	printf(out, "%s: received %d of %d (%.4f) in %v: %.0f msg/s", name, r.received, r.expected,
		fig["delivery_ratio"], r.recvElapsed.Round(time.Millisecond), fig["recv_per_s"])
	printf(out, "%s: latency p50 %v p99 %v max %v", name, p50.Round(time.Microsecond),
		p99.Round(time.Microsecond), maxLat.Round(time.Microsecond))
	if r.timedOut {
		printf(out, "%s: TIMED OUT after %v", name, f.timeout)
	}
	writeErrors(out, name, r.errs)
}

func writeErrors(w io.Writer, name string, errs []string) {
	if len(errs) > 0 {
		printf(w, "%s: errors: %s", name, strings.Join(errs, "; "))
	}
}
