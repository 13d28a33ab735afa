package ledger

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"
)

// LoadMosquitto reads Mosquitto's password_file and acl_file; either may
// be "" (not used). They mean here what they mean to Mosquitto 2:
//   - with a password file, a client logs in with a username in it and
//     its password; others (anonymous ones too) are refused. Without,
//     every client is let in.
//   - with an ACL file, what no line grants is refused; without, every
//     publish and subscription is allowed.
//
// In the ACL file, "user NAME" starts the lines of one user, and lines
// before any user line are for clients without a username. "topic
// [read|write|readwrite|deny] FILTER" grants (readwrite when no access is
// given) or refuses; "pattern [access] FILTER" is the same for every
// client, with %c and %u replaced. As in Mosquitto, deny lines are
// checked before the others, a user's lines before the patterns, and a
// line that grants one access (read) does not refuse the other (write).
func LoadMosquitto(passwordFile, aclFile string) (*Ledger, error) {
	l := &Ledger{name: passwordFile, grantsOnly: true, authDefault: true, aclDefault: true}
	if l.name == "" {
		l.name = aclFile
	}
	for _, f := range []struct {
		path  string
		parse func(name string, data []byte) error
	}{{passwordFile, l.mosquittoPasswords}, {aclFile, l.mosquittoACL}} {
		if f.path == "" {
			continue
		}
		data, err := os.ReadFile(f.path)
		if err == nil {
			err = f.parse(f.path, data)
		}
		if err != nil {
			return nil, err
		}
	}
	return l.finish(), nil
}

// lines calls fn with each line of data that is not blank or a comment,
// trimmed, and its number.
func lines(data []byte, fn func(n int, s string) error) error {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		n++
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' {
			continue
		}
		if err := fn(n, s); err != nil {
			return err
		}
	}
	return sc.Err()
}

// mosquittoPasswords reads "user:hash" lines. Hashes are $6$ or $7$ as
// mosquitto_passwd writes them, or bcrypt; anything else is taken as a
// password in plain text (reported by PlainTextRules).
func (l *Ledger) mosquittoPasswords(name string, data []byte) error {
	l.authDefault = false
	return lines(data, func(n int, s string) error {
		user, pw, ok := strings.Cut(s, ":")
		if !ok || user == "" {
			return &Error{File: name, Line: n, Msg: "want user:password"}
		}
		pass, err := parsePassword(pw, true)
		if err == nil && pass.kind == pwAny {
			err = fmt.Errorf("no password")
		}
		if err != nil {
			return &Error{File: name, Line: n, Msg: fmt.Sprintf("user %s: %v", user, err)}
		}
		if pass.isPlain() {
			l.plain = append(l.plain, fmt.Sprintf("%s:%d user %s", name, n, user))
		}
		l.auth = append(l.auth, authRule{username: literal(user), password: pass, allow: true})
		return nil
	})
}

func (l *Ledger) mosquittoACL(name string, data []byte) error {
	l.aclDefault = false
	type section struct {
		rule        aclRule
		deny, other []entry
	}
	// The anonymous section first, then users in the order first seen
	// (a user named twice has one section), then the patterns.
	anon := &section{rule: aclRule{username: literal("")}}
	patterns := &section{}
	var users []*section
	byUser := map[string]*section{}
	cur := anon
	p := &parser{reader: reader{name}}
	err := lines(data, func(n int, s string) error {
		word, rest, _ := strings.Cut(s, " ")
		rest = strings.TrimLeft(rest, " \t")
		at := &node{line: n}
		switch word {
		case "user":
			if rest == "" {
				return p.errf(at, "user: want a name")
			}
			if cur = byUser[rest]; cur == nil {
				cur = &section{rule: aclRule{username: literal(rest)}}
				byUser[rest] = cur
				users = append(users, cur)
			}
			return nil
		case "topic", "pattern":
		default:
			return p.errf(at, "unknown line %q: want user, topic or pattern", word)
		}
		a := readWrite
		if w, f, ok := strings.Cut(rest, " "); ok {
			if acc, known := accessByName(w); known {
				a, rest = acc, strings.TrimLeft(f, " \t")
			}
		} else if _, known := accessByName(rest); known {
			return p.errf(at, "%s %s: want a filter", word, rest)
		}
		if err := p.filter(at, rest); err != nil {
			return err
		}
		sec := cur
		if word == "pattern" {
			sec = patterns
		}
		e := entry{filter: rest, access: a}
		if word == "pattern" {
			e = newEntry(rest, a)
		}
		if a == deny {
			sec.deny = append(sec.deny, e)
		} else {
			sec.other = append(sec.other, e)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, sec := range append(append([]*section{anon}, users...), patterns) {
		sec.rule.entries = append(sec.deny, sec.other...)
		if len(sec.rule.entries) > 0 {
			l.acl = append(l.acl, sec.rule)
		}
	}
	return nil
}
