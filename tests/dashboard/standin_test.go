package dashboard_test

import (
	"encoding/json"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/admin"
	"github.com/loom-mqtt/loom/proto"
)

// standIn serves what the admin server will, until it lands: the
// dashboard at /, and the JSON the page reads (contract Seam 2) taken
// from a real broker: /api/v1/stats from Server.Stats, the clients from
// the session hooks, the top topics from an inline subscription to #.
type standIn struct {
	loom.HookBase
	srv *loom.Server

	mu      sync.Mutex
	clients map[string]standInClient
	seen    map[string][]time.Time // the last seconds of messages, by topic
}

type standInClient struct {
	info      loom.ClientInfo
	keepalive uint16
	since     time.Time
}

func (s *standIn) ID() string { return "dashboard-standin" }

func (s *standIn) Provides(e loom.Event) bool {
	return e == loom.OnSessionEstablished || e == loom.OnDisconnect
}

func (s *standIn) OnSessionEstablished(cl loom.ClientInfo, pk *proto.Connect) {
	if cl.Inline {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clients[cl.ID] = standInClient{info: cl, keepalive: pk.KeepAlive, since: time.Now()}
}

func (s *standIn) OnDisconnect(cl loom.ClientInfo, _ error, _ bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.clients, cl.ID)
}

// startAdmin serves srv's dashboard and the stand-in API on a free
// loopback port. Its hook sees the clients that connect from now on.
func startAdmin(t *testing.T, srv *loom.Server) *adminServer {
	t.Helper()
	s := &standIn{srv: srv, clients: map[string]standInClient{}, seen: map[string][]time.Time{}}
	if err := srv.AddHook(s, nil); err != nil {
		t.Fatal(err)
	}
	err := srv.Subscribe("#", 1, func(m loom.InlineMessage) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.seen[m.Topic] = append(s.seen[m.Topic], time.Now())
	})
	if err != nil {
		t.Fatal(err)
	}
	a := &adminServer{h: s.handler(), addr: "127.0.0.1:0"}
	a.start(t)
	t.Cleanup(a.stop)
	return a
}

func (s *standIn) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", admin.Dashboard())
	mux.HandleFunc("GET /api/v1/stats", func(w http.ResponseWriter, _ *http.Request) {
		st := s.srv.Stats()
		writeJSON(w, map[string]any{
			"time": time.Now().UTC().Format(time.RFC3339Nano), "uptime_seconds": int64(st.Uptime.Seconds()),
			"connected": st.Connected, "open_connections": st.OpenConnections, "max_connected": st.MaxConnected,
			"total_connections": st.TotalConnections, "sessions": st.Sessions, "persistent_sessions": st.PersistentSessions,
			"messages_in": st.MessagesIn, "messages_out": st.MessagesOut, "bytes_in": st.BytesIn, "bytes_out": st.BytesOut,
			"dropped": st.Dropped, "drops": map[string]int64{
				"queue_full": st.Drops.QueueFull, "session_bytes": st.Drops.SessionBytes, "budget": st.Drops.Budget,
				"slow_reader": st.Drops.SlowReader, "expired": st.Drops.Expired, "too_large": st.Drops.TooLarge,
				"not_authorized": st.Drops.NotAuthorized, "rejected": st.Drops.Rejected,
			},
			"inflight": st.Inflight, "held_bytes": st.HeldBytes, "spool_bytes": st.SpoolBytes, "read_pauses": st.ReadPauses,
			"subscriptions": st.Subscriptions, "shared_groups": st.SharedGroups, "retained": st.Retained,
			"auth_failures": st.AuthFailures, "acl_denied": st.ACLDenied,
			"store": map[string]bool{"open": true, "persistent": false},
		})
	})
	mux.HandleFunc("GET /api/v1/topics", func(w http.ResponseWriter, _ *http.Request) {
		type topic struct {
			Topic string  `json:"topic"`
			Rate  float64 `json:"messages_per_second"`
		}
		const over = 5 * time.Second
		cut := time.Now().Add(-over)
		var list []topic
		s.mu.Lock()
		for name, ts := range s.seen {
			i, _ := slices.BinarySearchFunc(ts, cut, time.Time.Compare)
			s.seen[name] = ts[i:]
			if n := len(ts) - i; n > 0 {
				list = append(list, topic{name, float64(n) / over.Seconds()})
			}
		}
		s.mu.Unlock()
		slices.SortFunc(list, func(a, b topic) int {
			if a.Rate != b.Rate {
				if a.Rate > b.Rate {
					return -1
				}
				return 1
			}
			return strings.Compare(a.Topic, b.Topic)
		})
		writeJSON(w, map[string]any{"topics": list[:min(len(list), 10)]})
	})
	mux.HandleFunc("GET /api/v1/clients", func(w http.ResponseWriter, r *http.Request) {
		q, after := r.URL.Query().Get("q"), r.URL.Query().Get("after")
		limit := 100
		if l := r.URL.Query().Get("limit"); l != "" {
			n, err := strconv.Atoi(l)
			if err != nil || n < 1 || n > 1000 {
				w.WriteHeader(http.StatusBadRequest)
				writeJSON(w, map[string]string{"error": "bad limit"})
				return
			}
			limit = n
		}
		s.mu.Lock()
		var ids []string
		for id, c := range s.clients {
			if q == "" || strings.Contains(id, q) || strings.Contains(c.info.Username, q) || strings.Contains(c.info.Remote, q) {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		total := len(ids)
		start, _ := slices.BinarySearch(ids, after+"\x00")
		if after == "" {
			start = 0
		}
		page := ids[start:min(len(ids), start+limit)]
		out := []map[string]any{}
		for _, id := range page {
			c := s.clients[id]
			v := map[proto.Version]string{proto.V5: "5", proto.V311: "3.1.1", proto.V31: "3.1"}[c.info.Version]
			out = append(out, map[string]any{
				"id": id, "username": c.info.Username, "remote": c.info.Remote, "listener": c.info.Listener,
				"version": v, "keepalive": c.keepalive, "inflight": 0, "queued": 0,
				"connected_since": c.since.UTC().Format(time.RFC3339),
			})
		}
		next := ""
		if start+limit < len(ids) {
			next = page[len(page)-1]
		}
		s.mu.Unlock()
		writeJSON(w, map[string]any{"clients": out, "next": next, "total": total})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// adminServer is the admin HTTP server the page talks to: it can be
// stopped and started again on the same address.
type adminServer struct {
	h    http.Handler
	addr string
	hs   *http.Server
}

func (a *adminServer) start(t *testing.T) {
	t.Helper()
	l, err := net.Listen("tcp", a.addr)
	if err != nil {
		t.Fatal(err)
	}
	a.addr = l.Addr().String()
	a.hs = &http.Server{Handler: a.h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = a.hs.Serve(l) }()
}

func (a *adminServer) stop() {
	if a.hs != nil {
		_ = a.hs.Close()
		a.hs = nil
	}
}

func (a *adminServer) url() string { return "http://" + a.addr + "/" }
