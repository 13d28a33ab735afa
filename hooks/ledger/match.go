package ledger

import "strings"

// Matching of names and topics. Nothing here allocates: the ACL check is
// on the publish path, and a miss in the decision cache walks every rule.

// pattern matches a client id, username, remote address or plain-text
// password, with * standing for any run of characters (none included).
// The zero pattern, a field not given, matches everything.
type pattern struct {
	kind patKind
	text string // the pattern as written
}

type patKind uint8

const (
	patAny    patKind = iota // "", "*" or not given
	patExact                 // no *
	patPrefix                // one *, at the end: the common case, and quick
	patGlob
)

func newPattern(s string) pattern {
	switch {
	case s == "" || s == "*":
		return pattern{kind: patAny, text: s}
	case strings.IndexByte(s, '*') == len(s)-1:
		return pattern{kind: patPrefix, text: s}
	case strings.Contains(s, "*"):
		return pattern{kind: patGlob, text: s}
	}
	return pattern{kind: patExact, text: s}
}

// literal is a pattern that matches exactly s, * included and "" only
// itself: Mochi's and Mosquitto's user names are names, not patterns.
func literal(s string) pattern { return pattern{kind: patExact, text: s} }

func (p pattern) match(s string) bool {
	switch p.kind {
	case patAny:
		return true
	case patExact:
		return p.text == s
	case patPrefix:
		return strings.HasPrefix(s, p.text[:len(p.text)-1])
	}
	return globMatch(p.text, s)
}

// globMatch reports whether s matches pat, where * matches any run of
// characters. The classic greedy walk with one backtrack point: linear in
// practice, and never exponential, whatever the number of stars.
func globMatch(pat, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pat) && pat[p] == '*':
			star, mark = p, i
			p++
		case p < len(pat) && pat[p] == s[i]:
			p++
			i++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pat) && pat[p] == '*' {
		p++
	}
	return p == len(pat)
}

// level cuts the first level off s: the level, the rest, and whether
// there was a separator (so "a/" has a last, empty, level).
func level(s string) (first, rest string, more bool) {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}

func wild(lv string) bool { return lv == "+" || lv == "#" }

// dollar reports whether a topic or filter's first level is a literal
// starting with $: the topics that a filter starting with a wildcard does
// not match (MQTT 5 4.7.2, 3.1.1 4.7.2).
func dollar(s string) bool { return s != "" && s[0] == '$' }

// covers reports whether every topic that f matches, e matches too: e
// grants or refuses all of a subscription to f. With a topic for f (no
// wildcards) it is the plain match of topic against filter. Level by
// level: # in e takes the rest, the parent level included (a/# covers a
// and a/#); + in e takes one level of f, + included, but not #; a literal
// level only itself.
func covers(e, f string) bool {
	if dollar(f) && e != "" && wild(firstLevel(e)) {
		return false // f is all $-topics, which e's leading wildcard skips
	}
	for {
		el, erest, emore := level(e)
		fl, frest, fmore := level(f)
		switch {
		case el == "#":
			return true
		case fl == "#":
			return false // f takes any depth here; only # in e covers that
		case el == "+":
		case el != fl:
			return false
		}
		switch {
		case !emore && !fmore:
			return true
		case !fmore:
			// f ends here; e goes on: only a final "#" also matches the
			// parent level (a/# matches a).
			return erest == "#"
		case !emore:
			return false
		}
		e, f = erest, frest
	}
}

// overlaps reports whether some topic matches both e and f.
func overlaps(e, f string) bool {
	if dollar(e) && wild(firstLevel(f)) || dollar(f) && wild(firstLevel(e)) {
		return false
	}
	for {
		el, erest, emore := level(e)
		fl, frest, fmore := level(f)
		switch {
		case el == "#" || fl == "#":
			return true
		case el == "+" || fl == "+":
		case el != fl:
			return false
		}
		switch {
		case !emore && !fmore:
			return true
		case !emore:
			return frest == "#"
		case !fmore:
			return erest == "#"
		}
		e, f = erest, frest
	}
}

func firstLevel(s string) string {
	l, _, _ := level(s)
	return l
}

// shareFilter is the filter of a shared subscription ($share/group/filter),
// which is what reading rights are checked on; other filters are returned
// as they are.
func shareFilter(f string) string {
	const p = "$share/"
	if !strings.HasPrefix(f, p) {
		return f
	}
	rest := f[len(p):]
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return rest[i+1:]
	}
	return f // malformed: the session refuses it before asking
}
