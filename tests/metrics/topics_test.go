package metrics

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/admin"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/tests/internal/pahotest"
)

type topicsReply struct {
	Topics []struct {
		Topic             string  `json:"topic"`
		MessagesPerSecond float64 `json:"messages_per_second"`
	} `json:"topics"`
	WindowSeconds float64 `json:"window_seconds"`
}

// getJSON GETs url and decodes its JSON reply into v, returning the status.
func getJSON(t *testing.T, method, url string, v any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	require.NoError(t, json.NewDecoder(resp.Body).Decode(v))
	return resp.StatusCode
}

// TestTopTopicsEndpoint: GET /api/v1/topics ranks the topics real clients
// publish to by rate, answers n, and refuses a bad n or method with a JSON
// error.
func TestTopTopicsEndpoint(t *testing.T) {
	srv, addr := loomtest.Start(t, loom.Options{SysInterval: -1})
	web := httptest.NewServer(admin.TopTopics(srv))
	t.Cleanup(web.Close)

	pub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "pub"})
	// Rounds in the same proportions, until the broker's answer has all
	// three: whichever windows the rounds fall in, each holds whole rounds
	// but for the two at its ends, so the ranking is the same.
	sent := map[string]int{}
	var got topicsReply
	deadline := time.Now().Add(loomtest.Wait)
	for round := 0; ; round++ {
		require.True(t, time.Now().Before(deadline), "no ranking of the three topics after %d rounds: %+v", round, got)
		for topic, n := range map[string]int{"hot/a": 9, "warm/b": 3, "cold/c": 1} {
			for range n {
				pub.Say(t, topic, 1, false, "x") // QoS 1: routed once acknowledged
				sent[topic]++
			}
		}
		got = topicsReply{}
		require.Equal(t, http.StatusOK, getJSON(t, "GET", web.URL+"/api/v1/topics", &got))
		if len(got.Topics) == 3 && round >= 2 {
			break
		}
	}
	require.Equal(t, "hot/a", got.Topics[0].Topic)
	require.Equal(t, "warm/b", got.Topics[1].Topic)
	require.Equal(t, "cold/c", got.Topics[2].Topic)
	require.Positive(t, got.WindowSeconds)
	for _, x := range got.Topics {
		// A rate is over the window given, and never claims more messages
		// than were sent.
		n := math.Round(x.MessagesPerSecond * got.WindowSeconds)
		require.Positive(t, n, x.Topic)
		require.LessOrEqual(t, n, float64(sent[x.Topic]), x.Topic)
	}

	got = topicsReply{}
	require.Equal(t, http.StatusOK, getJSON(t, "GET", web.URL+"/api/v1/topics?n=1", &got))
	require.Len(t, got.Topics, 1)
	require.Equal(t, "hot/a", got.Topics[0].Topic)

	for _, bad := range []string{"0", "-1", "101", "ten", "1.5"} {
		var e struct {
			Error string `json:"error"`
		}
		require.Equal(t, http.StatusBadRequest, getJSON(t, "GET", web.URL+"/api/v1/topics?n="+bad, &e), bad)
		require.True(t, strings.Contains(e.Error, "n="), "the error names the parameter: %q", e.Error)
	}
	var e struct {
		Error string `json:"error"`
	}
	require.Equal(t, http.StatusMethodNotAllowed, getJSON(t, "POST", web.URL+"/api/v1/topics", &e))
	require.NotEmpty(t, e.Error)
}

// With no traffic the reply is an empty list, not null.
func TestTopTopicsEmpty(t *testing.T) {
	srv, _ := loomtest.Start(t, loom.Options{SysInterval: -1})
	web := httptest.NewServer(admin.TopTopics(srv))
	t.Cleanup(web.Close)
	resp, err := http.Get(web.URL + "/api/v1/topics")
	require.NoError(t, err)
	defer resp.Body.Close()
	var raw map[string]json.RawMessage
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&raw))
	require.Equal(t, "[]", string(raw["topics"]))
}
