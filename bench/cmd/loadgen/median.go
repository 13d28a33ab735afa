package main

import (
	"flag"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// kvFlags collects repeated -where k=v flags.
type kvFlags []any

func (k *kvFlags) String() string { return fmt.Sprint([]any(*k)) }
func (k *kvFlags) Set(s string) error {
	key, val, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("want key=value, got %q", s)
	}
	var v any
	switch _, word := stringParams[key]; {
	case word:
		v = val // transport=tls
	case val == "true":
		v = true
	case val == "false":
		v = false
	default:
		f, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return fmt.Errorf("%q: the value must be a number or a boolean (words only for %s)", s, wordParams())
		}
		v = f
	}
	*k = append(*k, key, v)
	return nil
}

// runMedian prints the median of one figure over the matching runs, for a
// script that sizes a later run by an earlier one (the latency scenario
// runs at half of Loom's measured rate).
func runMedian(args []string) error {
	fs := flag.NewFlagSet("median", flag.ContinueOnError)
	label := fs.String("label", "loom", "broker label of the runs")
	mode := fs.String("mode", "pubsub", "mode of the runs")
	fig := fs.String("fig", "recv_per_s", "figure")
	var where kvFlags
	fs.Var(&where, "where", "a parameter the runs must have, key=value (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rs, err := readResultFiles(fs.Args())
	if err != nil {
		return err
	}
	v := med(is(*mode, where...), *fig)(rs, *label)
	if math.IsNaN(v) {
		return fmt.Errorf("no %s run of %s with %s and figure %s", *mode, *label, where.String(), *fig)
	}
	fmt.Printf("%.0f\n", v)
	return nil
}

// wordParams lists the parameters whose values are words, for messages.
func wordParams() string {
	var ks []string
	for k := range stringParams {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return strings.Join(ks, ", ")
}
