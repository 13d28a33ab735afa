package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"os"
)

// runCompare prints the issue 5 scorecard: each target with both brokers'
// medians, the ratio, and whether Loom met it; then the full table of
// figures (as report prints it).
func runCompare(args []string) error {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	a := fs.String("a", "loom", "label of the broker the targets are for")
	b := fs.String("b", "mosquitto", "label of the broker it is measured against")
	c := fs.String("c", "", "label of a third broker shown beside them, with the ratio a/c (e.g. mochi; none by default)")
	title := fs.String("title", "Loom and Mosquitto", "heading")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rs, err := readResultFiles(fs.Args())
	if err != nil {
		return err
	}
	if err := writeTargets(os.Stdout, *title, *a, *b, *c, rs); err != nil {
		return err
	}
	fmt.Println()
	return writeTable(os.Stdout, "All figures", *a, *b, *c, rs)
}

// readResultFiles reads the JSON lines of every file, or of stdin if none.
func readResultFiles(names []string) ([]result, error) {
	if len(names) == 0 {
		return readResults(os.Stdin)
	}
	var all []result
	for _, name := range names {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		rs, err := readResults(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		all = append(all, rs...)
	}
	return all, nil
}

func writeTargets(w io.Writer, title, a, b, c string, rs []result) error {
	rows := evalTargets(rs, a, b, c)
	met, total := 0, 0
	for _, r := range rows {
		if r.Met >= 0 {
			total++
			met += r.Met
		}
	}
	fmt.Fprintf(w, "## %s\n\n", title)
	fmt.Fprintf(w, "Targets of issue 5 (over TCP) and of issue 19 (rows named TLS or WebSocket), on the medians of the runs below: "+
		"%d of %d met by %s in this run. ", met, total, a)
	fmt.Fprintf(w, "\"%s/%s\" is the ratio of the two medians; a target written \"× %s\" applies to it, ", a, b, b)
	fmt.Fprintf(w, "any other to %s's own figure.", a)
	if c != "" {
		fmt.Fprintf(w, " %s and \"%s/%s\" are shown beside them; no target applies to them.", c, a, c)
	}
	fmt.Fprintf(w, "\n\n")
	if c == "" {
		fmt.Fprintf(w, "| target | figure | %s | %s | %s/%s | target | %s |\n", a, b, a, b, a)
		fmt.Fprintf(w, "|---|---|--:|--:|--:|---|---|\n")
	} else {
		fmt.Fprintf(w, "| target | figure | %s | %s | %s | %s/%s | %s/%s | target | %s |\n", a, b, c, a, b, a, c, a)
		fmt.Fprintf(w, "|---|---|--:|--:|--:|--:|--:|---|---|\n")
	}
	for _, r := range rows {
		if c == "" {
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", r.Name, r.Figure,
				number(r.A), number(r.B), ratioCell(r.shownRatio()), r.Want, r.metText())
			continue
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.Name, r.Figure,
			number(r.A), number(r.B), number(r.C), ratioCell(r.shownRatio()), ratioCell(r.shownRatioC()), r.Want, r.metText())
	}
	return nil
}

func ratioCell(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "–"
	}
	return fmt.Sprintf("%.2f", x)
}

// shownRatio is the ratio column: only for targets measured against the
// other broker, where a ratio of two brokers' own ratios would mislead.
func (r targetRow) shownRatio() float64 {
	if !r.VsB {
		return math.NaN()
	}
	return r.Ratio
}

// shownRatioC is the a/c column, under the same rule.
func (r targetRow) shownRatioC() float64 {
	if !r.VsB {
		return math.NaN()
	}
	return r.RatioC
}
