package httpauth_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/hooks/httpauth"
	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/session"
)

// wait bounds every wait for an answer in these tests.
const wait = 5 * time.Second

// backend is an httptest server standing for an auth service. By default
// it decides by rules: alice with password "secret" may connect, and a
// user may publish and subscribe under its own name, and subscribe to
// public/#.
type backend struct {
	srv  *httptest.Server
	hits atomic.Int64

	mu      sync.Mutex
	bodies  []map[string]any
	headers []http.Header
	// reply, if set, answers instead of the rules.
	reply func(w http.ResponseWriter, r *http.Request, body map[string]any)
}

func newBackend(t testing.TB) *backend {
	b := &backend{}
	b.srv = httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *backend) serve(w http.ResponseWriter, r *http.Request) {
	b.hits.Add(1)
	var body map[string]any
	raw, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(raw, &body)
	b.mu.Lock()
	b.bodies = append(b.bodies, body)
	b.headers = append(b.headers, r.Header.Clone())
	reply := b.reply
	b.mu.Unlock()
	if reply != nil {
		reply(w, r, body)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	result := "deny"
	if rules(r.URL.Path, body) {
		result = "allow"
	}
	_, _ = io.WriteString(w, `{"result":"`+result+`"}`)
}

func rules(path string, body map[string]any) bool {
	user, _ := body["username"].(string)
	if path == "/auth" {
		return user == "alice" && body["password"] == "secret"
	}
	topic, _ := body["topic"].(string)
	return user != "" && strings.HasPrefix(topic, user+"/") ||
		body["access"] == "read" && topic == "public/#"
}

func (b *backend) setReply(fn func(w http.ResponseWriter, r *http.Request, body map[string]any)) {
	b.mu.Lock()
	b.reply = fn
	b.mu.Unlock()
}

func (b *backend) lastBody(t *testing.T) map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	require.NotEmpty(t, b.bodies)
	return b.bodies[len(b.bodies)-1]
}

func (b *backend) lastHeader(t *testing.T) http.Header {
	b.mu.Lock()
	defer b.mu.Unlock()
	require.NotEmpty(t, b.headers)
	return b.headers[len(b.headers)-1]
}

// opts are Options pointing at b, with failures logged nowhere.
func (b *backend) opts() httpauth.Options {
	return httpauth.Options{AuthURL: b.srv.URL + "/auth", ACLURL: b.srv.URL + "/acl",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func newHook(t testing.TB, o httpauth.Options) *httpauth.Hook {
	h := new(httpauth.Hook)
	require.NoError(t, h.Init(&o))
	t.Cleanup(func() { _ = h.Stop() })
	return h
}

// recorder is an Answer that records its calls.
type recorder struct {
	ch    chan bool
	calls atomic.Int32
}

func newRecorder() *recorder { return &recorder{ch: make(chan bool, 4)} }

func (r *recorder) answer() session.Answer {
	return func(allow bool) {
		r.calls.Add(1)
		r.ch <- allow
	}
}

// await is the answer, failing the test past wait.
func (r *recorder) await(t *testing.T) bool {
	t.Helper()
	select {
	case a := <-r.ch:
		return a
	case <-time.After(wait):
		t.Fatal("no answer within", wait)
		return false
	}
}

// never fails the test if an answer comes within d.
func (r *recorder) never(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case a := <-r.ch:
		t.Fatalf("answered %v, expected no answer", a)
	case <-time.After(d):
	}
}

// decided asks through ask and returns the decision, waiting for it if
// the hook answers Later, and checks that the Answer is called exactly
// once, and only for Later.
func decided(t *testing.T, ask func(session.Answer) session.Verdict) (session.Verdict, bool) {
	t.Helper()
	r := newRecorder()
	v := ask(r.answer())
	switch v {
	case session.Later:
		allow := r.await(t)
		r.never(t, 20*time.Millisecond)
		require.EqualValues(t, 1, r.calls.Load())
		return v, allow
	case session.Allow:
		r.never(t, 0)
		return v, true
	default:
		r.never(t, 0)
		return v, false
	}
}

var alice = session.ClientInfo{ID: "c1", Username: "alice", Remote: "192.0.2.7:53211",
	Listener: "tcp://127.0.0.1:1883", Version: proto.V5}

func connect(user, password string) *proto.Connect {
	return &proto.Connect{ClientID: []byte("c1"), UsernameFlag: user != "", Username: []byte(user),
		PasswordFlag: password != "", Password: []byte(password)}
}

func auth(h *httpauth.Hook, cl session.ClientInfo, pk *proto.Connect) func(session.Answer) session.Verdict {
	return func(a session.Answer) session.Verdict { return h.OnConnectAuthenticate(cl, pk, a) }
}

func acl(h *httpauth.Hook, cl session.ClientInfo, topic string, write bool) func(session.Answer) session.Verdict {
	return func(a session.Answer) session.Verdict { return h.OnACLCheck(cl, topic, write, a) }
}

// blockUntil answers allow once release is closed, or gives up when the
// request is abandoned: the server's Close waits for its handlers.
func blockUntil(release <-chan struct{}) func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
	return func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
		select {
		case <-release:
			_, _ = io.WriteString(w, "allow")
		case <-r.Context().Done():
		case <-time.After(wait):
		}
	}
}
