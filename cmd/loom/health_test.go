package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHealth(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	}))
	defer ok.Close()

	for _, c := range []struct {
		name string
		args []string
		code int
		err  string
	}{
		{"up", []string{ok.URL + "/healthz"}, 0, ""},
		{"not 200", []string{ok.URL + "/nothing"}, 1, "404"},
		{"nobody listening", []string{"http://127.0.0.1:1/healthz"}, 1, "refused"},
		{"not a URL", []string{"127.0.0.1:8080"}, 2, "not an http"},
		{"two arguments", []string{"a", "b"}, 2, "usage"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if got := run(append([]string{"health"}, c.args...), &out, &errb); got != c.code {
				t.Fatalf("exit %d, want %d; stderr %q", got, c.code, errb.String())
			}
			if c.err != "" && !strings.Contains(errb.String(), c.err) {
				t.Fatalf("stderr %q does not say %q", errb.String(), c.err)
			}
		})
	}
}
