package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strings"

	"github.com/loom-mqtt/loom/bench/internal/runs"
)

// run is the part of one loadgen -json line the table reads; the script
// adds "round".
type run struct {
	Mode     string             `json:"mode"`
	Label    string             `json:"label"`
	Scenario string             `json:"scenario"`
	Figures  map[string]float64 `json:"figures"`
	TimedOut bool               `json:"timed_out,omitempty"`
	Errors   []string           `json:"errors,omitempty"`
	Round    int                `json:"round"`
}

// runTable prints, per scenario, one row per broker: the median of the
// received msg/s over its runs, their range, and the ratios of medians to
// the yardstick (Mosquitto), to the broker before hooks and to Loom
// embedded without a hook; also the ratio to the yardstick round by round,
// which the machine's drift between rounds moves less.
func runTable(w io.Writer, args []string) error {
	fs := flag.NewFlagSet("table", flag.ContinueOnError)
	base := fs.String("base", "mosquitto", "label of the yardstick broker")
	before := fs.String("before", "before", "label of the broker before hooks")
	none := fs.String("none", "hooked-none", "label of Loom embedded with no hook")
	fig := fs.String("fig", "recv_per_s", "figure")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var runs []run
	for _, name := range fs.Args() {
		rs, err := readRuns(name)
		if err != nil {
			return err
		}
		runs = append(runs, rs...)
	}
	if len(runs) == 0 {
		return fmt.Errorf("no runs (give loadgen -json files)")
	}
	var scenarios, labels []string
	seen := map[string]bool{}
	type key struct{ scenario, label string }
	by := map[key][]run{}
	for _, r := range runs {
		if !seen["s:"+r.Scenario] {
			seen["s:"+r.Scenario] = true
			scenarios = append(scenarios, r.Scenario)
		}
		if !seen["l:"+r.Label] {
			seen["l:"+r.Label] = true
			labels = append(labels, r.Label)
		}
		by[key{r.Scenario, r.Label}] = append(by[key{r.Scenario, r.Label}], r)
	}
	values := func(rs []run) []float64 {
		var v []float64
		for _, r := range rs {
			if x, ok := r.Figures[*fig]; ok {
				v = append(v, x)
			}
		}
		return v
	}
	name := *fig
	if name == "recv_per_s" {
		name = "received msg/s"
	}
	for _, sc := range scenarios {
		fmt.Fprintf(w, "### %s\n\n", sc)
		fmt.Fprintf(w, "| broker | runs | %s, median | min – max | (max − min) / median | ÷ %s | ÷ %s, per round: median (min – max) | ÷ %s | ÷ %s | delivery ratio, lowest |\n",
			name, *base, *base, *before, *none)
		fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
		medOf := func(label string) float64 { return median(values(by[key{sc, label}])) }
		baseRounds := map[int]float64{}
		for _, r := range by[key{sc, *base}] {
			if x, ok := r.Figures[*fig]; ok && r.Round > 0 {
				baseRounds[r.Round] = x
			}
		}
		for _, l := range labels {
			rs := by[key{sc, l}]
			if len(rs) == 0 {
				continue
			}
			v := values(rs)
			m := median(v)
			lo, hi := minmax(v)
			marks := ""
			lowest := math.Inf(1)
			for _, r := range rs {
				if r.TimedOut {
					marks = " †"
				}
				if d, ok := r.Figures["delivery_ratio"]; ok {
					lowest = math.Min(lowest, d)
				}
			}
			var paired []float64
			for _, r := range rs {
				if b, ok := baseRounds[r.Round]; ok && b > 0 && r.Round > 0 {
					if x, ok := r.Figures[*fig]; ok {
						paired = append(paired, x/b)
					}
				}
			}
			pairedCell := ""
			if l != *base && len(paired) > 0 {
				plo, phi := minmax(paired)
				pairedCell = fmt.Sprintf("%.2f (%.2f – %.2f)", median(paired), plo, phi)
			}
			ratio := func(other string) string {
				if l == other {
					return ""
				}
				o := medOf(other)
				if math.IsNaN(o) || o == 0 || math.IsNaN(m) {
					return ""
				}
				return fmt.Sprintf("%.3f", m/o)
			}
			lowCell := ""
			if !math.IsInf(lowest, 1) {
				lowCell = fmt.Sprintf("%.4f", lowest)
			}
			fmt.Fprintf(w, "| %s | %d | %s%s | %s – %s | %.0f%% | %s | %s | %s | %s | %s |\n",
				l, len(v), thousands(m), marks, thousands(lo), thousands(hi), 100*(hi-lo)/m,
				ratio(*base), pairedCell, ratio(*before), ratio(*none), lowCell)
		}
		fmt.Fprintln(w)
	}
	var bad []string
	for _, r := range runs {
		if len(r.Errors) > 0 {
			bad = append(bad, fmt.Sprintf("%s, round %d, %s: %s", r.Label, r.Round, r.Scenario, strings.Join(r.Errors, "; ")))
		}
	}
	if len(bad) > 0 {
		fmt.Fprintln(w, "Runs with errors:")
		fmt.Fprintln(w)
		for _, b := range bad {
			fmt.Fprintf(w, "- %s\n", b)
		}
		fmt.Fprintln(w)
	}
	return nil
}

func readRuns(name string) ([]run, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rs, err := runs.Read[run](f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return rs, nil
}

func median(v []float64) float64 { return runs.Median(v) }

func minmax(v []float64) (float64, float64) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, x := range v {
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	return lo, hi
}

// thousands formats a rate as a whole number with thousands separators.
func thousands(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "–"
	}
	s := fmt.Sprintf("%.0f", x)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
