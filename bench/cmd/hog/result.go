package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Result is one run, printed as one JSON line.
type Result struct {
	Label     string  `json:"label,omitempty"`  // the broker's name
	Config    string  `json:"config,omitempty"` // the script's name for the configuration
	Version   int     `json:"version"`
	Size      int     `json:"size"`
	Window    int     `json:"window"`
	Hogs      int     `json:"hogs"`
	Offline   bool    `json:"offline"`
	Duration  float64 `json:"duration_s"` // asked for
	Published float64 `json:"published_s"`
	Capped    bool    `json:"capped,omitempty"` // publishing stopped early at -max-rss
	Gone      bool    `json:"broker_gone,omitempty"`

	RSSBefore float64 `json:"rss_before_mib"`
	RSSPeak   float64 `json:"rss_peak_mib"`
	RSSEnd    float64 `json:"rss_end_mib"`
	RSSAfter  float64 `json:"rss_after_mib"` // -settle after every client left
	Growth    float64 `json:"growth_mib"`    // peak − before
	Samples   int     `json:"rss_samples"`

	BigSent     int64            `json:"big_sent"`
	BigAborted  int64            `json:"big_aborted,omitempty"`
	BigAcked    int64            `json:"big_acked"`
	BigReasons  map[string]int64 `json:"big_reasons"` // "0x00" → count
	BigAckRate  []int64          `json:"big_acks_per_s"`
	BigAckGapMS float64          `json:"big_max_ack_gap_ms"`
	BigLost     []string         `json:"big_lost,omitempty"` // why connections ended early

	HealthySent     int64    `json:"healthy_sent"`
	HealthySkipped  int64    `json:"healthy_skipped"`
	HealthyAcked    int64    `json:"healthy_acked"`
	HealthyReceived int64    `json:"healthy_received"`
	HealthyDups     int64    `json:"healthy_dups,omitempty"`
	HealthyGapMS    float64  `json:"healthy_max_gap_ms"`
	HealthyP50MS    float64  `json:"healthy_latency_p50_ms"`
	HealthyP99MS    float64  `json:"healthy_latency_p99_ms"`
	HealthyMaxMS    float64  `json:"healthy_latency_max_ms"`
	HealthyLost     []string `json:"healthy_lost,omitempty"`

	Sys      map[string]string `json:"sys"`
	SysFresh bool              `json:"sys_fresh"` // values published after the traffic, not only retained ones
	Errors   []string          `json:"errors,omitempty"`
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// reasonKey names a reason code in the JSON.
func reasonKey(r byte) string { return fmt.Sprintf("0x%02x", r) }

// reasonName is a PUBACK reason code's name in the summary.
func reasonName(key string) string {
	switch key {
	case "0x00":
		return "success"
	case "0x10":
		return "no matching subscribers"
	case "0x97":
		return "quota exceeded"
	case "0x80":
		return "unspecified error"
	case "0x83":
		return "implementation specific error"
	case "0x87":
		return "not authorized"
	case "0x90":
		return "topic name invalid"
	case "0x91":
		return "packet identifier in use"
	case "0x99":
		return "payload format invalid"
	}
	return "other"
}

// summary writes the run for a reader.
func (r *Result) summary(w io.Writer) {
	mode := "connected, never reading"
	if r.Offline {
		mode = "offline (persistent session)"
	}
	name := r.Label
	if r.Config != "" {
		name += " " + r.Config
	}
	fmt.Fprintf(w, "hog %s: MQTT %d, %d hog(s) %s, %d-byte QoS 1 messages, window %d, %.1f s of publishing",
		strings.TrimSpace(name), r.Version, r.Hogs, mode, r.Size, r.Window, r.Published)
	if r.Capped {
		fmt.Fprint(w, " (stopped early: broker RSS over -max-rss)")
	}
	if r.Gone {
		fmt.Fprint(w, " (the broker exited)")
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  broker VmRSS: before %.1f MiB, peak %.1f MiB, at end %.1f MiB, after all left %.1f MiB; growth %.1f MiB (%d samples)\n",
		r.RSSBefore, r.RSSPeak, r.RSSEnd, r.RSSAfter, r.Growth, r.Samples)
	fmt.Fprintf(w, "  big publisher: %d sent, %d acknowledged", r.BigSent, r.BigAcked)
	for _, k := range slices.Sorted(maps.Keys(r.BigReasons)) {
		fmt.Fprintf(w, "; %s %s: %d", k, reasonName(k), r.BigReasons[k])
	}
	if r.BigAborted > 0 {
		fmt.Fprintf(w, "; %d cut off by the end of the run", r.BigAborted)
	}
	fmt.Fprintf(w, "\n  big acks per second: %s; longest gap without an ack %.0f ms\n",
		joinInts(r.BigAckRate), r.BigAckGapMS)
	for _, s := range r.BigLost {
		fmt.Fprintf(w, "  big publisher connection lost: %s\n", s)
	}
	fmt.Fprintf(w, "  healthy: %d sent (%d ticks skipped, window full), %d acknowledged, %d received",
		r.HealthySent, r.HealthySkipped, r.HealthyAcked, r.HealthyReceived)
	if r.HealthyDups > 0 {
		fmt.Fprintf(w, " (+%d duplicates)", r.HealthyDups)
	}
	fmt.Fprintf(w, "; longest gap between receptions %.0f ms; latency p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
		r.HealthyGapMS, r.HealthyP50MS, r.HealthyP99MS, r.HealthyMaxMS)
	for _, s := range r.HealthyLost {
		fmt.Fprintf(w, "  healthy client: %s\n", s)
	}
	if len(r.Sys) == 0 {
		fmt.Fprintln(w, "  $SYS: none of the reported topics found")
	}
	when := "retained values, possibly from before the traffic"
	if r.SysFresh {
		when = "published after the traffic"
	}
	for _, k := range sortedKeys(r.Sys) {
		fmt.Fprintf(w, "  %s = %s (%s)\n", k, r.Sys[k], when)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(w, "  error: %s\n", e)
	}
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

func joinInts(v []int64) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.FormatInt(n, 10)
	}
	return strings.Join(s, " ")
}

// writeTable reads JSON lines (other lines are skipped) and writes one
// markdown row per run, in file order.
func writeTable(w io.Writer, in io.Reader) error {
	fmt.Fprintln(w, "| broker | config | RSS before MiB | RSS peak MiB | growth MiB | big sent | big acked (reasons) | big longest ack gap ms | big acks/s min–max | healthy received / sent | healthy longest gap ms | healthy p99 ms | $SYS dropped | $SYS held / spool / store |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---|---:|---|---:|---:|---:|---:|---|")
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var r Result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return err
		}
		fmt.Fprintln(w, r.row())
	}
	return sc.Err()
}

// row is the run's line of the markdown table.
func (r *Result) row() string {
	peak := fmt.Sprintf("%.0f", r.RSSPeak)
	if r.Capped {
		peak += " (cap)"
	}
	if r.Gone {
		peak += " (exited)"
	}
	var reasons []string
	for _, k := range slices.Sorted(maps.Keys(r.BigReasons)) {
		reasons = append(reasons, fmt.Sprintf("%s: %d", k, r.BigReasons[k]))
	}
	acked := strconv.FormatInt(r.BigAcked, 10)
	if len(reasons) > 0 && !(len(reasons) == 1 && r.BigReasons["0x00"] == r.BigAcked) {
		acked += " (" + strings.Join(reasons, ", ") + ")"
	}
	if len(r.BigLost) > 0 {
		acked += fmt.Sprintf(", %d connections lost", len(r.BigLost))
	}
	rates := "-"
	if full := fullSeconds(r.BigAckRate, r.Published); len(full) > 0 {
		rates = fmt.Sprintf("%d–%d", slices.Min(full), slices.Max(full))
	}
	dropped := "-"
	var other []string
	for _, k := range sortedKeys(r.Sys) {
		if strings.HasPrefix(k, "$SYS/broker/publish/messages/dropped") {
			if dropped == "-" {
				dropped = r.Sys[k]
			} else {
				dropped += ", " + strings.TrimPrefix(k, "$SYS/broker/publish/messages/") + " " + r.Sys[k]
			}
			continue
		}
		if strings.HasPrefix(k, "$SYS/broker/heap") {
			continue
		}
		other = append(other, strings.TrimPrefix(k, "$SYS/broker/")+" "+r.Sys[k])
	}
	if !r.SysFresh && len(r.Sys) > 0 {
		dropped += " †"
	}
	held := "-"
	if len(other) > 0 {
		held = strings.Join(other, "; ")
	}
	healthy := fmt.Sprintf("%d / %d", r.HealthyReceived, r.HealthySent)
	if len(r.HealthyLost) > 0 {
		healthy += " (lost)"
	}
	return fmt.Sprintf("| %s | %s | %.0f | %s | %.0f | %d | %s | %.0f | %s | %s | %.0f | %.1f | %s | %s |",
		r.Label, r.Config, r.RSSBefore, peak, r.Growth, r.BigSent, acked, r.BigAckGapMS, rates,
		healthy, r.HealthyGapMS, r.HealthyP99MS, dropped, held)
}

// fullSeconds is the per-second counts of the seconds wholly inside the
// publishing time (the last, partial one and the drain after it are left
// out, so a short final second does not pass for a stall).
func fullSeconds(perSec []int64, published float64) []int64 {
	n := min(int(published), len(perSec))
	return perSec[:n]
}
