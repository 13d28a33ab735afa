package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Sizes and durations as the file (and the binary's flags) write them.

// sizeUnits are the suffixes a size takes, longest first so that "MiB"
// is not read as "B". KB, MB and GB are read as the same powers of two as
// KiB, MiB and GiB: a broker's buffers are counted in those.
var sizeUnits = []struct {
	suffix string
	shift  uint
}{{"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"KB", 10}, {"MB", 20}, {"GB", 30}, {"K", 10}, {"M", 20}, {"G", 30}, {"B", 0}}

// ParseSize reads a byte count: a whole number with an optional unit
// (512, 64KiB, 8MiB, 1GiB; KB, MB and GB mean the same). A negative number
// is returned as it is: some limits read it as "no bound".
func ParseSize(s string) (int64, error) {
	num, shift := strings.TrimSpace(s), uint(0)
	for _, u := range sizeUnits {
		if len(num) > len(u.suffix) && strings.EqualFold(num[len(num)-len(u.suffix):], u.suffix) {
			num, shift = strings.TrimSpace(num[:len(num)-len(u.suffix)]), u.shift
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size (say 512KiB, 8MiB or 1GiB)", s)
	}
	if n > (1<<62)>>shift || n < -(1<<62)>>shift {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n << shift, nil
}

// FormatSize writes n the way ParseSize reads it, in the largest unit
// that divides it (8MiB, 1536KiB, 100).
func FormatSize(n int64) string {
	for _, u := range []struct {
		name  string
		shift uint
	}{{"GiB", 30}, {"MiB", 20}, {"KiB", 10}} {
		if n > 0 && n%(1<<u.shift) == 0 {
			return strconv.FormatInt(n>>u.shift, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}

// ParseDuration reads a Go duration (90s, 15m, 12h, 1h30m); a bare
// negative number (-1) is taken too, for the keys where negative means
// "none". A bare positive number is refused: seconds or milliseconds?
func ParseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if n, err := strconv.ParseInt(t, 10, 64); err == nil {
		if n < 0 {
			return time.Duration(n), nil
		}
		if n == 0 {
			return 0, nil
		}
		return 0, fmt.Errorf("%q is not a duration: give its unit (%ss, %sm or %sh)", s, t, t, t)
	}
	d, err := time.ParseDuration(t)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (say 90s, 15m, 12h or 168h)", s)
	}
	return d, nil
}

// FormatDuration writes d the way ParseDuration reads it, without the
// zero units Go's own form carries (168h, not 168h0m0s; 1m30s; 5ms).
func FormatDuration(d time.Duration) string {
	if d < 0 && d > -time.Microsecond {
		return strconv.FormatInt(int64(d), 10) // -1: "none"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
