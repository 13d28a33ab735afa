package ledger

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/session"
)

// CacheSize is how many ACL decisions a Hook keeps.
const CacheSize = 1 << 15

// maxCachedBytes: a question longer than this (client id, username,
// remote and topic together) is answered from the rules every time, so
// that the cache stays bounded in bytes (a topic alone may be 64 KiB).
const maxCachedBytes = 256

// queueSize bounds the authentications waiting for a worker: past it a
// CONNECT is refused at once rather than queued without end.
const queueSize = 4096

// Hook decides authentication and ACL checks by a Ledger. Make it with
// New; Reload swaps in new rules while clients stay connected.
type Hook struct {
	session.HookBase
	state atomic.Pointer[state]

	start   sync.Once
	mu      sync.Mutex // guards jobs against Stop
	jobs    chan job
	stopped bool
}

// state is one ledger and the decisions made by it.
type state struct {
	l     *Ledger
	cache *decisions
}

// job is an authentication waiting for a hash check.
type job struct {
	l                *Ledger
	id, user, remote string
	pw               []byte
	answer           session.Answer
}

// New makes a hook deciding by l (nil: refuse everything until Reload).
func New(l *Ledger) *Hook {
	h := &Hook{}
	h.Reload(l)
	return h
}

// Reload makes l the rules: the next CONNECT and the next packet of every
// connected client are decided by them, and the decisions cached under
// the old rules are dropped. Connections are kept. Safe at any time.
func (h *Hook) Reload(l *Ledger) {
	h.state.Store(&state{l: l, cache: newDecisions(CacheSize)})
}

// Ledger is the rules in use.
func (h *Hook) Ledger() *Ledger {
	if s := h.state.Load(); s != nil {
		return s.l
	}
	return nil
}

// ID implements session.Hook.
func (h *Hook) ID() string { return "ledger" }

// Provides reports the two questions the hook answers.
func (h *Hook) Provides(e session.Event) bool {
	return e == session.OnConnectAuthenticate || e == session.OnACLCheck
}

// Init takes nil, or a *Ledger to use (as Reload).
func (h *Hook) Init(config any) error {
	switch c := config.(type) {
	case nil:
	case *Ledger:
		h.Reload(c)
	default:
		return fmt.Errorf("ledger: Init takes nil or a *ledger.Ledger (got %T)", config)
	}
	return nil
}

// Stop ends the workers; authentications asked after it are refused.
func (h *Hook) Stop() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.stopped && h.jobs != nil {
		close(h.jobs)
	}
	h.stopped = true
	return nil
}

// OnConnectAuthenticate lets a client in or refuses it by the auth rules.
// A refusal is Refuse, not Deny: the ledger is authoritative, and a
// permissive hook added after it is not asked.
//
// A rule with a bcrypt or PBKDF2 ($7$) hash takes tens of milliseconds
// to check, too long for the event loop: when the rules reach one, the
// hook answers Later and a worker checks it; the broker takes its late
// no as final too, like a Refuse.
func (h *Hook) OnConnectAuthenticate(cl session.ClientInfo, pk *proto.Connect, answer session.Answer) session.Verdict {
	s := h.state.Load()
	if s == nil || s.l == nil {
		return session.Refuse
	}
	var pw []byte
	if pk != nil && pk.PasswordFlag {
		pw = pk.Password
	}
	allow, wait := s.l.matchAuth(cl.ID, cl.Username, cl.Remote, pw, false)
	if !wait {
		return verdict(allow)
	}
	// The packet's bytes belong to the loop; the worker gets copies.
	j := job{l: s.l, id: strings.Clone(cl.ID), user: strings.Clone(cl.Username),
		remote: strings.Clone(cl.Remote), pw: append([]byte(nil), pw...), answer: answer}
	if !h.submit(j) {
		return session.Refuse // overloaded or stopped: no to this one, now
	}
	return session.Later
}

// submit queues j for a worker without waiting.
func (h *Hook) submit(j job) bool {
	h.start.Do(func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.stopped {
			return
		}
		h.jobs = make(chan job, queueSize)
		for range runtime.GOMAXPROCS(0) {
			go work(h.jobs)
		}
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped || h.jobs == nil {
		return false
	}
	select {
	case h.jobs <- j:
		return true
	default:
		return false
	}
}

// work checks passwords until the hook stops. As many workers as CPUs:
// hashing is all CPU, so more would only queue on the cores the event
// loops need.
func work(jobs <-chan job) {
	for j := range jobs {
		j.answer(j.l.Authenticate(j.id, j.user, j.remote, j.pw))
	}
}

// OnACLCheck allows or refuses (Refuse: authoritative) a publish or a
// subscription by the ACL rules, at once, from the cache when it can. The
// cache holds CacheSize answers of at most maxCachedBytes each.
func (h *Hook) OnACLCheck(cl session.ClientInfo, topic string, write bool, _ session.Answer) session.Verdict {
	s := h.state.Load()
	if s == nil || s.l == nil {
		return session.Refuse
	}
	if len(cl.ID)+len(cl.Username)+len(cl.Remote)+len(topic) > maxCachedBytes {
		return verdict(s.l.Allowed(cl.ID, cl.Username, cl.Remote, topic, write))
	}
	k := s.cache.key(cl.ID, cl.Username, cl.Remote, topic, write)
	if allow, ok := s.cache.get(k, cl.ID, cl.Username, cl.Remote, topic, write); ok {
		return verdict(allow)
	}
	allow := s.l.Allowed(cl.ID, cl.Username, cl.Remote, topic, write)
	s.cache.put(k, cl.ID, cl.Username, cl.Remote, topic, write, allow)
	return verdict(allow)
}

func verdict(allow bool) session.Verdict {
	if allow {
		return session.Allow
	}
	return session.Refuse
}
