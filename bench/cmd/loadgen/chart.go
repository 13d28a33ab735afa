package main

import (
	"flag"
	"fmt"
	"html"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// runChart writes an SVG of the Loom/Mosquitto ratio of every target that
// compares the two, as horizontal bars on a logarithmic axis from 1 (equal),
// each with a mark at its target; with -c, a second, blue bar under each
// shows the ratio to a third broker (Mochi), which no target applies to.
// Hand-written SVG: no plotting tool.
func runChart(args []string) error {
	fs := flag.NewFlagSet("chart", flag.ContinueOnError)
	a := fs.String("a", "loom", "label of the broker in the numerator")
	b := fs.String("b", "mosquitto", "label of the broker in the denominator")
	c := fs.String("c", "", "label of a third broker: a second bar per row, a/c (e.g. mochi; none by default)")
	title := fs.String("title", "Loom / Mosquitto, medians", "title of the chart")
	out := fs.String("o", "", "output file (default stdout)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rs, err := readResultFiles(fs.Args())
	if err != nil {
		return err
	}
	var w io.Writer = os.Stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	return writeChart(w, *title, *a, *b, *c, evalTargets(rs, *a, *b, *c))
}

// chart geometry, in SVG user units.
const (
	chartLabelW = 430 // the row labels on the left
	chartPlotW  = 460
	chartRowH   = 22
	chartTop    = 56
	chartBottom = 56
)

// chartColorC is the bar of the ratio to the third broker.
const chartColorC = "#1565c0"

// drawable says whether a ratio can be drawn on the log axis.
func drawable(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) && x > 0 }

func writeChart(w io.Writer, title, a, b, c string, all []targetRow) error {
	var rows []targetRow
	for _, r := range all {
		if r.VsB && (drawable(r.Ratio) || (c != "" && drawable(r.RatioC))) {
			rows = append(rows, r)
		}
	}
	rowH := chartRowH
	if c != "" {
		rowH = chartRowH + 12 // two bars a row
	}
	// The axis spans whole decades around 1 and every ratio and target.
	lo, hi := 0.1, 10.0
	for _, r := range rows {
		for _, v := range []float64{r.Ratio, r.RatioC, r.Line} {
			if drawable(v) {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	dlo, dhi := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	x := func(v float64) float64 {
		return chartLabelW + (math.Log10(v)-dlo)/(dhi-dlo)*chartPlotW
	}
	width := chartLabelW + chartPlotW + 70
	height := chartTop + len(rows)*rowH + chartBottom
	var s strings.Builder
	fmt.Fprintf(&s, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		width, height, width, height)
	fmt.Fprintf(&s, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&s, `<text x="10" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", esc(title))
	legend := fmt.Sprintf("%s/%s, log scale; bar right of 1: %s's figure is larger. Green: target met, red: not met, grey: reported only; black tick: the target.",
		a, b, a)
	if c != "" {
		legend += fmt.Sprintf(" Blue, below: %s/%s (no target).", a, c)
	}
	fmt.Fprintf(&s, `<text x="10" y="40" fill="#555">%s</text>`+"\n", esc(legend))
	plotBottom := chartTop + len(rows)*rowH
	// Decade and 3× grid lines with their labels.
	for d := dlo; d <= dhi; d++ {
		for _, m := range []float64{1, 3} {
			v := m * math.Pow(10, d)
			if math.Log10(v) > dhi+1e-9 {
				continue
			}
			gx := x(v)
			stroke := "#ddd"
			if v == 1 {
				stroke = "#333"
			}
			fmt.Fprintf(&s, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s"/>`+"\n", gx, chartTop-4, gx, plotBottom, stroke)
			fmt.Fprintf(&s, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%s</text>`+"\n", gx, plotBottom+16, tickText(v))
		}
	}
	fmt.Fprintf(&s, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%s / %s</text>`+"\n",
		x(1), plotBottom+36, esc(a), esc(b))
	// One bar: top edge at y, h high, its value right of it.
	barH := chartRowH - 8
	if c != "" {
		barH = 11
	}
	bar := func(ratio float64, y int, fill string) {
		x0, x1 := x(1), x(ratio)
		if x1 < x0 {
			x0, x1 = x1, x0
		}
		fmt.Fprintf(&s, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", x0, y, math.Max(x1-x0, 1), barH, fill)
		fmt.Fprintf(&s, `<text x="%.1f" y="%d" fill="#333">%s</text>`+"\n", math.Max(x(ratio), x(1))+4, y+barH-1, ratioCell(ratio))
	}
	for i, r := range rows {
		y := chartTop + i*rowH
		fill := "#9e9e9e"
		switch r.Met {
		case 1:
			fill = "#2e7d32"
		case 0:
			fill = "#c62828"
		}
		fmt.Fprintf(&s, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", chartLabelW-8, y+15,
			esc(r.Name+": "+r.Figure))
		if drawable(r.Ratio) {
			bar(r.Ratio, y+4, fill)
		}
		if !math.IsNaN(r.Line) {
			lx := x(r.Line)
			// Across the first bar only: the target is against b.
			fmt.Fprintf(&s, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="black" stroke-width="2"/>`+"\n", lx, y+1, lx, y+4+barH+3)
		}
		if c != "" && drawable(r.RatioC) {
			bar(r.RatioC, y+4+barH+2, chartColorC)
		}
	}
	s.WriteString("</svg>\n")
	_, err := io.WriteString(w, s.String())
	return err
}

func tickText(v float64) string {
	t := strconv.FormatFloat(v, 'g', 3, 64)
	if v >= 1 {
		return t + "×"
	}
	return t
}

func esc(s string) string { return html.EscapeString(s) }
