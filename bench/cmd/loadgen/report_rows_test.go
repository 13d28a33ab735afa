package main

import (
	"strings"
	"testing"
)

func TestWriteRows(t *testing.T) {
	in := `{"mode":"pubsub","label":"none","scenario":"s","params":{"qos":1},"figures":{"recv_per_s":100,"pub_per_s":1,"delivery_ratio":1}}
{"mode":"pubsub","label":"always","scenario":"s","params":{"qos":1},"figures":{"recv_per_s":10,"delivery_ratio":1},"timed_out":true}
{"mode":"pubsub","label":"none","scenario":"s","params":{"qos":1},"figures":{"recv_per_s":300,"pub_per_s":3,"delivery_ratio":0.5}}
{"mode":"pubsub","label":"other","scenario":"s","params":{"qos":1},"figures":{"recv_per_s":7}}
`
	rs, err := readResults(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := writeRows(&b, "T", []string{"always", "none", "absent"}, rs); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"| broker | runs | published msg/s ↑ | received msg/s ↑ | delivery ratio ↑ | latency p50 (ms) ↓ | latency p99 (ms) ↓ |",
		"| always | 1 | – | 10 † | 1 † | – | – |", // rows in the order asked, not of appearance
		"| none | 2 | 2 | 200 | 0.75 | – | – |",
		"| absent | 0 | – | – | – | – | – |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Index(out, "| always") > strings.Index(out, "| none") {
		t.Error("rows not in the order of -labels")
	}
	if strings.Contains(out, "| other") {
		t.Error("a label not asked for is shown")
	}
}
