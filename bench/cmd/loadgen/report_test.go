package main

import (
	"strings"
	"testing"
)

func TestNumber(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{
		{0, "0"},
		{0.99995, "1"},
		{0.9871, "0.987"},
		{12.34, "12.3"},
		{999, "999"},
		{1000, "1,000"},
		{1234567.8, "1,234,568"},
		{-4500, "-4,500"},
	}
	for _, tt := range tests {
		if got := number(tt.v); got != tt.want {
			t.Errorf("number(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

func TestWriteTableMediansAndRatio(t *testing.T) {
	in := `not json, a log line
{"mode":"pubsub","label":"loom","scenario":"s1","params":{"qos":1},"figures":{"recv_per_s":100,"pub_per_s":1}}
{"mode":"pubsub","label":"mosquitto","scenario":"s1","figures":{"recv_per_s":50}}
{"mode":"pubsub","label":"loom","scenario":"s1","figures":{"recv_per_s":300,"pub_per_s":3}}
{"mode":"pubsub","label":"mosquitto","scenario":"s1","figures":{"recv_per_s":150},"timed_out":true}
{"mode":"pubsub","label":"loom","scenario":"s1","figures":{"recv_per_s":200}}
{"mode":"idle","label":"mosquitto","scenario":"s2","figures":{"connect_per_s":5000}}
{"mode":"pubsub","label":"loom","scenario":"s3","params":{"qos":0},"figures":{"recv_per_s":7,"pub_per_s":9}}
`
	rs, err := readResults(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 7 {
		t.Fatalf("read %d results, want 7", len(rs))
	}
	var b strings.Builder
	if err := writeTable(&b, "T", "loom", "mosquitto", "", rs); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"| s1 | received msg/s ↑ | 200 | 100 † | 2.00 |", // medians 200 and 100
		"| s1 | published msg/s ↑ | 2 (2) | – | – |",     // only two loom runs carry it
		"| s2 | connections/s ↑ | – | 5,000 | – |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "| s3 | published") {
		t.Error("QoS 0 publish rate shown; it measures the socket buffer, not the broker")
	}
	if strings.Index(out, "| s1 ") > strings.Index(out, "| s2 ") {
		t.Error("scenarios not in order of first appearance")
	}
}
