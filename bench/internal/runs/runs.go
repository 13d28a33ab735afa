// Package runs reads what the load tool writes with -json, for the bench
// commands that tabulate it (loadgen report/compare/median, hooked table).
package runs

import (
	"bufio"
	"encoding/json"
	"io"
	"math"
	"slices"
	"strings"
)

// Read decodes one T per JSON line of r; other lines (a script's log
// interleaved with the results) are skipped.
func Read[T any](r io.Reader) ([]T, error) {
	var out []T
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var v T
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, sc.Err()
}

// Median is the median of xs, NaN for none; xs is left as it was.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}
