package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/proto"
)

// The paths and their JSON. Every response of the API is JSON with
// snake_case keys, times in RFC 3339, and errors {"error": "..."} with a
// 4xx or 5xx status.

// route is one method and path of the API.
type route struct {
	method, path string
	h            http.Handler
}

// routes is the whole mux. Each path also answers its other methods with
// 405 and an Allow header, and a path under /api/ that names nothing gets
// a JSON 404: a client of the API never has to parse an HTML or text error.
// Everything else is the dashboard's.
func (s *Server) routes() *http.ServeMux {
	rs := []route{
		{"GET", "/healthz", http.HandlerFunc(s.healthz)},
		{"GET", "/readyz", http.HandlerFunc(s.readyz)},
		{"GET", "/metrics", Metrics(s.srv)},
		{"GET", "/api/v1/stats", http.HandlerFunc(s.stats)},
		{"GET", "/api/v1/sys", http.HandlerFunc(s.sys)},
		{"GET", "/api/v1/clients", http.HandlerFunc(s.clients)},
		{"GET", "/api/v1/clients/{id}", http.HandlerFunc(s.client)},
		{"DELETE", "/api/v1/clients/{id}", http.HandlerFunc(s.disconnect)},
		{"GET", "/api/v1/clients/{id}/subscriptions", http.HandlerFunc(s.subscriptions)},
		{"GET", "/api/v1/retained", http.HandlerFunc(s.retained)},
		{"DELETE", "/api/v1/retained", http.HandlerFunc(s.deleteRetained)},
		{"GET", "/api/v1/topics", TopTopics(s.srv)},
	}
	mux := http.NewServeMux()
	allow := make(map[string][]string)
	var paths []string
	for _, r := range rs {
		mux.Handle(r.method+" "+r.path, r.h)
		if allow[r.path] == nil {
			paths = append(paths, r.path)
		}
		allow[r.path] = append(allow[r.path], r.method)
	}
	for _, p := range paths {
		mux.Handle(p, methodNotAllowed(allow[p]))
	}
	dash := Dashboard()
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/api" || strings.HasPrefix(r.URL.Path, "/api/"):
			writeError(w, http.StatusNotFound, "no such API path: "+r.URL.Path)
		case r.Method != http.MethodGet && r.Method != http.MethodHead:
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed")
		default:
			dash.ServeHTTP(w, r)
		}
	}))
	return mux
}

func methodNotAllowed(methods []string) http.Handler {
	allow := slices.Clone(methods)
	if slices.Contains(allow, "GET") {
		allow = append(allow, "HEAD")
	}
	v := strings.Join(allow, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", v)
		writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed; use "+v)
	})
}

// writeJSON sends v as the response.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

type errorBody struct {
	Error string `json:"error"`
}

// writeError sends {"error": msg} with status.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Error: msg})
}

// fail answers a request whose call into the broker failed: the broker
// closing or its loops too slow are 503 (try again, or elsewhere), the
// rest 500, logged.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, loom.ErrClosing):
		writeError(w, http.StatusServiceUnavailable, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusServiceUnavailable, "the broker's event loops did not answer in time")
	case errors.Is(err, context.Canceled):
		// The client has gone: nobody reads the answer.
	default:
		s.log.Warn("admin: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, err.Error())
	}
}

// inspecting is the request's context, bounded for a wait on the loops.
func inspecting(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), inspectTimeout)
}

// pageLimit reads the limit parameter: loom.DefaultPageLimit when absent,
// loom.MaxPageLimit at most.
func pageLimit(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return loom.DefaultPageLimit, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("limit %q: give a whole number from 1 to %d", v, loom.MaxPageLimit)
	}
	return min(n, loom.MaxPageLimit), nil
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

type readyBody struct {
	Ready   bool     `json:"ready"`
	Reasons []string `json:"reasons,omitempty"`
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	rd := s.srv.Readiness()
	if rd.Ready() {
		writeJSON(w, http.StatusOK, readyBody{Ready: true})
		return
	}
	writeJSON(w, http.StatusServiceUnavailable, readyBody{Reasons: rd.Reasons()})
}

// statsBody is loom.Stats in the API's JSON.
type statsBody struct {
	Time               string    `json:"time"`
	UptimeSeconds      int64     `json:"uptime_seconds"`
	Connected          int64     `json:"connected"`
	OpenConnections    int64     `json:"open_connections"`
	MaxConnected       int64     `json:"max_connected"`
	TotalConnections   int64     `json:"total_connections"`
	Sessions           int       `json:"sessions"`
	PersistentSessions int       `json:"persistent_sessions"`
	RefusedSessions    int64     `json:"refused_sessions"`
	MessagesIn         int64     `json:"messages_in"`
	MessagesOut        int64     `json:"messages_out"`
	BytesIn            int64     `json:"bytes_in"`
	BytesOut           int64     `json:"bytes_out"`
	Dropped            int64     `json:"dropped"`
	Drops              dropsBody `json:"drops"`
	Inflight           int64     `json:"inflight"`
	HeldBytes          int64     `json:"held_bytes"`
	SpoolBytes         int64     `json:"spool_bytes"`
	ReadPauses         int64     `json:"read_pauses"`
	PreConnectRefused  int64     `json:"pre_connect_refused"`
	ProtocolFailures   int64     `json:"protocol_failures"`
	TLSFailures        int64     `json:"tls_failures"`
	WebSocketRefused   int64     `json:"websocket_refused"`
	ProxyRefused       int64     `json:"proxy_refused"`
	ACLDenied          int64     `json:"acl_denied"`
	AuthFailures       int64     `json:"auth_failures"`
	HookPanics         int64     `json:"hook_panics"`
	Subscriptions      int       `json:"subscriptions"`
	SharedGroups       int       `json:"shared_groups"`
	Retained           int       `json:"retained"`
	Store              storeBody `json:"store"`
	// Queued, by QoS and by version: what the metrics have beyond the
	// $SYS values.
	Queued             int64            `json:"queued"`
	MessagesInByQoS    [3]int64         `json:"messages_in_by_qos"`
	MessagesOutByQoS   [3]int64         `json:"messages_out_by_qos"`
	ConnectedByVersion map[string]int64 `json:"connected_by_version"`
	// The connection and publish limits' refusals and pauses.
	RefusedAtCap      int64 `json:"refused_at_cap"`
	RefusedForRate    int64 `json:"refused_for_rate"`
	PublishRatePauses int64 `json:"publish_rate_pauses"`
}

// dropsBody are loom.Drops under their $SYS names.
type dropsBody struct {
	QueueFull     int64 `json:"queue_full"`
	SessionBytes  int64 `json:"session_bytes"`
	Budget        int64 `json:"budget"`
	SlowReader    int64 `json:"slow_reader"`
	Expired       int64 `json:"expired"`
	TooLarge      int64 `json:"too_large"`
	NotAuthorized int64 `json:"not_authorized"`
	Rejected      int64 `json:"rejected"`
}

type storeBody struct {
	Open       bool `json:"open"`
	Persistent bool `json:"persistent"`
	// Commits is the number of commits since the start; CommitMeanMS
	// their mean time and CommitP99MS the bound under which 99% of them
	// took (the histogram's bucket that holds the 99th percentile), in
	// milliseconds; absent without a store that times its commits.
	Commits      uint64   `json:"commits"`
	CommitMeanMS *float64 `json:"commit_mean_ms,omitempty"`
	CommitP99MS  *float64 `json:"commit_p99_ms,omitempty"`
}

// storeOf is the store's part of the stats.
func storeOf(st loom.Stats, rd loom.Readiness) storeBody {
	b := storeBody{Open: rd.StoreOpen, Persistent: rd.Persistent, Commits: st.StoreCommits.Count}
	l := st.StoreCommits
	if l.Count == 0 || len(l.Bounds) == 0 {
		return b
	}
	ms := func(d time.Duration) *float64 { v := float64(d) / float64(time.Millisecond); return &v }
	b.CommitMeanMS = ms(l.Sum / time.Duration(l.Count))
	want := (l.Count*99 + 99) / 100 // the 99th percentile's rank, rounded up
	for i, n := range l.Counts {
		if n >= want {
			b.CommitP99MS = ms(l.Bounds[i])
			return b
		}
	}
	// Past the last bound: say the last bound was passed, as its value.
	b.CommitP99MS = ms(l.Bounds[len(l.Bounds)-1])
	return b
}

func (s *Server) stats(w http.ResponseWriter, _ *http.Request) {
	st, rd := s.srv.Stats(), s.srv.Readiness()
	d := st.Drops
	writeJSON(w, http.StatusOK, statsBody{
		Time:               time.Now().UTC().Format(time.RFC3339Nano),
		UptimeSeconds:      int64(st.Uptime / time.Second),
		Connected:          st.Connected,
		OpenConnections:    st.OpenConnections,
		MaxConnected:       st.MaxConnected,
		TotalConnections:   st.TotalConnections,
		Sessions:           st.Sessions,
		PersistentSessions: st.PersistentSessions,
		RefusedSessions:    st.RefusedSessions,
		MessagesIn:         st.MessagesIn,
		MessagesOut:        st.MessagesOut,
		BytesIn:            st.BytesIn,
		BytesOut:           st.BytesOut,
		Dropped:            st.Dropped,
		Drops: dropsBody{QueueFull: d.QueueFull, SessionBytes: d.SessionBytes, Budget: d.Budget,
			SlowReader: d.SlowReader, Expired: d.Expired, TooLarge: d.TooLarge,
			NotAuthorized: d.NotAuthorized, Rejected: d.Rejected},
		Inflight:          st.Inflight,
		HeldBytes:         st.HeldBytes,
		SpoolBytes:        st.SpoolBytes,
		ReadPauses:        st.ReadPauses,
		PreConnectRefused: st.PreConnectRefused,
		ProtocolFailures:  st.ProtocolFailures,
		TLSFailures:       st.TLSFailures,
		WebSocketRefused:  st.WebSocketRefused,
		ProxyRefused:      st.ProxyRefused,
		ACLDenied:         st.ACLDenied,
		AuthFailures:      st.AuthFailures,
		HookPanics:        st.HookPanics,
		Subscriptions:     st.Subscriptions,
		SharedGroups:      st.SharedGroups,
		Retained:          st.Retained,
		Store:             storeOf(st, rd),
		Queued:            st.Queued,
		MessagesInByQoS:   st.MessagesInByQoS,
		MessagesOutByQoS:  st.MessagesOutByQoS,
		ConnectedByVersion: map[string]int64{proto.V31.String(): st.ConnectedByVersion[0],
			proto.V311.String(): st.ConnectedByVersion[1], proto.V5.String(): st.ConnectedByVersion[2]},
		RefusedAtCap:      st.RefusedAtCap,
		RefusedForRate:    st.RefusedForRate,
		PublishRatePauses: st.PublishRatePauses,
	})
}

func (s *Server) sys(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.srv.SysValues())
}

// clientBody is loom.ClientStatus in the API's JSON.
type clientBody struct {
	ID             string `json:"id"`
	Username       string `json:"username"`
	Remote         string `json:"remote"`
	Listener       string `json:"listener"`
	Version        string `json:"version"`
	KeepAlive      uint16 `json:"keepalive"`
	Inflight       int    `json:"inflight"`
	Queued         int    `json:"queued"`
	ConnectedSince string `json:"connected_since"`
}

func clientJSON(c loom.ClientStatus) clientBody {
	return clientBody{ID: c.ID, Username: c.Username, Remote: c.Remote, Listener: c.Listener,
		Version: c.Version.String(), KeepAlive: c.KeepAlive, Inflight: c.Inflight, Queued: c.Queued,
		ConnectedSince: c.ConnectedSince.UTC().Format(time.RFC3339Nano)}
}

type clientsBody struct {
	Clients []clientBody `json:"clients"`
	Next    string       `json:"next"`
	Total   int          `json:"total"`
}

func (s *Server) clients(w http.ResponseWriter, r *http.Request) {
	limit, err := pageLimit(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	q := r.URL.Query()
	ctx, cancel := inspecting(r)
	defer cancel()
	p, err := s.srv.Clients(ctx, loom.ClientQuery{After: q.Get("after"), Limit: limit, Search: q.Get("q")})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := clientsBody{Clients: make([]clientBody, len(p.Clients)), Next: p.Next, Total: p.Total}
	for i, c := range p.Clients {
		out.Clients[i] = clientJSON(c)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) client(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ctx, cancel := inspecting(r)
	defer cancel()
	c, ok, err := s.srv.Client(ctx, id)
	switch {
	case err != nil:
		s.fail(w, r, err)
	case !ok:
		writeError(w, http.StatusNotFound, fmt.Sprintf("no client connected with id %q", id))
	default:
		writeJSON(w, http.StatusOK, clientJSON(c))
	}
}

func (s *Server) disconnect(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ctx, cancel := inspecting(r)
	defer cancel()
	err := s.srv.DisconnectClient(ctx, id)
	switch {
	case errors.Is(err, loom.ErrNoClient):
		writeError(w, http.StatusNotFound, fmt.Sprintf("no client connected with id %q", id))
	case err != nil:
		s.fail(w, r, err)
	default:
		s.log.Info("admin: client disconnected", "client", id, "remote", r.RemoteAddr)
		w.WriteHeader(http.StatusNoContent)
	}
}

type subscriptionBody struct {
	Filter            string `json:"filter"`
	QoS               byte   `json:"qos"`
	NoLocal           bool   `json:"no_local"`
	RetainAsPublished bool   `json:"retain_as_published"`
	RetainHandling    byte   `json:"retain_handling"`
	Identifier        uint32 `json:"identifier"`
}

type subscriptionsBody struct {
	Subscriptions []subscriptionBody `json:"subscriptions"`
}

func (s *Server) subscriptions(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	subs, ok := s.srv.Subscriptions(id)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no session with client id %q", id))
		return
	}
	out := subscriptionsBody{Subscriptions: make([]subscriptionBody, len(subs))}
	for i, x := range subs {
		out.Subscriptions[i] = subscriptionBody{Filter: x.Filter, QoS: x.QoS, NoLocal: x.NoLocal,
			RetainAsPublished: x.RetainAsPublished, RetainHandling: x.RetainHandling, Identifier: x.Identifier}
	}
	writeJSON(w, http.StatusOK, out)
}

type retainedBody struct {
	Topic       string `json:"topic"`
	QoS         byte   `json:"qos"`
	Size        int    `json:"size"`
	Payload     []byte `json:"payload"` // base64, as encoding/json writes bytes
	ContentType string `json:"content_type,omitempty"`
}

type retainedPageBody struct {
	Messages []retainedBody `json:"messages"`
	Next     string         `json:"next"`
}

// badTopic reports whether err is the broker's refusal of a topic or
// filter the request gave.
func badTopic(err error) bool {
	return errors.Is(err, loom.ErrInlineTopic) || errors.Is(err, loom.ErrInlineFilter) || errors.Is(err, loom.ErrSysTopic)
}

func (s *Server) retained(w http.ResponseWriter, r *http.Request) {
	limit, err := pageLimit(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	q := r.URL.Query()
	p, err := s.srv.RetainedMessages(loom.RetainedQuery{Filter: q.Get("filter"), After: q.Get("after"), Limit: limit})
	switch {
	case badTopic(err):
		writeError(w, http.StatusBadRequest, err.Error())
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	out := retainedPageBody{Messages: make([]retainedBody, len(p.Messages)), Next: p.Next}
	for i, m := range p.Messages {
		out.Messages[i] = retainedBody{Topic: m.Topic, QoS: m.QoS, Size: len(m.Payload), Payload: m.Payload, ContentType: m.ContentType}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) deleteRetained(w http.ResponseWriter, r *http.Request) {
	topic := r.URL.Query().Get("topic")
	if topic == "" {
		writeError(w, http.StatusBadRequest, "give the topic: ?topic=...")
		return
	}
	err := s.srv.DeleteRetained(topic)
	switch {
	case errors.Is(err, loom.ErrNoRetained):
		writeError(w, http.StatusNotFound, fmt.Sprintf("no retained message under %q", topic))
	case badTopic(err):
		writeError(w, http.StatusBadRequest, err.Error())
	case err != nil:
		s.fail(w, r, err) // a hook refused the delete, say
	default:
		s.log.Info("admin: retained message deleted", "topic", topic, "remote", r.RemoteAddr)
		w.WriteHeader(http.StatusNoContent)
	}
}
