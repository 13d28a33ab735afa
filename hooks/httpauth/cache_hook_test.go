package httpauth_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/session"
)

// (e) Repeated questions within their TTL reach the backend once; past
// it they are asked again, denials sooner than allows.
func TestCacheTTL(t *testing.T) {
	b := newBackend(t)
	o := b.opts()
	o.CacheTTL = time.Second
	o.DenyTTL = 100 * time.Millisecond
	h := newHook(t, o)
	allowed, denied := acl(h, alice, "alice/x", true), acl(h, alice, "bob/x", true)
	v, _ := decided(t, allowed)
	require.Equal(t, session.Later, v)
	v, _ = decided(t, denied)
	require.Equal(t, session.Later, v)
	for range 5 {
		v, _ = decided(t, allowed)
		require.Equal(t, session.Allow, v)
		v, _ = decided(t, denied)
		require.Equal(t, session.Refuse, v)
	}
	require.EqualValues(t, 2, b.hits.Load())

	time.Sleep(200 * time.Millisecond) // past DenyTTL, well within CacheTTL
	v, allow := decided(t, denied)
	require.Equal(t, session.Later, v, "the denial expired")
	require.False(t, allow)
	v, _ = decided(t, allowed)
	require.Equal(t, session.Allow, v, "the allow has not")
	require.EqualValues(t, 3, b.hits.Load())

	h.Purge()
	v, allow = decided(t, allowed)
	require.Equal(t, session.Later, v, "purged")
	require.True(t, allow)
	require.EqualValues(t, 4, b.hits.Load())
}

func TestCacheExpiresAllow(t *testing.T) {
	b := newBackend(t)
	o := b.opts()
	o.CacheTTL = 100 * time.Millisecond
	h := newHook(t, o)
	q := auth(h, alice, connect("alice", "secret"))
	decided(t, q)
	v, _ := decided(t, q)
	require.Equal(t, session.Allow, v)
	time.Sleep(150 * time.Millisecond)
	v, allow := decided(t, q)
	require.Equal(t, session.Later, v)
	require.True(t, allow)
	require.EqualValues(t, 2, b.hits.Load())
}

// What makes two questions the same: everything the request carries,
// except the remote port.
func TestCacheKey(t *testing.T) {
	b := newBackend(t)
	h := newHook(t, b.opts())
	decided(t, auth(h, alice, connect("alice", "secret")))
	require.EqualValues(t, 1, b.hits.Load())

	otherPort := alice
	otherPort.Remote = "192.0.2.7:60000"
	v, _ := decided(t, auth(h, otherPort, connect("alice", "secret")))
	require.Equal(t, session.Allow, v, "a reconnect from another port")

	for _, tc := range []struct {
		name string
		cl   func(*session.ClientInfo)
		pw   string
	}{
		{"another password", func(*session.ClientInfo) {}, "secret2"},
		{"another host", func(c *session.ClientInfo) { c.Remote = "192.0.2.99:53211" }, "secret"},
		{"another client id", func(c *session.ClientInfo) { c.ID = "c9" }, "secret"},
		{"another listener", func(c *session.ClientInfo) { c.Listener = "ws://127.0.0.1:8080" }, "secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := alice
			tc.cl(&cl)
			hits := b.hits.Load()
			v, _ := decided(t, auth(h, cl, connect("alice", tc.pw)))
			require.Equal(t, session.Later, v)
			require.Equal(t, hits+1, b.hits.Load())
		})
	}

	// A publish and a subscription to the same string are two questions.
	decided(t, acl(h, alice, "alice/x", true))
	v, _ = decided(t, acl(h, alice, "alice/x", false))
	require.Equal(t, session.Later, v)
}

func TestCacheOff(t *testing.T) {
	for _, tc := range []struct {
		name              string
		size              int
		allowTTL, denyTTL time.Duration
		allowCached       bool
		denyCached        bool
	}{
		{"no cache", -1, 0, 0, false, false},
		{"no allows", 0, -1, 0, false, true},
		{"no denials", 0, 0, -1, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackend(t)
			o := b.opts()
			o.CacheSize, o.CacheTTL, o.DenyTTL = tc.size, tc.allowTTL, tc.denyTTL
			h := newHook(t, o)
			for _, q := range []struct {
				topic  string
				cached bool
			}{{"alice/x", tc.allowCached}, {"bob/x", tc.denyCached}} {
				decided(t, acl(h, alice, q.topic, true))
				v, _ := decided(t, acl(h, alice, q.topic, true))
				require.Equal(t, q.cached, v != session.Later, q.topic)
			}
		})
	}
}

// Identical questions asked while one is in flight share its request.
func TestShared(t *testing.T) {
	b := newBackend(t)
	release := make(chan struct{})
	b.setReply(blockUntil(release))
	h := newHook(t, b.opts())
	rs := []*recorder{newRecorder(), newRecorder(), newRecorder()}
	for _, r := range rs {
		require.Equal(t, session.Later, h.OnACLCheck(alice, "alice/x", true, r.answer()))
	}
	other := newRecorder()
	require.Equal(t, session.Later, h.OnACLCheck(alice, "alice/y", true, other.answer()))
	close(release)
	for _, r := range append(rs, other) {
		require.True(t, r.await(t))
		r.never(t, 10*time.Millisecond)
		require.EqualValues(t, 1, r.calls.Load())
	}
	require.EqualValues(t, 2, b.hits.Load())
	s := h.Stats()
	require.EqualValues(t, 2, s.Requests)
	require.EqualValues(t, 2, s.Shared)
}

// A request in flight during Purge answers its clients but is not
// remembered, and a question after Purge asks anew.
func TestPurgeInFlight(t *testing.T) {
	b := newBackend(t)
	release := make(chan struct{})
	b.setReply(blockUntil(release))
	h := newHook(t, b.opts())
	before := newRecorder()
	require.Equal(t, session.Later, h.OnACLCheck(alice, "alice/x", true, before.answer()))
	require.Eventually(t, func() bool { return b.hits.Load() == 1 }, wait, time.Millisecond)
	h.Purge()
	after := newRecorder()
	require.Equal(t, session.Later, h.OnACLCheck(alice, "alice/x", true, after.answer()))
	close(release)
	require.True(t, before.await(t))
	require.True(t, after.await(t))
	require.EqualValues(t, 2, b.hits.Load())
	require.Equal(t, 1, h.Stats().Cached, "only the request made after Purge is remembered")
}

// (f) Past MaxInflight requests in flight a question is refused at once,
// counted, and never answered later; one that can share a request in
// flight still does.
func TestMaxInflight(t *testing.T) {
	b := newBackend(t)
	release := make(chan struct{})
	b.setReply(blockUntil(release))
	o := b.opts()
	o.MaxInflight = 2
	h := newHook(t, o)
	a, c := newRecorder(), newRecorder()
	require.Equal(t, session.Later, h.OnACLCheck(alice, "alice/1", true, a.answer()))
	require.Equal(t, session.Later, h.OnACLCheck(alice, "alice/2", true, c.answer()))
	refused := newRecorder()
	for range 3 {
		require.Equal(t, session.Refuse, h.OnACLCheck(alice, "alice/3", true, refused.answer()))
	}
	require.Equal(t, session.Refuse, h.OnConnectAuthenticate(alice, connect("alice", "secret"), refused.answer()))
	shared := newRecorder()
	require.Equal(t, session.Later, h.OnACLCheck(alice, "alice/1", true, shared.answer()))
	require.EqualValues(t, 4, h.Stats().Rejected)

	close(release)
	for _, r := range []*recorder{a, c, shared} {
		require.True(t, r.await(t))
	}
	refused.never(t, 50*time.Millisecond)
	require.EqualValues(t, 2, b.hits.Load())

	// The slots are free again.
	v, allow := decided(t, acl(h, alice, "alice/3", true))
	require.Equal(t, session.Later, v)
	require.True(t, allow)
}
