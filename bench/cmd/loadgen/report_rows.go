package main

import (
	"fmt"
	"io"
	"strings"
)

// writeRows prints, for each scenario, one row per label (in the order
// given) and one column per figure: the medians over runs. It suits a
// comparison of more than two configurations, where writeTable's a/b ratio
// has no single denominator.
func writeRows(w io.Writer, title string, labels []string, results []result) error {
	type key struct{ scenario, label string }
	var scenarios []string
	modeOf := map[string]string{}
	runs := map[key][]result{}
	for _, r := range results {
		if _, seen := modeOf[r.Scenario]; !seen {
			scenarios = append(scenarios, r.Scenario)
			modeOf[r.Scenario] = r.Mode
		}
		runs[key{r.Scenario, r.Label}] = append(runs[key{r.Scenario, r.Label}], r)
	}

	fmt.Fprintf(w, "## %s\n\n", title)
	fmt.Fprintf(w, "Medians over runs; ↑ higher is better, ↓ lower is better. ")
	fmt.Fprintf(w, "(k) after a value: only k runs had it; † some of its runs timed out.\n")
	for _, sc := range scenarios {
		var all []result
		for _, l := range labels {
			all = append(all, runs[key{sc, l}]...)
		}
		var figs []figure
		for _, f := range tableFigures[modeOf[sc]] {
			if !f.ackedOnly || acked(all) {
				figs = append(figs, f)
			}
		}
		fmt.Fprintf(w, "\n### %s\n\n| broker | runs |", sc)
		for _, f := range figs {
			arrow := "↓"
			if f.higherBetter {
				arrow = "↑"
			}
			fmt.Fprintf(w, " %s %s |", f.name, arrow)
		}
		fmt.Fprintf(w, "\n|---|--:|%s\n", strings.Repeat("--:|", len(figs)))
		for _, l := range labels {
			rs := runs[key{sc, l}]
			fmt.Fprintf(w, "| %s | %d |", l, len(rs))
			for _, f := range figs {
				c := collectCell(rs, f.key)
				fmt.Fprintf(w, " %s |", cellText(c, median(c.values), len(rs)))
			}
			fmt.Fprintln(w)
		}
	}
	return nil
}

// collectCell gathers one figure of runs, counting those that timed out.
func collectCell(rs []result, fig string) cell {
	var c cell
	for _, r := range rs {
		if r.TimedOut {
			c.timedOut++
		}
		if v, ok := r.Figures[fig]; ok {
			c.values = append(c.values, v)
		}
	}
	return c
}
