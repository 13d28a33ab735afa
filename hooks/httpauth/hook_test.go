package httpauth_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/hooks/httpauth"
	"github.com/loom-mqtt/loom/session"
)

var _ session.Hook = (*httpauth.Hook)(nil)

func TestProvides(t *testing.T) {
	b := newBackend(t)
	for _, tc := range []struct {
		name        string
		auth, acl   string
		wantAuth    bool
		wantACL     bool
		wantInitErr bool
	}{
		{"both", b.srv.URL, b.srv.URL, true, true, false},
		{"auth only", b.srv.URL, "", true, false, false},
		{"ACL only", "", b.srv.URL, false, true, false},
		{"neither", "", "", false, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := new(httpauth.Hook)
			err := h.Init(&httpauth.Options{AuthURL: tc.auth, ACLURL: tc.acl})
			if tc.wantInitErr {
				require.Error(t, err)
			} else {
				require.NoError(t, err)
				t.Cleanup(func() { _ = h.Stop() })
			}
			for _, e := range session.Events() {
				want := e == session.OnConnectAuthenticate && tc.wantAuth || e == session.OnACLCheck && tc.wantACL
				require.Equal(t, want, h.Provides(e), "%v", e)
			}
		})
	}
	require.Equal(t, "http-auth", new(httpauth.Hook).ID())
}

func TestInit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		config any
	}{
		{"nil", nil},
		{"a nil *Options", (*httpauth.Options)(nil)},
		{"another type", struct{}{}},
		{"no URL", &httpauth.Options{}},
		{"not a URL", &httpauth.Options{AuthURL: "::"}},
		{"not http", &httpauth.Options{AuthURL: "ftp://x/auth"}},
		{"no host", &httpauth.Options{ACLURL: "http:///acl"}},
		{"a negative Timeout", &httpauth.Options{AuthURL: "http://x/", Timeout: -1}},
		{"a negative MaxInflight", &httpauth.Options{AuthURL: "http://x/", MaxInflight: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Error(t, new(httpauth.Hook).Init(tc.config))
		})
	}
	t.Run("twice", func(t *testing.T) {
		h := new(httpauth.Hook)
		require.NoError(t, h.Init(httpauth.Options{AuthURL: "http://x/"}))
		t.Cleanup(func() { _ = h.Stop() })
		require.Error(t, h.Init(&httpauth.Options{AuthURL: "http://x/"}))
	})
	t.Run("through AddHook", func(t *testing.T) {
		b := session.NewBroker(session.Options{SysInterval: -1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		t.Cleanup(b.Close)
		require.Error(t, b.AddHook(new(httpauth.Hook), nil))
		require.NoError(t, b.AddHook(new(httpauth.Hook), &httpauth.Options{ACLURL: "http://127.0.0.1:1/acl"}))
		require.Len(t, b.Hooks(), 1)
	})
}

// The hook before Init, and for an event it does not provide, decides
// nothing and never answers.
func TestUninitialised(t *testing.T) {
	var h httpauth.Hook
	v, _ := decided(t, auth(&h, alice, connect("alice", "secret")))
	require.Equal(t, session.Deny, v)
	v, _ = decided(t, acl(&h, alice, "alice/x", true))
	require.Equal(t, session.Deny, v)
	b := newBackend(t)
	o := b.opts()
	o.ACLURL = ""
	h2 := newHook(t, o)
	v, _ = decided(t, acl(h2, alice, "alice/x", true))
	require.Equal(t, session.Deny, v)
	require.Zero(t, b.hits.Load())
	h2.Purge()
	var h3 httpauth.Hook
	h3.Purge()
	require.NoError(t, h3.Stop())
	require.Equal(t, httpauth.Stats{}, h3.Stats())
}

// (a) A healthy backend: the first question is answered Later with the
// backend's decision, the same again at once from the cache.
func TestHealthy(t *testing.T) {
	b := newBackend(t)
	h := newHook(t, b.opts())
	bob := session.ClientInfo{ID: "c2", Username: "bob", Remote: "192.0.2.8:4000", Listener: alice.Listener}
	for _, tc := range []struct {
		name  string
		ask   func(session.Answer) session.Verdict
		allow bool
	}{
		{"alice with her password", auth(h, alice, connect("alice", "secret")), true},
		{"alice with a wrong password", auth(h, alice, connect("alice", "guess")), false},
		{"alice without a password", auth(h, alice, connect("alice", "")), false},
		{"no packet", auth(h, session.ClientInfo{ID: "c3", Username: "alice"}, nil), false},
		{"bob", auth(h, bob, connect("bob", "secret")), false},
		{"alice publishes under her name", acl(h, alice, "alice/temp", true), true},
		{"alice subscribes under her name", acl(h, alice, "alice/#", false), true},
		{"alice publishes under bob's", acl(h, alice, "bob/temp", true), false},
		{"bob subscribes to public/#", acl(h, bob, "public/#", false), true},
		{"bob publishes to public/#", acl(h, bob, "public/#", true), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hits := b.hits.Load()
			v, allow := decided(t, tc.ask)
			require.Equal(t, session.Later, v)
			require.Equal(t, tc.allow, allow)
			require.Equal(t, hits+1, b.hits.Load())

			v, _ = decided(t, tc.ask)
			want := session.Refuse
			if tc.allow {
				want = session.Allow
			}
			require.Equal(t, want, v, "from the cache")
			require.Equal(t, hits+1, b.hits.Load(), "no second request")
		})
	}
	s := h.Stats()
	require.EqualValues(t, 10, s.Requests)
	require.EqualValues(t, 4, s.Allowed)
	require.EqualValues(t, 6, s.Denied)
	require.Zero(t, s.Failed)
	require.EqualValues(t, 10, s.CacheHits)
	require.EqualValues(t, 10, s.CacheMisses)
	require.Equal(t, 10, s.Cached)
}

// (g) The JSON the backend receives has the documented fields and no
// others, with the configured headers.
func TestRequestJSON(t *testing.T) {
	b := newBackend(t)
	o := b.opts()
	o.Header = http.Header{"Authorization": {"Bearer backend-token"}}
	h := newHook(t, o)

	decided(t, auth(h, alice, connect("alice", "secret")))
	require.Equal(t, map[string]any{"clientid": "c1", "username": "alice", "password": "secret",
		"remote": "192.0.2.7:53211", "listener": "tcp://127.0.0.1:1883"}, b.lastBody(t))
	hd := b.lastHeader(t)
	require.Equal(t, "Bearer backend-token", hd.Get("Authorization"))
	require.Equal(t, "application/json", hd.Get("Content-Type"))

	decided(t, acl(h, alice, "alice/+/temp", false))
	require.Equal(t, map[string]any{"clientid": "c1", "username": "alice", "remote": "192.0.2.7:53211",
		"listener": "tcp://127.0.0.1:1883", "topic": "alice/+/temp", "access": "read"}, b.lastBody(t))
	decided(t, acl(h, alice, "alice/1/temp", true))
	require.Equal(t, "write", b.lastBody(t)["access"])
	require.Equal(t, "alice/1/temp", b.lastBody(t)["topic"])

	// Changing the header map after Init changes nothing.
	o.Header.Set("Authorization", "changed")
	decided(t, acl(h, alice, "alice/2", true))
	require.Equal(t, "Bearer backend-token", b.lastHeader(t).Get("Authorization"))
}

// The password reaches the backend as it was sent, even though the
// broker reuses the packet's buffer once the hook returns.
func TestPasswordCopied(t *testing.T) {
	b := newBackend(t)
	release := make(chan struct{})
	b.setReply(blockUntil(release))
	h := newHook(t, b.opts())
	pk := connect("alice", "secret")
	r := newRecorder()
	require.Equal(t, session.Later, h.OnConnectAuthenticate(alice, pk, r.answer()))
	copy(pk.Password, "XXXXXX")
	close(release)
	require.True(t, r.await(t))
	require.Equal(t, "secret", b.lastBody(t)["password"])
}

func TestAnswers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		allow  bool
		failed bool
	}{
		{"JSON allow", 200, `{"result":"allow"}`, true, false},
		{"JSON deny", 200, `{"result":"deny"}`, false, false},
		{"JSON allow with other fields and space", 200, " {\"result\": \"ALLOW\", \"is_superuser\": false}\n", true, false},
		{"text allow", 200, "allow\n", true, false},
		{"text deny", 200, "Deny", false, false},
		{"201 allow", 201, "allow", true, false},
		{"204 empty", 204, "", false, true},
		{"200 empty", 200, "", false, true},
		{"HTML", 200, "<html><body>allow</body></html>", false, true},
		{"invalid JSON", 200, `{"result":"allow"`, false, true},
		{"JSON without result", 200, `{"ok":true}`, false, true},
		{"JSON ignore", 200, `{"result":"ignore"}`, false, true},
		{"JSON result not a string", 200, `{"result":true}`, false, true},
		{"other text", 200, "ok", false, true},
		{"500", 500, `{"result":"allow"}`, false, true},
		{"403", 403, "deny", false, true},
		{"302", 302, "allow", false, true},
		{"too long", 200, `{"result":"allow","pad":"` + strings.Repeat("x", 5000) + `"}`, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackend(t)
			b.setReply(func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			})
			h := newHook(t, b.opts())
			v, allow := decided(t, acl(h, alice, "alice/x", true))
			require.Equal(t, session.Later, v)
			require.Equal(t, tc.allow, allow)
			s := h.Stats()
			require.EqualValues(t, 1, s.Requests)
			if tc.failed {
				require.EqualValues(t, 1, s.Failed)
				require.Zero(t, s.Cached, "a failure is not remembered")
				v, _ = decided(t, acl(h, alice, "alice/x", true))
				require.Equal(t, session.Later, v, "asked again")
				require.EqualValues(t, 2, b.hits.Load())
			} else {
				require.Zero(t, s.Failed)
				require.Equal(t, 1, s.Cached)
			}
		})
	}
}

// (b) A backend slower than Timeout: the question is refused after about
// Timeout, and meanwhile remembered answers come at once.
func TestSlow(t *testing.T) {
	b := newBackend(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	b.setReply(func(w http.ResponseWriter, r *http.Request, body map[string]any) {
		if body["topic"] == "alice/slow" {
			blockUntil(release)(w, r, body)
			return
		}
		_, _ = io.WriteString(w, "allow")
	})
	o := b.opts()
	o.Timeout = 300 * time.Millisecond
	h := newHook(t, o)
	_, allow := decided(t, acl(h, alice, "alice/fast", true))
	require.True(t, allow)

	start := time.Now()
	slow := newRecorder()
	require.Equal(t, session.Later, h.OnACLCheck(alice, "alice/slow", true, slow.answer()))
	for range 100 {
		v, _ := decided(t, acl(h, alice, "alice/fast", true))
		require.Equal(t, session.Allow, v)
	}
	require.Less(t, time.Since(start), o.Timeout, "cached answers did not wait for the slow one")
	require.False(t, slow.await(t))
	took := time.Since(start)
	require.GreaterOrEqual(t, took, o.Timeout)
	require.Less(t, took, o.Timeout+time.Second)
	require.EqualValues(t, 1, h.Stats().Failed)
}

// (c) A backend that is down: refused, counted, not remembered.
func TestDown(t *testing.T) {
	b := newBackend(t)
	o := b.opts()
	b.srv.Close()
	h := newHook(t, o)
	for range 2 {
		v, allow := decided(t, auth(h, alice, connect("alice", "secret")))
		require.Equal(t, session.Later, v)
		require.False(t, allow)
	}
	s := h.Stats()
	require.EqualValues(t, 2, s.Requests)
	require.EqualValues(t, 2, s.Failed)
	require.Zero(t, s.Cached)
}

// Failures are logged at a bounded rate, with the count left out.
func TestFailureLogBounded(t *testing.T) {
	b := newBackend(t)
	o := b.opts()
	b.srv.Close()
	rec := &records{}
	o.Logger = slog.New(rec)
	o.LogEvery = time.Hour
	h := newHook(t, o)
	for i := range 10 {
		decided(t, acl(h, alice, "alice/"+string(rune('a'+i)), true))
	}
	require.Eventually(t, func() bool { return rec.count() == 1 }, wait, 5*time.Millisecond)
	time.Sleep(50 * time.Millisecond)
	require.Equal(t, 1, rec.count())
	r := rec.first()
	require.Equal(t, slog.LevelWarn, r.Level)
	require.Contains(t, r.Message, "did not answer")
	require.EqualValues(t, 10, h.Stats().Failed)
}

// The next record says how many failures were left out before it.
func TestFailureLogCountsLeftOut(t *testing.T) {
	b := newBackend(t)
	o := b.opts()
	b.srv.Close()
	rec := &records{}
	o.Logger = slog.New(rec)
	o.LogEvery = 300 * time.Millisecond
	h := newHook(t, o)
	var rs []*recorder // asked at once, so that all five fail within LogEvery
	for i := range 5 {
		r := newRecorder()
		require.Equal(t, session.Later, h.OnACLCheck(alice, "alice/"+string(rune('a'+i)), true, r.answer()))
		rs = append(rs, r)
	}
	for _, r := range rs {
		require.False(t, r.await(t))
	}
	require.Eventually(t, func() bool { return rec.count() == 1 }, wait, 5*time.Millisecond)
	time.Sleep(o.LogEvery)
	decided(t, acl(h, alice, "alice/z", true))
	require.Eventually(t, func() bool { return rec.count() == 2 }, wait, 5*time.Millisecond)
	var left int64
	rec.last().Attrs(func(a slog.Attr) bool {
		if a.Key == "failures_not_logged" {
			left = a.Value.Int64()
		}
		return true
	})
	require.EqualValues(t, 4, left)
}

// records is a slog.Handler that keeps what it is given.
type records struct {
	mu  sync.Mutex
	all []slog.Record
}

func (r *records) Enabled(_ context.Context, _ slog.Level) bool { return true }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all = append(r.all, rec.Clone())
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }
func (r *records) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.all)
}
func (r *records) last() slog.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.all[len(r.all)-1]
}
func (r *records) first() slog.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.all[0]
}

// A password the JSON request could not carry is refused without asking.
func TestPasswordNotUTF8(t *testing.T) {
	b := newBackend(t)
	h := newHook(t, b.opts())
	pk := connect("alice", "")
	pk.PasswordFlag, pk.Password = true, []byte{0xff, 0xfe}
	v, _ := decided(t, auth(h, alice, pk))
	require.Equal(t, session.Refuse, v)
	require.Zero(t, b.hits.Load())
	require.EqualValues(t, 1, h.Stats().Rejected)
}

// A question in flight when the hook stops is refused, and so is every
// question after.
func TestStop(t *testing.T) {
	b := newBackend(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	b.setReply(blockUntil(release))
	h := newHook(t, b.opts())
	r := newRecorder()
	require.Equal(t, session.Later, h.OnACLCheck(alice, "alice/x", true, r.answer()))
	require.Eventually(t, func() bool { return b.hits.Load() == 1 }, wait, time.Millisecond)
	stopped := make(chan struct{})
	go func() { _ = h.Stop(); close(stopped) }()
	require.False(t, r.await(t))
	select {
	case <-stopped:
	case <-time.After(wait):
		t.Fatal("Stop did not return")
	}
	v, _ := decided(t, acl(h, alice, "alice/y", true))
	require.Equal(t, session.Refuse, v)
	require.NoError(t, h.Stop(), "a second Stop")
}

// Questions asked from many goroutines at once: each Answer is called
// exactly once, and every decision is the backend's.
func TestConcurrent(t *testing.T) {
	b := newBackend(t)
	o := b.opts()
	o.CacheTTL = 20 * time.Millisecond
	o.DenyTTL = 10 * time.Millisecond
	o.MaxInflight = 1000
	h := newHook(t, o)
	users := []string{"alice", "bob", "carol"}
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				user := users[(g+i)%len(users)]
				cl := session.ClientInfo{ID: user, Username: user, Remote: "192.0.2.1:1"}
				topic := users[i%len(users)] + "/t"
				want := strings.HasPrefix(topic, user+"/")
				r := newRecorder()
				var got bool
				switch h.OnACLCheck(cl, topic, true, r.answer()) {
				case session.Allow:
					got = true
				case session.Refuse:
				case session.Later:
					select {
					case got = <-r.ch:
					case <-time.After(wait):
						errs <- "no answer"
						return
					}
				default:
					errs <- "unexpected verdict"
					return
				}
				if got != want || r.calls.Load() > 1 {
					errs <- "wrong or repeated answer for " + user + " " + topic
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	s := h.Stats()
	require.EqualValues(t, 16*200, s.CacheHits+s.CacheMisses)
	require.Equal(t, s.Requests+s.Shared, s.CacheMisses)
}

// A redirect is not followed: the question would arrive as a GET, or the
// password at another address.
func TestNoRedirect(t *testing.T) {
	b := newBackend(t)
	b.setReply(func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
		if r.URL.Path == "/elsewhere" {
			_, _ = io.WriteString(w, "allow")
			return
		}
		http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
	})
	h := newHook(t, b.opts())
	_, allow := decided(t, auth(h, alice, connect("alice", "secret")))
	require.False(t, allow)
	require.EqualValues(t, 1, b.hits.Load())
	require.EqualValues(t, 1, h.Stats().Failed)
}

// A Client given is used as it is.
func TestOwnClient(t *testing.T) {
	b := newBackend(t)
	var trips atomic.Int64
	o := b.opts()
	o.Client = &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		trips.Add(1)
		return http.DefaultTransport.RoundTrip(r)
	})}
	h := newHook(t, o)
	_, allow := decided(t, acl(h, alice, "alice/x", true))
	require.True(t, allow)
	require.EqualValues(t, 1, trips.Load())
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// The credentials asked about are the packet's; the username in
// ClientInfo is used only without a packet.
func TestUsernameFromPacket(t *testing.T) {
	b := newBackend(t)
	h := newHook(t, b.opts())
	_, allow := decided(t, auth(h, session.ClientInfo{ID: "c1"}, connect("alice", "secret")))
	require.True(t, allow)
	require.Equal(t, "alice", b.lastBody(t)["username"])
	decided(t, auth(h, session.ClientInfo{ID: "c1", Username: "bob"}, nil))
	require.Equal(t, "bob", b.lastBody(t)["username"])
	require.Equal(t, "", b.lastBody(t)["password"])
}

// The failure log names the backend without a password in its URL, and
// never the client's password.
func TestFailureLogRedacted(t *testing.T) {
	b := newBackend(t)
	b.srv.Close()
	rec := &records{}
	o := b.opts()
	o.AuthURL = strings.Replace(o.AuthURL, "http://", "http://svc:hunter2@", 1)
	o.Logger = slog.New(rec)
	h := newHook(t, o)
	decided(t, auth(h, alice, connect("alice", "client-secret")))
	require.Eventually(t, func() bool { return rec.count() == 1 }, wait, 5*time.Millisecond)
	var text strings.Builder
	r := rec.first()
	text.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool { text.WriteString(" " + a.String()); return true })
	require.Contains(t, text.String(), "svc:xxxxx@")
	require.NotContains(t, text.String(), "hunter2")
	require.NotContains(t, text.String(), "client-secret")
}
