package ledger

import (
	"fmt"
	"strconv"
)

// Loom's format and Mochi MQTT's ledger share their auth rules and the
// shape of their ACL rules; they differ in how filters are written (a
// list of {filter, access} against a map of filter to number), in
// Mochi's "users" map, and in what no rule covers (Loom's file says, and
// denies when silent; Mochi allows).

// isMochi tells the formats apart by their keys.
func isMochi(name string, root *node) (bool, error) {
	r := reader{name}
	if err := r.want(root, kMap, "the file"); err != nil {
		return false, err
	}
	var loomKey, mochiKey *node
	for i, k := range root.keys {
		switch k.text {
		case "acl_default", "auth_default":
			loomKey = k
		case "users":
			mochiKey = k
		case "acl":
			if root.vals[i].kind != kList {
				continue // reported by the parser
			}
			for _, rule := range root.vals[i].vals {
				if f := rule.get("filters"); f != nil {
					switch f.kind {
					case kMap:
						mochiKey = f
					case kList:
						loomKey = f
					}
				}
			}
		}
	}
	if loomKey != nil && mochiKey != nil {
		return false, r.errf(mochiKey, "Mochi's ledger format (users, filters as a map) mixed with Loom's (line %d)", loomKey.line)
	}
	return mochiKey != nil, nil
}

// get is a mapping's value for key, or nil.
func (n *node) get(key string) *node {
	if n.kind != kMap {
		return nil
	}
	for i, k := range n.keys {
		if k.text == key {
			return n.vals[i]
		}
	}
	return nil
}

// parser builds a Ledger from a tree.
type parser struct {
	reader
	l *Ledger
}

func (p *parser) notePlain(n *node, who string) {
	p.l.plain = append(p.l.plain, fmt.Sprintf("%s:%d %s", p.name, n.line, who))
}

// each reads a list, calling fn with each item.
func (p *parser) each(n *node, what string, fn func(*node) error) error {
	items, err := p.list(n, what)
	if err != nil {
		return err
	}
	for _, it := range items {
		if err := fn(it); err != nil {
			return err
		}
	}
	return nil
}

// whoField reads the client, username or remote pattern of a rule.
func (p *parser) whoField(k string, v *node, client, user, remote *pattern) error {
	s, err := p.str(v, k)
	if err != nil {
		return err
	}
	switch k {
	case "client":
		*client = newPattern(s)
	case "username":
		*user = newPattern(s)
	default:
		*remote = newPattern(s)
	}
	return nil
}

// authRule reads {client, username, remote, password, allow}. Loom's
// format wants allow said; Mochi's takes its absence as false.
func (p *parser) authRule(n *node, needAllow bool) error {
	var rule authRule
	var who string
	sawAllow := false
	err := p.fields(n, "auth rule", func(k string, v *node) (bool, error) {
		var s string
		var err error
		switch k {
		case "client", "username", "remote":
			if err = p.whoField(k, v, &rule.client, &rule.username, &rule.remote); k == "username" {
				who = "username " + rule.username.text
			}
		case "password":
			if s, err = p.str(v, k); err != nil {
				return true, err
			}
			if rule.password, err = parsePassword(s, false); err != nil {
				return true, p.errf(v, "password: %v", err)
			}
		case "allow":
			sawAllow = true
			rule.allow, err = p.boolean(v, k)
		default:
			return false, nil
		}
		return true, err
	})
	if err != nil {
		return err
	}
	if needAllow && !sawAllow {
		return p.errf(n, "auth rule: say allow: true or allow: false")
	}
	if rule.password.isPlain() {
		switch {
		case who != "":
		case rule.client.text != "":
			who = "client " + rule.client.text
		default:
			who = "any client"
		}
		p.notePlain(n, who)
	}
	p.l.auth = append(p.l.auth, rule)
	return nil
}

// aclRule reads {client, username, remote, filters}, with filters read
// by the format's own function.
func (p *parser) aclRule(n *node, filters func(v *node) ([]entry, error)) error {
	var rule aclRule
	err := p.fields(n, "acl rule", func(k string, v *node) (bool, error) {
		var err error
		switch k {
		case "client", "username", "remote":
			err = p.whoField(k, v, &rule.client, &rule.username, &rule.remote)
		case "filters":
			rule.entries, err = filters(v)
		default:
			return false, nil
		}
		return true, err
	})
	if err != nil {
		return err
	}
	// Mochi: a rule without filters allows everything. (Loom's format
	// has none: it wants filters in every rule.)
	rule.all = len(rule.entries) == 0
	p.l.acl = append(p.l.acl, rule)
	return nil
}

// filter checks a filter as MQTT would a subscription's: a rule that no
// topic can match is a mistake worth naming.
func (p *parser) filter(n *node, s string) error {
	if s == "" {
		return p.errf(n, "empty filter")
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '#':
			if i != len(s)-1 || (i > 0 && s[i-1] != '/') {
				return p.errf(n, "filter %q: # must be a whole last level", s)
			}
		case '+':
			if (i > 0 && s[i-1] != '/') || (i < len(s)-1 && s[i+1] != '/') {
				return p.errf(n, "filter %q: + must be a whole level", s)
			}
		case 0:
			return p.errf(n, "filter %q: holds a NUL", s)
		}
	}
	return nil
}

// --- Loom

func parseLoom(name string, root *node) (*Ledger, error) {
	p := &parser{reader: reader{name}, l: &Ledger{name: name}}
	err := p.fields(root, "the file", func(k string, v *node) (bool, error) {
		switch k {
		case "auth_default", "acl_default":
			s, err := p.str(v, k)
			if err != nil {
				return true, err
			}
			var allow bool
			switch s {
			case "allow":
				allow = true
			case "deny":
			default:
				return true, p.errf(v, "%s: want allow or deny, got %q", k, s)
			}
			if k == "auth_default" {
				p.l.authDefault = allow
			} else {
				p.l.aclDefault = allow
			}
		case "auth":
			return true, p.each(v, k, func(r *node) error { return p.authRule(r, true) })
		case "acl":
			return true, p.each(v, k, func(r *node) error {
				if r.get("filters") == nil {
					return p.errf(r, "acl rule without filters")
				}
				return p.aclRule(r, p.loomFilters)
			})
		default:
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return p.l, nil
}

// loomFilters reads a list of {filter, access}, access a word.
func (p *parser) loomFilters(n *node) ([]entry, error) {
	items, err := p.list(n, "filters")
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, p.errf(n, "filters: empty list")
	}
	var out []entry
	for _, it := range items {
		var f string
		var a access
		sawF, sawA := false, false
		err := p.fields(it, "filter", func(k string, v *node) (bool, error) {
			var err error
			switch k {
			case "filter":
				sawF = true
				if f, err = p.str(v, k); err == nil {
					err = p.filter(v, f)
				}
			case "access":
				sawA = true
				var s string
				if s, err = p.str(v, k); err == nil {
					var ok bool
					if a, ok = accessByName(s); !ok {
						err = p.errf(v, "access: want deny, read, write or readwrite, got %q", s)
					}
				}
			default:
				return false, nil
			}
			return true, err
		})
		if err != nil {
			return nil, err
		}
		if !sawF || !sawA {
			return nil, p.errf(it, "filter: want both filter and access")
		}
		out = append(out, newEntry(f, a))
	}
	return out, nil
}

// --- Mochi

// parseMochi reads Mochi MQTT's ledger: "users" (a map of username to
// {password, acl, disallow}), "auth" and "acl". A user's entry counts
// before the rules, as in Mochi: it lets its user in when the password
// matches (unless disallow), and its acl is asked first for that user.
// What no rule covers: no auth rule, refused; no ACL rule, allowed.
func parseMochi(name string, root *node) (*Ledger, error) {
	p := &parser{reader: reader{name}, l: &Ledger{name: name, aclDefault: true}}
	var userAuth []authRule
	var userACL []aclRule
	err := p.fields(root, "the file", func(k string, v *node) (bool, error) {
		switch k {
		case "users":
			if v.kind == kNull {
				return true, nil
			}
			if err := p.want(v, kMap, k); err != nil {
				return true, err
			}
			for i, u := range v.keys {
				a, acl, err := p.mochiUser(u, v.vals[i])
				if err != nil {
					return true, err
				}
				if a != nil {
					userAuth = append(userAuth, *a)
				}
				if acl != nil {
					userACL = append(userACL, *acl)
				}
			}
		case "auth":
			return true, p.each(v, k, func(r *node) error { return p.authRule(r, false) })
		case "acl":
			return true, p.each(v, k, func(r *node) error { return p.aclRule(r, p.mochiFilters) })
		default:
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	p.l.auth = append(userAuth, p.l.auth...)
	p.l.acl = append(userACL, p.l.acl...)
	return p.l, nil
}

// mochiUser reads one entry of "users". Its auth rule needs a password
// (Mochi never lets a user in on its entry without one); its acl rule
// exists when it has filters.
func (p *parser) mochiUser(k, v *node) (*authRule, *aclRule, error) {
	user := k.text
	var pw string
	var pwNode *node
	var disallow bool
	var entries []entry
	err := p.fields(v, "user "+user, func(key string, val *node) (bool, error) {
		var err error
		switch key {
		case "username": // Mochi has the field; the map key decides
			_, err = p.str(val, key)
		case "password":
			pwNode = val
			pw, err = p.str(val, key)
		case "disallow":
			disallow, err = p.boolean(val, key)
		case "acl":
			if val.kind != kNull {
				entries, err = p.mochiFilters(val)
			}
		default:
			return false, nil
		}
		return true, err
	})
	if err != nil {
		return nil, nil, err
	}
	var a *authRule
	if pw != "" {
		pass, err := parsePassword(pw, true)
		if err != nil {
			return nil, nil, p.errf(pwNode, "password: %v", err)
		}
		if pass.isPlain() {
			p.notePlain(pwNode, "user "+user)
		}
		a = &authRule{username: literal(user), password: pass, allow: !disallow}
	}
	var acl *aclRule
	if len(entries) > 0 {
		acl = &aclRule{username: literal(user), entries: entries}
	}
	return a, acl, nil
}

// mochiFilters reads a map of filter to access 0-3, in file order.
func (p *parser) mochiFilters(n *node) ([]entry, error) {
	if n.kind == kNull {
		return nil, nil
	}
	if err := p.want(n, kMap, "filters"); err != nil {
		return nil, err
	}
	var out []entry
	for i, k := range n.keys {
		v := n.vals[i]
		if err := p.filter(k, k.text); err != nil {
			return nil, err
		}
		a, err := strconv.Atoi(v.text)
		if v.kind != kScalar || v.tag != "int" || err != nil || a < 0 || a > 3 {
			return nil, p.errf(v, "filter %q: access: want 0 (deny), 1 (read), 2 (write) or 3 (readwrite), got %q", k.text, v.text)
		}
		out = append(out, newEntry(k.text, access(a)))
	}
	return out, nil
}
