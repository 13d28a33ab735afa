package ledger

import (
	"os"
	"strings"
)

// access is what an ACL entry allows on the topics its filter matches.
// The numbers are Mochi's: 0 deny, 1 read, 2 write, 3 both.
type access uint8

const (
	deny access = iota
	read
	write
	readWrite
)

var accessNames = [...]string{"deny", "read", "write", "readwrite"}

func (a access) reads() bool  { return a == read || a == readWrite }
func (a access) writes() bool { return a == write || a == readWrite }

func accessByName(s string) (access, bool) {
	for i, n := range accessNames {
		if n == s {
			return access(i), true
		}
	}
	return 0, false
}

// Ledger is a parsed rule file: who may connect, and who may publish and
// subscribe to what. It is never changed once made, so one ledger may be
// shared by any number of goroutines; Hook.Reload swaps in a new one.
type Ledger struct {
	name string
	auth []authRule
	acl  []aclRule
	// authDefault and aclDefault decide what no rule covers.
	authDefault, aclDefault bool
	// grantsOnly: an entry decides only when it grants the access asked or
	// is a deny; one that grants the other access passes the question on
	// (Mosquitto: "topic read a/#" then "topic write a/b" lets a client
	// publish to a/b). Otherwise (Loom, Mochi) the first entry that
	// matches decides, whatever it grants.
	grantsOnly bool
	plain      []string
	// authIndex and aclIndex find the rules that may apply to a client.
	authIndex, aclIndex ruleIndex
}

// authRule is one rule of authentication. It applies to a client when
// all four patterns match; the first that applies decides.
type authRule struct {
	client, username, remote pattern
	password                 password
	allow                    bool
}

// aclRule is one rule of access: the entries of the first rule that
// applies to a client are asked in order.
type aclRule struct {
	client, username, remote pattern
	entries                  []entry
	// all: a rule without filters allows everything (Mochi's meaning).
	all bool
}

// entry is a filter, with %c and %u to be replaced, and its access.
type entry struct {
	filter string
	subst  bool // holds %c or %u
	access access
}

// resolve gives e's filter for cl, with %c and %u replaced. A client id
// or username that is empty, or holds a separator or a wildcard, does not
// match the entry at all: "%u/#" must not become "/#" for a client
// without a username, nor "#/#" for one named "#".
func (e *entry) resolve(id, user string) (string, bool) {
	if !e.subst {
		return e.filter, true
	}
	var b strings.Builder
	f := e.filter
	for {
		i := strings.IndexByte(f, '%')
		if i < 0 || i == len(f)-1 {
			b.WriteString(f)
			return b.String(), true
		}
		b.WriteString(f[:i])
		var v string
		switch f[i+1] {
		case 'c':
			v = id
		case 'u':
			v = user
		default:
			b.WriteString(f[i : i+2])
			f = f[i+2:]
			continue
		}
		if v == "" || strings.ContainsAny(v, "/+#") {
			return "", false
		}
		b.WriteString(v)
		f = f[i+2:]
	}
}

func newEntry(filter string, a access) entry {
	return entry{filter: filter, access: a,
		subst: strings.Contains(filter, "%c") || strings.Contains(filter, "%u")}
}

// Parse reads a rule file in Loom's format (YAML or JSON) or in Mochi
// MQTT's ledger format, told apart by their keys: Mochi's has "users" or
// ACL filters as a map of filter to number; Loom's has "acl_default",
// "auth_default" or filters as a list. A file with neither (only auth
// rules) is read as Loom's, whose ACL default is deny: an unknown file
// fails closed. name is used in errors and in PlainTextRules.
func Parse(name string, data []byte) (*Ledger, error) {
	root, err := parseTree(name, data)
	if err != nil {
		return nil, err
	}
	mochi, err := isMochi(name, root)
	if err != nil {
		return nil, err
	}
	var l *Ledger
	if mochi {
		l, err = parseMochi(name, root)
	} else {
		l, err = parseLoom(name, root)
	}
	if err != nil {
		return nil, err
	}
	return l.finish(), nil
}

// LoadFile reads and parses the rule file at path (see Parse).
func LoadFile(path string) (*Ledger, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// PlainTextRules names the rules that hold a password in plain text, as
// "file:line who", in file order: the caller logs them once, at start,
// in one warning. Plain text is accepted so that existing files work, but
// whoever can read the file can log in as those clients.
func (l *Ledger) PlainTextRules() []string {
	return append([]string(nil), l.plain...)
}

// Name is the file the ledger was read from.
func (l *Ledger) Name() string { return l.name }

// matchAuth walks the auth rules for a client and its password. slow
// says whether hashes may be checked (tens of milliseconds each); when
// not, and a rule with a hash is reached, it stops with wait set.
func (l *Ledger) matchAuth(id, user, remote string, pw []byte, slow bool) (allow, wait bool) {
	c := l.authIndex.candidates(id, user)
	for i := c.next(); i >= 0; i = c.next() {
		r := &l.auth[i]
		if !r.client.match(id) || !r.username.match(user) || !r.remote.match(remote) {
			continue
		}
		if r.password.slow() && !slow {
			return false, true
		}
		if r.password.check(pw) {
			return r.allow, false
		}
	}
	return l.authDefault, false
}

// Authenticate reports whether the rules let a client connect. It may
// check password hashes, which takes tens of milliseconds: the hook does
// it off the event loop.
func (l *Ledger) Authenticate(id, user, remote string, password []byte) bool {
	allow, _ := l.matchAuth(id, user, remote, password, true)
	return allow
}

// Allowed reports whether the rules let a client publish to topic
// (write) or subscribe to the filter topic (read; also asked for a
// retained message's topic).
//
// A publish is decided by the first entry, in file order, whose filter
// matches the topic. A subscription is decided by the first entry whose
// filter covers it (matches every topic it can match), unless an entry
// before that merely overlaps it and refuses reading: a subscription
// that could receive refused topics is refused. Entries that decide
// nothing pass to the next rule that applies; what no rule decides, the
// ledger's default does.
func (l *Ledger) Allowed(id, user, remote, topic string, write bool) bool {
	if !write {
		topic = shareFilter(topic)
	}
	c := l.aclIndex.candidates(id, user)
	for i := c.next(); i >= 0; i = c.next() {
		r := &l.acl[i]
		if !r.client.match(id) || !r.username.match(user) || !r.remote.match(remote) {
			continue
		}
		if r.all {
			return true
		}
		for j := range r.entries {
			e := &r.entries[j]
			f, ok := e.resolve(id, user)
			if !ok {
				continue
			}
			grants := e.access.reads()
			if write {
				grants = e.access.writes()
			}
			// refuses: the entry says no to this access, rather than
			// passing the question on.
			refuses := !grants && (e.access == deny || !l.grantsOnly)
			switch {
			case covers(f, topic):
				if grants {
					return true
				}
				if refuses {
					return false
				}
			case !write && refuses && overlaps(f, topic):
				return false
			}
		}
	}
	return l.aclDefault
}
