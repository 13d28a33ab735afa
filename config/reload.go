package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"

	"github.com/loom-mqtt/loom"
)

// Change is a key whose value differs between two configurations, or a
// file a key names whose contents changed.
type Change struct {
	Path     string // listeners[0].tls.cert, log.level
	Old, New string // as the file writes them; secrets as "(hidden)"
	Contents bool   // the same file, with other contents
}

func (c Change) String() string {
	if c.Contents {
		return c.Path + ": " + c.New + " changed"
	}
	return c.Path + ": " + show(c.Old) + " → " + show(c.New)
}

// show is a value for a message: a key not there is "(none)".
func show(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// flat is a configuration's values by path, in the file's order.
type flat struct {
	paths []string
	vals  map[string]flatValue
}

type flatValue struct {
	text         string // as the file writes it
	raw          string // a scalar's value, unquoted
	secret, file bool
}

func flatten(c *Config) flat {
	w := *c
	w.lfiles = nil
	for _, l := range c.Options.Listeners {
		f, _ := fileListener(l) // a tls.Config of the embedder's: its files are ""
		w.lfiles = append(w.lfiles, &f)
	}
	f := flat{vals: map[string]flatValue{}}
	var walk func(path string, keys []*key, t any)
	walk = func(path string, keys []*key, t any) {
		for _, k := range keys {
			p := join(path, k.name)
			switch {
			case k.item != nil:
				for i, it := range k.items(t) {
					walk(fmt.Sprintf("%s[%d]", p, i), k.keys, it)
				}
			case k.keys != nil:
				if k.present == nil || t.(*listenerFile).hasTLS {
					walk(p, k.keys, t)
				}
			default:
				var b bytes.Buffer
				raw := ""
				v := k.val(t)
				n := v.node()
				if n != nil && v.zero() && !k.zeroOK {
					n = defNode(k.def) // the default the library takes
				}
				if n != nil {
					writeValue(&b, n, "")
					raw = n.Value
				}
				f.paths = append(f.paths, p)
				f.vals[p] = flatValue{text: strings.TrimSpace(b.String()), raw: raw, secret: k.secret, file: k.file}
			}
		}
	}
	walk("", schema(), &w)
	return f
}

// Diff lists what differs from a to b, in the file's order: the keys
// whose values differ, then the files named the same in both whose
// contents differ (as a's and b's Check read them).
func Diff(a, b *Config) []Change {
	fa, fb := flatten(a), flatten(b)
	var out []Change
	seen := map[string]bool{}
	for _, paths := range [][]string{fa.paths, fb.paths} {
		for _, p := range paths {
			if seen[p] {
				continue
			}
			seen[p] = true
			va, vb := fa.vals[p], fb.vals[p]
			switch {
			case va.text != vb.text:
				ch := Change{Path: p, Old: va.text, New: vb.text}
				if va.secret || vb.secret {
					ch.Old, ch.New = hide(va.text), hide(vb.text)
				}
				out = append(out, ch)
			case va.file && va.raw != "" && a.digests[va.raw] != b.digests[vb.raw]:
				out = append(out, Change{Path: p, Old: va.text, New: vb.text, Contents: true})
			case va.secret && p == "auth.ledger" && digest(a.Auth.Ledger) != digest(b.Auth.Ledger):
				out = append(out, Change{Path: p, Old: "(hidden)", New: "(hidden)"})
			}
		}
	}
	return out
}

func hide(s string) string {
	if s == "" || s == `""` {
		return s
	}
	return "(hidden)"
}

func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// Running is a broker started from a configuration, with what a reload
// can change while clients stay connected: TLS certificates (read again
// from the files the listeners started with), the ledger's rules, and the
// log level.
type Running struct {
	Server *loom.Server
	Hooks  *Hooks         // from AddHooks; nil for none
	Level  *slog.LevelVar // the log's level; nil: not changed
	start  *Config        // what the server started with
	began  flat           // start, flattened
	cur    *Config        // what was applied last
}

// NewRunning is the running broker srv, started from c.
func NewRunning(srv *loom.Server, c *Config, hooks *Hooks, level *slog.LevelVar) *Running {
	return &Running{Server: srv, Hooks: hooks, Level: level, start: c, cur: c, began: flatten(c)}
}

// Current is the configuration applied last.
func (r *Running) Current() *Config { return r.cur }

// Reload applies next, a configuration checked whole (Load, or Check after
// flags), to the running broker. It returns what it applied and what
// differs from the configuration the broker started with but cannot change
// without a restart (listeners, limits, storage, ...). An error (a
// certificate that cannot be read any more since next was checked) leaves
// the log level and the auth rules as they were.
func (r *Running) Reload(next *Config) (applied, pending []Change, err error) {
	live := map[string]bool{}
	for _, ch := range Diff(r.cur, next) {
		if r.live(ch, next) {
			applied = append(applied, ch)
			live[ch.Path] = true
		}
	}
	for _, ch := range Diff(r.start, next) {
		if !r.live(ch, next) && !live[ch.Path] {
			pending = append(pending, ch)
		}
	}
	if hasTLS(r.start) {
		if err := r.Server.ReloadTLS(""); err != nil {
			return nil, pending, err
		}
	}
	if r.Hooks != nil && r.Hooks.Ledger != nil && next.rules != nil {
		r.Hooks.Ledger.Reload(next.rules)
	}
	if r.Hooks != nil && r.Hooks.HTTP != nil {
		r.Hooks.HTTP.Purge() // the backend's answers may have changed too
	}
	if r.Level != nil {
		r.Level.Set(next.Log.Level)
	}
	r.cur = next
	return applied, pending, nil
}

// live reports whether a change takes effect in a reload.
func (r *Running) live(ch Change, next *Config) bool {
	switch {
	case ch.Path == "log.level":
		return r.Level != nil
	case ch.Path == "shutdown_timeout":
		return true // read when the stop comes
	case ch.Path == "auth.ledger_file", ch.Path == "auth.ledger", ch.Path == "auth.password_file", ch.Path == "auth.acl_file":
		return r.Hooks != nil && r.Hooks.Ledger != nil && next.rules != nil
	case strings.HasPrefix(ch.Path, "listeners[") && strings.Contains(ch.Path, ".tls."):
		// The files the listener started with are read again: new
		// contents are served, another file needs a restart.
		return ch.Contents && r.began.vals[ch.Path].text == ch.New
	}
	return false
}

func hasTLS(c *Config) bool {
	for _, l := range c.Options.Listeners {
		if l.TLS != nil && l.TLS.Config == nil {
			return true
		}
	}
	return false
}
