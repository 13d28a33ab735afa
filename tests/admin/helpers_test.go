// Package admin_test drives the HTTP API of package admin over real HTTP,
// against a real broker on a loopback port with Paho clients (v5 and
// 3.1.1) and raw MQTT clients, and checks each endpoint's JSON against
// the traffic the test made.
package admin_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/admin"
	"github.com/loom-mqtt/loom/loomtest"
)

const token = "test-token"

// api is an admin listener on a free loopback port, and how to call it.
type api struct {
	t    *testing.T
	s    *admin.Server
	base string
	auth func(*http.Request) // credentials for each request; nil for none
}

// startAPI serves srv's API on 127.0.0.1:0 with o (Address filled in),
// closed when the test ends.
func startAPI(t *testing.T, srv *loom.Server, o admin.Options) *api {
	t.Helper()
	o.Address = "127.0.0.1:0"
	o.Logger = loomtest.Quiet
	s, err := admin.New(srv, o)
	require.NoError(t, err)
	require.NoError(t, s.Start())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), loomtest.Wait)
		defer cancel()
		_ = s.Close(ctx)
	})
	a := &api{t: t, s: s, base: "http://" + s.Addr().String()}
	if o.Token != "" {
		a.auth = func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+o.Token) }
	}
	return a
}

var httpClient = &http.Client{Timeout: loomtest.Wait}

// call makes one request and returns its status and body.
func (a *api) call(method, path string) (int, []byte, http.Header) {
	a.t.Helper()
	r, err := http.NewRequest(method, a.base+path, nil)
	require.NoError(a.t, err)
	if a.auth != nil {
		a.auth(r)
	}
	resp, err := httpClient.Do(r)
	require.NoError(a.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(a.t, err)
	if resp.StatusCode != http.StatusNoContent && len(b) > 0 {
		require.Equal(a.t, "application/json", resp.Header.Get("Content-Type"), "%s %s", method, path)
	}
	return resp.StatusCode, b, resp.Header
}

// get requires 200 and decodes the JSON into v.
func (a *api) get(path string, v any) {
	a.t.Helper()
	code, b, _ := a.call("GET", path)
	require.Equal(a.t, http.StatusOK, code, "GET %s: %s", path, b)
	require.NoError(a.t, json.Unmarshal(b, v), "GET %s: %s", path, b)
}

// status makes a request and returns its status, with the error message
// of a 4xx/5xx.
func (a *api) status(method, path string) (int, string) {
	a.t.Helper()
	code, b, _ := a.call(method, path)
	if code < 400 {
		return code, ""
	}
	var e struct {
		Error string `json:"error"`
	}
	require.NoError(a.t, json.Unmarshal(b, &e), "%s %s: %s", method, path, b)
	require.NotEmpty(a.t, e.Error)
	return code, e.Error
}

// The JSON of the API, as a client of it reads it.
type clientJSON struct {
	ID             string `json:"id"`
	Username       string `json:"username"`
	Remote         string `json:"remote"`
	Listener       string `json:"listener"`
	Version        string `json:"version"`
	KeepAlive      int    `json:"keepalive"`
	Inflight       int    `json:"inflight"`
	Queued         int    `json:"queued"`
	ConnectedSince string `json:"connected_since"`
}

type clientsJSON struct {
	Clients []clientJSON `json:"clients"`
	Next    string       `json:"next"`
	Total   int          `json:"total"`
}

type retainedJSON struct {
	Messages []struct {
		Topic       string  `json:"topic"`
		QoS         int     `json:"qos"`
		Size        int     `json:"size"`
		Payload     []byte  `json:"payload"`
		ContentType *string `json:"content_type"`
	} `json:"messages"`
	Next string `json:"next"`
}

func (r retainedJSON) topics() []string {
	out := []string{}
	for _, m := range r.Messages {
		out = append(out, m.Topic)
	}
	return out
}

// since requires an RFC 3339 time within [from, now].
func since(t *testing.T, s string, from time.Time) {
	t.Helper()
	at, err := time.Parse(time.RFC3339Nano, s)
	require.NoError(t, err, "time %q", s)
	require.WithinRange(t, at, from.Add(-time.Second), time.Now().Add(time.Second))
}
