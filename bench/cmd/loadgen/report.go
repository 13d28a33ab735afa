package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/loom-mqtt/loom/bench/internal/runs"
)

// figure is one row kind of the comparison table.
type figure struct {
	key, name    string
	higherBetter bool
	// ackedOnly: shown only for QoS 1/2. A QoS 0 publish is "done" once
	// the kernel's socket buffer takes it, so its rate says little.
	ackedOnly bool
}

// tableFigures says which figures of each mode the table shows; the -json
// lines carry more.
var tableFigures = map[string][]figure{
	"idle": {
		{key: "connect_per_s", name: "connections/s", higherBetter: true},
		{key: "connect_s", name: "time to connect all (s)", higherBetter: false},
		{key: "connect_p99_ms", name: "connect p99 (ms)", higherBetter: false},
		{key: "rss_per_conn_bytes", name: "RSS per idle connection (B)", higherBetter: false},
		{key: "rss_before_bytes", name: "RSS before (B)", higherBetter: false},
		{key: "rss_after_close_bytes", name: "RSS after closing all (B)", higherBetter: false},
		{key: "rss_after_ratio", name: "RSS after closing all / before", higherBetter: false},
		{key: "failed", name: "failed connects", higherBetter: false},
	},
	"fanout": {
		{key: "recv_per_s", name: "delivered msg/s", higherBetter: true},
		{key: "delivery_ratio", name: "delivery ratio", higherBetter: true},
		{key: "lat_p50_ms", name: "latency p50 (ms)", higherBetter: false},
		{key: "lat_p99_ms", name: "latency p99 (ms)", higherBetter: false},
	},
	"slow": {
		{key: "recv_per_s", name: "healthy received msg/s", higherBetter: true},
		{key: "delivery_ratio", name: "healthy delivery ratio", higherBetter: true},
		{key: "lat_p99_ms", name: "healthy latency p99 (ms)", higherBetter: false},
		{key: "rss_before_bytes", name: "RSS before (B)", higherBetter: false},
		{key: "rss_peak_bytes", name: "RSS peak (B)", higherBetter: false},
		{key: "rss_after_bytes", name: "RSS after the slow one left (B)", higherBetter: false},
		{key: "sys_dropped", name: "$SYS dropped, rise during the run", higherBetter: true},
	},
	"storm": {
		{key: "cycles_per_s", name: "connect/disconnect cycles/s", higherBetter: true},
		{key: "failed", name: "failed connects", higherBetter: false},
		{key: "before_fds", name: "descriptors before", higherBetter: false},
		{key: "peak_fds", name: "descriptors peak", higherBetter: false},
		{key: "after_fds", name: "descriptors after", higherBetter: false},
		{key: "before_rss_bytes", name: "RSS before (B)", higherBetter: false},
		{key: "peak_rss_bytes", name: "RSS peak (B)", higherBetter: false},
		{key: "after_rss_bytes", name: "RSS after (B)", higherBetter: false},
		{key: "before_threads", name: "threads before", higherBetter: false},
		{key: "after_threads", name: "threads after", higherBetter: false},
	},
	"exhaust": {
		{key: "flood_connected", name: "flood: connected", higherBetter: true},
		{key: "flood_refused", name: "flood: refused (closed)", higherBetter: true},
		{key: "flood_timed_out", name: "flood: no CONNACK in time", higherBetter: false},
		{key: "peak_fds", name: "broker descriptors, peak", higherBetter: false},
		{key: "after_connected", name: "connected after the flood left", higherBetter: true},
		{key: "alive", name: "broker alive (1 = yes)", higherBetter: true},
		{key: "pass", name: "pass (1 = yes)", higherBetter: true},
	},
	"pubsub": {
		{key: "pub_per_s", name: "published msg/s", higherBetter: true, ackedOnly: true},
		{key: "recv_per_s", name: "received msg/s", higherBetter: true},
		{key: "delivery_ratio", name: "delivery ratio", higherBetter: true},
		{key: "lat_p50_ms", name: "latency p50 (ms)", higherBetter: false},
		{key: "lat_p99_ms", name: "latency p99 (ms)", higherBetter: false},
	},
}

func runReport(args []string) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	a := fs.String("a", "loom", "label of the broker in the first column (the ratio's numerator)")
	b := fs.String("b", "mosquitto", "label of the broker in the second column (the ratio's denominator)")
	c := fs.String("c", "", "label of a third broker, in a third column with the ratio a/c (e.g. mochi; none by default)")
	title := fs.String("title", "Loom and Mosquitto", "heading of the table")
	labels := fs.String("labels", "", "comma-separated labels: one row per label and scenario instead of the a/b columns")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var results []result
	read := func(r io.Reader, name string) error {
		rs, err := readResults(r)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		results = append(results, rs...)
		return nil
	}
	if fs.NArg() == 0 {
		if err := read(os.Stdin, "stdin"); err != nil {
			return err
		}
	}
	for _, name := range fs.Args() {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		err = read(f, name)
		f.Close()
		if err != nil {
			return err
		}
	}
	if *labels != "" {
		return writeRows(os.Stdout, *title, strings.Split(*labels, ","), results)
	}
	return writeTable(os.Stdout, *title, *a, *b, *c, results)
}

// readResults reads the -json lines of runs; other lines (a log
// interleaved by a script) are skipped.
func readResults(r io.Reader) ([]result, error) { return runs.Read[result](r) }

// cell gathers one scenario's values of one figure for one broker.
type cell struct {
	values   []float64
	timedOut int
}

// writeTable prints one row per scenario and figure: the median over runs
// of each broker, and a/b; with c (not ""), a third broker's median and a/c
// too.
func writeTable(w io.Writer, title, a, b, c string, results []result) error {
	type key struct{ scenario, label string }
	var scenarios []string
	modeOf := map[string]string{}
	runs := map[key][]result{}
	for _, r := range results {
		if _, seen := modeOf[r.Scenario]; !seen {
			scenarios = append(scenarios, r.Scenario)
			modeOf[r.Scenario] = r.Mode
		}
		k := key{r.Scenario, r.Label}
		runs[k] = append(runs[k], r)
	}

	fmt.Fprintf(w, "## %s\n\n", title)
	fmt.Fprintf(w, "Medians over runs; ↑ higher is better, ↓ lower is better. ")
	fmt.Fprintf(w, "(k) after a value: only k runs had it; † some of its runs timed out.\n\n")
	if c == "" {
		fmt.Fprintf(w, "| scenario | figure | %s | %s | %s/%s |\n", a, b, a, b)
		fmt.Fprintf(w, "|---|---|--:|--:|--:|\n")
	} else {
		fmt.Fprintf(w, "| scenario | figure | %s | %s | %s | %s/%s | %s/%s |\n", a, b, c, a, b, a, c)
		fmt.Fprintf(w, "|---|---|--:|--:|--:|--:|--:|\n")
	}
	for _, sc := range scenarios {
		ra, rb, rc := runs[key{sc, a}], runs[key{sc, b}], []result(nil)
		if c != "" {
			rc = runs[key{sc, c}]
		}
		for _, fig := range tableFigures[modeOf[sc]] {
			if fig.ackedOnly && !acked(slices.Concat(ra, rb, rc)) {
				continue
			}
			ca, cb, cc := collectCell(ra, fig.key), collectCell(rb, fig.key), collectCell(rc, fig.key)
			if len(ca.values) == 0 && len(cb.values) == 0 && len(cc.values) == 0 {
				continue
			}
			arrow := "↓"
			if fig.higherBetter {
				arrow = "↑"
			}
			ma, mb := median(ca.values), median(cb.values)
			if c == "" {
				fmt.Fprintf(w, "| %s | %s %s | %s | %s | %s |\n", sc, fig.name, arrow,
					cellText(ca, ma, len(ra)), cellText(cb, mb, len(rb)), ratioText(ma, mb))
				continue
			}
			mc := median(cc.values)
			fmt.Fprintf(w, "| %s | %s %s | %s | %s | %s | %s | %s |\n", sc, fig.name, arrow,
				cellText(ca, ma, len(ra)), cellText(cb, mb, len(rb)), cellText(cc, mc, len(rc)),
				ratioText(ma, mb), ratioText(ma, mc))
		}
	}
	return nil
}

// acked reports whether the runs published with QoS 1 or 2.
func acked(rs []result) bool {
	for _, r := range rs {
		if q, ok := r.Params["qos"].(float64); ok && q > 0 {
			return true
		}
	}
	return false
}

func cellText(c cell, m float64, runs int) string {
	if len(c.values) == 0 {
		return "–"
	}
	s := number(m)
	if len(c.values) < runs {
		s += fmt.Sprintf(" (%d)", len(c.values))
	}
	if c.timedOut > 0 {
		s += " †"
	}
	return s
}

func ratioText(a, b float64) string {
	if math.IsNaN(a) || math.IsNaN(b) || b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", a/b)
}

// number prints large values as grouped integers and small ones with three
// significant digits.
func number(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	if math.Abs(v) < 1000 {
		return strings.TrimSuffix(fmt.Sprintf("%.3g", v), ".0")
	}
	s := fmt.Sprintf("%.0f", math.Abs(v))
	var b strings.Builder
	if v < 0 {
		b.WriteByte('-')
	}
	for i, ch := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(ch)
	}
	return b.String()
}
