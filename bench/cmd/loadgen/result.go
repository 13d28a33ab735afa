package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"
)

// result is one run as printed by -json and read back by the report mode.
type result struct {
	Mode     string             `json:"mode"`
	Label    string             `json:"label"`
	Scenario string             `json:"scenario"`
	Params   map[string]any     `json:"params"`
	Figures  map[string]float64 `json:"figures"`
	TimedOut bool               `json:"timed_out,omitempty"`
	Errors   []string           `json:"errors,omitempty"`
	Time     time.Time          `json:"time"`
}

func newResult(mode string, c *common, scenario string, params map[string]any) *result {
	if c.scenario != "" {
		scenario = c.scenario
	}
	params["version"] = c.version
	// The transport, in every run's parameters and, when not plain TCP, in
	// its scenario name, so that a TLS run is never a TCP run's sibling.
	params["transport"] = c.endpoint.transport
	if tr := c.endpoint.transport; tr != transportTCP && tr != "" {
		if c.endpoint.usesTLS() {
			params["tls_curves"] = c.tls.curvesName()
		}
		if c.scenario == "" {
			scenario += " over " + tr
			if c.tls.goCurves {
				scenario += " (Go's key shares)"
			}
		}
	}
	return &result{Mode: mode, Label: c.label, Scenario: scenario, Params: params,
		Figures: map[string]float64{}, Time: time.Now().UTC()}
}

// emit prints the JSON line when asked for.
func (r *result) emit(c *common) error {
	if !c.json {
		return nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(os.Stdout, "%s\n", b)
	return err
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// printf writes one human-readable line.
func printf(w io.Writer, format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
