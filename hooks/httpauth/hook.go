package httpauth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/session"
)

// Hook asks an HTTP backend whether clients may connect, publish and
// subscribe. Add it with AddHook(new(httpauth.Hook), &httpauth.Options{...}),
// which calls Init; before Init it decides nothing.
type Hook struct {
	session.HookBase
	opts      Options // defaults filled in by Init
	brokerLog *slog.Logger
	cache     *cache // nil before Init
	// pwKey keys the HMAC that stands for a password in the cache.
	pwKey [32]byte
	// slots holds a token per request in flight (MaxInflight of them).
	slots chan struct{}

	ctx    context.Context // ended by Stop: requests in flight are abandoned
	cancel context.CancelFunc
	// life guards stopped against the wg.Add of a request starting, so
	// that Stop waits for every request.
	life    sync.Mutex
	stopped atomic.Bool
	wg      sync.WaitGroup

	requests, allowed, denied, failed, rejected, shared atomic.Int64

	// nextLog (unix nanoseconds) and suppressed bound the failure log.
	nextLog    atomic.Int64
	suppressed atomic.Int64

	ownClient bool // the Client is the hook's, made by Init
}

// Stats are the hook's counts since Init.
type Stats struct {
	// Requests is how many requests were made, Allowed and Denied how many
	// the backend answered so, Failed how many ended without an answer
	// (connection refused, timeout, a status other than 2xx, a body that
	// is neither allow nor deny).
	Requests, Allowed, Denied, Failed int64
	// Rejected is how many questions were refused without asking: MaxInflight
	// requests were in flight, the password was not UTF-8, or the hook had
	// stopped.
	Rejected int64
	// Shared is how many questions waited for a request already in flight
	// for the same question instead of making one.
	Shared int64
	// CacheHits and CacheMisses count lookups; Cached is the answers
	// remembered now.
	CacheHits, CacheMisses int64
	Cached                 int
}

// ID implements session.Hook.
func (h *Hook) ID() string { return "http-auth" }

// Provides reports OnConnectAuthenticate when AuthURL is set and
// OnACLCheck when ACLURL is.
func (h *Hook) Provides(e session.Event) bool {
	switch e {
	case session.OnConnectAuthenticate:
		return h.cache != nil && h.opts.AuthURL != ""
	case session.OnACLCheck:
		return h.cache != nil && h.opts.ACLURL != ""
	}
	return false
}

// SetOpts is called by AddHook before Init: the broker's logger is the
// default for Options.Logger.
func (h *Hook) SetOpts(o session.HookOptions) { h.brokerLog = o.Logger }

// Init takes a *Options (or an Options). Anything else is an error, as is
// a second Init: the hook serves one broker.
func (h *Hook) Init(config any) error {
	var o Options
	switch c := config.(type) {
	case *Options:
		if c == nil {
			return errors.New("httpauth: Init needs Options with AuthURL or ACLURL, got a nil *Options")
		}
		o = *c
	case Options:
		o = c
	default:
		return fmt.Errorf("httpauth: Init takes a *httpauth.Options, not %T", config)
	}
	if h.cache != nil {
		return errors.New("httpauth: Init called twice; a hook serves one broker")
	}
	c0 := o.Client
	o, err := o.withDefaults()
	if err != nil {
		return err
	}
	if o.Logger == nil {
		o.Logger = h.brokerLog
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if _, err := rand.Read(h.pwKey[:]); err != nil {
		return fmt.Errorf("httpauth: %w", err)
	}
	h.ownClient = c0 == nil
	h.opts = o
	h.slots = make(chan struct{}, o.MaxInflight)
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.cache = newCache(o.CacheSize)
	return nil
}

// Stop abandons the requests in flight (their clients are refused) and
// waits for their goroutines; the broker calls it when it closes. Every
// question after it is refused.
func (h *Hook) Stop() error {
	if h.cache == nil {
		return nil
	}
	h.life.Lock()
	h.stopped.Store(true)
	h.life.Unlock()
	h.cancel()
	h.wg.Wait()
	if h.ownClient {
		h.opts.Client.CloseIdleConnections()
	}
	return nil
}

// Purge forgets every remembered answer, e.g. after the backend's rules
// changed. Requests in flight still answer the clients waiting for them
// but are not remembered.
func (h *Hook) Purge() {
	if h.cache != nil {
		h.cache.purge()
	}
}

// Stats returns the hook's counts.
func (h *Hook) Stats() Stats {
	s := Stats{Requests: h.requests.Load(), Allowed: h.allowed.Load(), Denied: h.denied.Load(),
		Failed: h.failed.Load(), Rejected: h.rejected.Load(), Shared: h.shared.Load()}
	if h.cache != nil {
		s.Cached, s.CacheHits, s.CacheMisses = h.cache.stats()
	}
	return s
}

// OnConnectAuthenticate answers from the cache when it can, else returns
// Later and asks AuthURL on a goroutine.
func (h *Hook) OnConnectAuthenticate(cl session.ClientInfo, pk *proto.Connect, answer session.Answer) session.Verdict {
	if h.cache == nil || h.opts.AuthURL == "" {
		return session.Deny
	}
	// The credentials are the packet's; the broker's ClientInfo carries
	// the same username, but a hook driven by hand may not.
	user, pw := cl.Username, []byte(nil)
	if pk != nil {
		user, pw = string(pk.Username), pk.Password
	}
	if !utf8.Valid(pw) {
		// JSON strings are UTF-8: two binary passwords would reach the
		// backend as the same string of replacement characters.
		h.reject(cl.ID, "the password is not UTF-8, which the JSON request cannot carry")
		return session.Refuse
	}
	k := key{clientID: cl.ID, username: user, host: host(cl.Remote), listener: cl.Listener}
	m := hmac.New(sha256.New, h.pwKey[:])
	m.Write(pw)
	m.Sum(k.secret[:0])
	return h.ask(k, h.opts.AuthURL, func() any {
		return AuthRequest{ClientID: cl.ID, Username: user, Password: string(pw),
			Remote: cl.Remote, Listener: cl.Listener}
	}, answer)
}

// OnACLCheck answers from the cache when it can, else returns Later and
// asks ACLURL on a goroutine.
func (h *Hook) OnACLCheck(cl session.ClientInfo, topic string, write bool, answer session.Answer) session.Verdict {
	if h.cache == nil || h.opts.ACLURL == "" {
		return session.Deny
	}
	k := key{acl: true, write: write, clientID: cl.ID, username: cl.Username, host: host(cl.Remote),
		listener: cl.Listener, topic: topic}
	return h.ask(k, h.opts.ACLURL, func() any {
		access := "read"
		if write {
			access = "write"
		}
		return ACLRequest{ClientID: cl.ID, Username: cl.Username, Remote: cl.Remote,
			Listener: cl.Listener, Topic: topic, Access: access}
	}, answer)
}

// verdict turns an answer into what the hook returns. A "deny" is
// Refuse, as a late Answer(false) is: a remembered answer decides as the
// first one did, and the backend's no is final.
func verdict(allow bool) session.Verdict {
	if allow {
		return session.Allow
	}
	return session.Refuse
}

// ask answers k from the cache, joins a request in flight for it, or
// starts one with the body that body builds. It runs on an event loop and
// never waits for anything but a shard's lock. body is called only for a
// new request, and before ask returns: the broker's arguments (the
// password above all) may not be kept, so the body copies them here.
func (h *Hook) ask(k key, endpoint string, body func() any, answer session.Answer) session.Verdict {
	if h.stopped.Load() {
		h.rejected.Add(1)
		return session.Refuse
	}
	s := h.cache.shard(k.clientID)
	s.mu.Lock()
	if allow, ok := s.get(k, time.Now()); ok {
		s.hits++
		s.mu.Unlock()
		return verdict(allow)
	}
	s.misses++
	if f := s.flights[k]; f != nil {
		f.answers = append(f.answers, answer)
		s.mu.Unlock()
		h.shared.Add(1)
		return session.Later
	}
	select {
	case h.slots <- struct{}{}:
	default:
		s.mu.Unlock()
		h.reject(k.clientID, "MaxInflight requests are in flight already")
		return session.Refuse
	}
	k = k.clone()
	f := &flight{gen: s.gen, answers: []session.Answer{answer}}
	s.flights[k] = f
	s.mu.Unlock()

	h.life.Lock()
	if h.stopped.Load() {
		h.life.Unlock()
		<-h.slots
		h.land(s, k, f, false, false)
		h.rejected.Add(1)
		// Answered (refused) just above, before returning: the broker
		// takes the answer on the client's loop once this call is over.
		return session.Later
	}
	h.wg.Add(1)
	h.life.Unlock()
	req := body()
	go h.fly(s, k, f, endpoint, req)
	return session.Later
}

// fly makes the request for k and answers everyone waiting for it.
func (h *Hook) fly(s *shard, k key, f *flight, endpoint string, body any) {
	defer h.wg.Done()
	h.requests.Add(1)
	allow, err := h.post(h.ctx, endpoint, body)
	<-h.slots
	switch {
	case err != nil:
		h.failed.Add(1)
		if n, ok := h.logDue(); ok {
			h.logFailure("the backend did not answer; refused", n, slog.String("url", redacted(endpoint)),
				slog.String("client", k.clientID), slog.String("err", err.Error()))
		}
	case allow:
		h.allowed.Add(1)
	default:
		h.denied.Add(1)
	}
	h.land(s, k, f, allow, err == nil)
}

// land ends flight f: it remembers a real answer (unless the cache was
// purged meanwhile) and gives it to everyone waiting, outside the lock.
func (h *Hook) land(s *shard, k key, f *flight, allow, answered bool) {
	s.mu.Lock()
	if s.flights[k] == f {
		delete(s.flights, k)
	}
	if answered && f.gen == s.gen {
		ttl := h.opts.DenyTTL
		if allow {
			ttl = h.opts.CacheTTL
		}
		if ttl > 0 {
			s.put(k, allow, time.Now().Add(ttl))
		}
	}
	answers := f.answers
	f.answers = nil
	s.mu.Unlock()
	for _, a := range answers {
		a(allow)
	}
}

// reject counts a question refused without asking, and logs it. It may
// run on an event loop at the rate clients ask (a full MaxInflight), so
// nothing is built for the log unless it is due.
func (h *Hook) reject(clientID, why string) {
	h.rejected.Add(1)
	if n, ok := h.logDue(); ok {
		h.logFailure("refused without asking the backend", n, slog.String("client", clientID),
			slog.String("why", why))
	}
}

// logDue reports whether a failure may be logged now, and how many were
// left out since the last record; else it counts one more left out. At
// most one record per LogEvery: a backend that is down fails every
// question, and a line per question would bury everything else.
func (h *Hook) logDue() (notLogged int64, ok bool) {
	now := time.Now().UnixNano()
	next := h.nextLog.Load()
	if now < next || !h.nextLog.CompareAndSwap(next, now+int64(h.opts.LogEvery)) {
		h.suppressed.Add(1)
		return 0, false
	}
	return h.suppressed.Swap(0), true
}

// logFailure writes a record on a goroutine: a handler may block, and
// this may run on an event loop.
func (h *Hook) logFailure(msg string, notLogged int64, attrs ...slog.Attr) {
	if notLogged > 0 {
		attrs = append(attrs, slog.Int64("failures_not_logged", notLogged))
	}
	log := h.opts.Logger
	go log.LogAttrs(context.Background(), slog.LevelWarn, "httpauth: "+msg, attrs...)
}

// redacted is u with any password in it hidden, for logs.
func redacted(u string) string {
	if p, err := url.Parse(u); err == nil {
		return p.Redacted()
	}
	return u
}

// host is addr without its port, or addr when it has none.
func host(addr string) string {
	if strings.IndexByte(addr, ':') < 0 {
		return addr // a Unix socket's, or none: SplitHostPort's error would allocate
	}
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}
