package admin

import (
	"fmt"
	"net/http"
	"strconv"

	loom "github.com/loom-mqtt/loom"
)

// maxTopTopics bounds n: each router shard counts its busiest topics in a
// sketch of 128, so more would not be the true top anyway.
const maxTopTopics = 100

// topicsReply is the JSON of GET /api/v1/topics.
type topicsReply struct {
	Topics []topicRate `json:"topics"`
	// WindowSeconds is the length of the window the rates are over.
	WindowSeconds float64 `json:"window_seconds"`
}

type topicRate struct {
	Topic             string  `json:"topic"`
	MessagesPerSecond float64 `json:"messages_per_second"`
}

// TopTopics serves GET /api/v1/topics?n=10: the n topics (default 10, at
// most 100) with the most messages per second over the broker's last
// window, highest first (Server.TopTopics).
func TopTopics(srv *loom.Server) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			// Mounted by Server for GET alone; an embedder's mux may not be.
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed; use GET, HEAD")
			return
		}
		n := 10
		if q := r.URL.Query().Get("n"); q != "" {
			v, err := strconv.Atoi(q)
			if err != nil || v < 1 || v > maxTopTopics {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("n=%q: give a whole number from 1 to %d", q, maxTopTopics))
				return
			}
			n = v
		}
		rates, window := srv.TopTopics(n)
		out := topicsReply{Topics: make([]topicRate, len(rates)), WindowSeconds: window.Seconds()}
		for i, x := range rates {
			out.Topics[i] = topicRate{Topic: x.Topic, MessagesPerSecond: x.MessagesPerSecond}
		}
		writeJSON(w, http.StatusOK, out)
	})
}
