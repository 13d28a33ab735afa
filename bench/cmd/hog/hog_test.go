package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/loom-mqtt/loom/proto"
)

func TestStatusKB(t *testing.T) {
	status := []byte("Name:\tloom\nVmPeak:\t 2000 kB\nVmHWM:\t  1500 kB\nVmRSS:\t   1234 kB\nThreads:\t7\n")
	if kb, ok := statusKB(status, "VmRSS"); !ok || kb != 1234 {
		t.Fatalf("VmRSS = %d, %v; want 1234, true", kb, ok)
	}
	if kb, ok := statusKB(status, "VmHWM"); !ok || kb != 1500 {
		t.Fatalf("VmHWM = %d, %v; want 1500, true", kb, ok)
	}
	// A field without a unit, a missing one, a malformed value.
	for _, c := range []struct{ text, field string }{
		{"Threads:\t7\n", "Threads"},
		{"Name:\tx\n", "VmRSS"},
		{"VmRSS:\t12x kB\n", "VmRSS"},
		{"", "VmRSS"},
	} {
		if kb, ok := statusKB([]byte(c.text), c.field); ok {
			t.Errorf("statusKB(%q, %q) = %d, true; want false", c.text, c.field, kb)
		}
	}
	// "VmRSS" must not match a longer name that starts with it.
	if _, ok := statusKB([]byte("VmRSSx:\t5 kB\n"), "VmRSS"); ok {
		t.Error("matched VmRSSx for VmRSS")
	}
}

func TestTimeline(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

	tl := newTimeline(t0)
	for _, ms := range []int{100, 200, 1700, 1800, 2100} {
		tl.mark(at(ms))
	}
	if n := tl.count(); n != 5 {
		t.Fatalf("count %d, want 5", n)
	}
	// 200 → 1700 is the longest stretch inside the run.
	if g := tl.longestGap(at(3000)); g != 1500*time.Millisecond {
		t.Errorf("gap %v, want 1.5s", g)
	}
	// A stall to the end of the run counts.
	if g := tl.longestGap(at(5000)); g != 2900*time.Millisecond {
		t.Errorf("gap with a trailing stall %v, want 2.9s", g)
	}
	if got, want := tl.rates(at(4500)), []int64{2, 2, 1, 0, 0}; !equal(got, want) {
		t.Errorf("rates %v, want %v", got, want)
	}
	// Events after end still count in their second.
	if got, want := tl.rates(at(1000)), []int64{2, 2, 1}; !equal(got, want) {
		t.Errorf("rates to 1s %v, want %v", got, want)
	}

	empty := newTimeline(t0)
	if g := empty.longestGap(at(10000)); g != 10*time.Second {
		t.Errorf("no events: gap %v, want the whole run", g)
	}
	// An event stamped before start (read before the run began) is at start.
	early := newTimeline(t0)
	early.mark(t0.Add(-time.Second))
	if got := early.rates(at(500)); !equal(got, []int64{1}) {
		t.Errorf("early event rates %v", got)
	}
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {1, time.Millisecond}} {
		if got := percentile(ds, c.p); got != c.want {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("empty: %v", got)
	}
}

func TestFitPayload(t *testing.T) {
	for _, v := range []proto.Version{proto.V311, proto.V5} {
		for _, limit := range []int{1 << 20, 1000, 130, 16386} {
			n := fitPayload(limit, "big/t", v)
			p := proto.Publish{QoS: 1, Topic: []byte("big/t"), Payload: make([]byte, n)}
			if p.Size(v) > limit {
				t.Errorf("v%d limit %d: payload %d gives %d bytes", v, limit, n, p.Size(v))
			}
			p.Payload = make([]byte, n+1)
			if p.Size(v) <= limit {
				t.Errorf("v%d limit %d: payload %d is not the largest", v, limit, n)
			}
		}
	}
	// The default size fits Loom's default 1 MiB limit in both versions.
	if n := fitPayload(1<<20, "big/t", proto.V5); n < defaultSize {
		t.Errorf("default size %d does not fit a 1 MiB packet (at most %d)", defaultSize, n)
	}
}

func sample() *Result {
	return &Result{Label: "loom", Config: "stalled-v5", Version: 5, Size: defaultSize, Window: 16, Hogs: 1,
		Duration: 10, Published: 10.0, RSSBefore: 24.1, RSSPeak: 2100.4, RSSEnd: 2090, Growth: 2076.3,
		BigSent: 2061, BigAcked: 2060, BigReasons: map[string]int64{"0x00": 2000, "0x97": 60},
		BigAckRate: []int64{300, 250, 200, 0, 180, 200, 210, 220, 230, 210, 20}, BigAckGapMS: 1200,
		HealthySent: 2000, HealthyAcked: 2000, HealthyReceived: 1999, HealthyGapMS: 45, HealthyP99MS: 30.25,
		Sys: map[string]string{"$SYS/broker/publish/messages/dropped": "17", "$SYS/broker/spool/bytes": "4096",
			"$SYS/broker/heap/current": "1"}, SysFresh: true}
}

func TestRow(t *testing.T) {
	row := sample().row()
	for _, want := range []string{
		"| loom | stalled-v5 | 24 | 2100 | 2076 | 2061 |",
		"2060 (0x00: 2000, 0x97: 60)",
		"| 1200 | 0–300 |", // the partial last second is left out of min–max
		"| 1999 / 2000 | 45 | 30.2 |",
		"| 17 | spool/bytes 4096 |",
	} {
		if !strings.Contains(row, want) {
			t.Errorf("row lacks %q:\n%s", want, row)
		}
	}
	if strings.Contains(row, "heap") {
		t.Errorf("row shows the heap: %s", row)
	}
	r := sample()
	r.SysFresh, r.Capped = false, true
	r.BigReasons = map[string]int64{"0x00": r.BigAcked}
	row = r.row()
	for _, want := range []string{"| 2100 (cap) |", "| 2060 |", "| 17 † |"} {
		if !strings.Contains(row, want) {
			t.Errorf("row lacks %q:\n%s", want, row)
		}
	}
}

func TestTableReadsJSONLines(t *testing.T) {
	b, err := json.Marshal(sample())
	if err != nil {
		t.Fatal(err)
	}
	in := "a log line\n" + string(b) + "\n\n" + string(b) + "\n"
	var out bytes.Buffer
	if err := writeTable(&out, strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 { // header, separator, two runs
		t.Fatalf("%d lines:\n%s", len(lines), out.String())
	}
	if err := writeTable(&out, strings.NewReader("{not json\n")); err == nil {
		t.Error("bad JSON accepted")
	}
}

func TestSummary(t *testing.T) {
	var out bytes.Buffer
	r := sample()
	r.BigLost = []string{"reading: broker sent DISCONNECT reason 0x97"}
	r.summary(&out)
	s := out.String()
	for _, want := range []string{
		"before 24.1 MiB, peak 2100.4 MiB",
		"growth 2076.3 MiB",
		"2061 sent, 2060 acknowledged; 0x00 success: 2000; 0x97 quota exceeded: 60",
		"300 250 200 0 180",
		"longest gap without an ack 1200 ms",
		"connection lost: reading: broker sent DISCONNECT reason 0x97",
		"1999 received; longest gap between receptions 45 ms",
		"$SYS/broker/publish/messages/dropped = 17 (published after the traffic)",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
}
