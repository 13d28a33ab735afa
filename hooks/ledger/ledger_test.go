package ledger_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/loom-mqtt/loom/hooks/ledger"
)

// client is who asks.
type client struct{ id, user, remote string }

type authCase struct {
	cl    client
	pw    string
	allow bool
}

type aclCase struct {
	cl    client
	topic string
	write bool
	allow bool
}

func load(t *testing.T, path string) *ledger.Ledger {
	t.Helper()
	l, err := ledger.LoadFile(path)
	require.NoError(t, err)
	return l
}

func parse(t *testing.T, text string) *ledger.Ledger {
	t.Helper()
	l, err := ledger.Parse("test.yaml", []byte(text))
	require.NoError(t, err)
	return l
}

func checkAuth(t *testing.T, l *ledger.Ledger, cases []authCase) {
	t.Helper()
	for _, c := range cases {
		require.Equal(t, c.allow, l.Authenticate(c.cl.id, c.cl.user, c.cl.remote, []byte(c.pw)),
			"auth %+v password %q", c.cl, c.pw)
	}
}

func checkACL(t *testing.T, l *ledger.Ledger, cases []aclCase) {
	t.Helper()
	for _, c := range cases {
		what := "read"
		if c.write {
			what = "write"
		}
		require.Equal(t, c.allow, l.Allowed(c.cl.id, c.cl.user, c.cl.remote, c.topic, c.write),
			"%s %q by %+v", what, c.topic, c.cl)
	}
}

const (
	w = true  // a publish
	r = false // a subscription
)

// TestLoomFormat: the same rules in YAML and JSON decide alike.
func TestLoomFormat(t *testing.T) {
	alice := client{"phone", "alice", "192.0.2.1:5000"}
	sensor := client{"sensor-7", "", "10.0.0.9:4000"}
	other := client{"x", "carol", "192.0.2.2:1"}
	for file, bobLine := range map[string]string{"testdata/loom.yaml": "7", "testdata/loom.json": "6"} {
		t.Run(filepath.Base(file), func(t *testing.T) {
			l := load(t, file)
			checkAuth(t, l, []authCase{
				{alice, "wonderland", true},
				{alice, "wrong", false},
				{alice, "", false},
				{client{"c", "bob", "1.2.3.4:1"}, "builder", true},
				{client{"c", "bob", "1.2.3.4:1"}, "builde", false},
				{sensor, "", true},                                   // by client and remote, any password
				{client{"sensor-7", "", "10.0.1.9:4000"}, "", false}, // another network
				{client{"c", "mallory", "1.2.3.4:1"}, "", false},
				{other, "x", false}, // auth_default deny
			})
			checkACL(t, l, []aclCase{
				{alice, "devices/phone/x", w, true}, // %c
				{alice, "devices/phone", w, true},   // # takes the parent
				{alice, "devices/tablet/x", w, false},
				{alice, "devices/phone/#", r, true},
				{alice, "alerts/fire", r, true},
				{alice, "alerts/fire", w, false}, // read only: the entry decides
				{alice, "alerts/secret", r, false},
				{alice, "alerts/#", r, false}, // would receive alerts/secret
				{alice, "alerts/+", r, false},
				{alice, "public/x", w, true}, // none of alice's entries decides: the next rule does
				{sensor, "sensors/sensor-7", w, true},
				{sensor, "sensors/sensor-8", w, false},
				{sensor, "config/sensor-7/rate", r, true},
				{sensor, "config/sensor-7/+", r, true},
				{sensor, "config/sensor-7/#", r, false},
				{other, "public/a/b", w, true},
				{other, "public/#", r, true},
				{other, "#", r, false},
				{other, "private", w, false}, // acl_default deny
			})
			require.Equal(t, []string{file + ":" + bobLine + " username bob"}, l.PlainTextRules())
		})
	}
}

// TestMochiExample: Mochi's documented example ledger, in YAML and JSON,
// means what it meant in Mochi.
func TestMochiExample(t *testing.T) {
	peach := client{"p", "peach", "192.0.2.1:1"}
	melon := client{"m", "melon", "192.0.2.1:1"}
	local := client{"l", "", "127.0.0.1:5555"}
	for file, lines := range map[string][2]string{"testdata/mochi.yaml": {"4", "7"}, "testdata/mochi.json": {"3", "4"}} {
		t.Run(filepath.Base(file), func(t *testing.T) {
			l := load(t, file)
			checkAuth(t, l, []authCase{
				{peach, "password1", true},
				{peach, "password2", false},
				{melon, "password2", true},
				{local, "", false},
				{client{"z", "nobody", "192.0.2.3:1"}, "", false}, // no rule: refused
			})
			checkACL(t, l, []aclCase{
				{local, "anything/at/all", w, true}, // a rule without filters
				{melon, "melon/x", w, true},
				{melon, "melon/x", r, true},
				{melon, "updates/1", w, true},
				{melon, "updates/1", r, false}, // melon's write-only entry decides, as in Mochi
				{peach, "news", r, true},
				{peach, "news", w, false},
				{peach, "updates/1", r, true}, // '#': 1 is first in the file
				{peach, "updates/1", w, false},
			})
			require.Equal(t, []string{file + ":" + lines[0] + " username peach", file + ":" + lines[1] + " username melon"},
				l.PlainTextRules())
		})
	}
}

// TestMochiUsers: a user's entry lets it in with its password (unless
// disallowed) and its acl is asked first, in file order.
func TestMochiUsers(t *testing.T) {
	l := load(t, "testdata/mochi-users.yaml")
	kiwi := client{"k", "kiwi", "192.0.2.1:1"}
	checkAuth(t, l, []authCase{
		{kiwi, "kiwi-pw", true},
		{kiwi, "other", false},
		{client{"b", "banned", "192.0.2.1:1"}, "banned-pw", false},
		{client{"g", "guest", "192.0.2.1:1"}, "", true},
	})
	checkACL(t, l, []aclCase{
		{kiwi, "kiwi/secret", r, false}, // first in the file
		{kiwi, "kiwi/secret", w, false},
		{kiwi, "kiwi/other", w, true},
		{kiwi, "kiwi/#", r, false},   // overlaps kiwi/secret
		{kiwi, "elsewhere", w, true}, // no rule: allowed, as in Mochi
	})
	require.Len(t, l.PlainTextRules(), 2)
}

// TestFilterOrder: the order written decides, in both formats, even where
// a Go map would iterate otherwise.
func TestFilterOrder(t *testing.T) {
	cl := client{"c", "u", "192.0.2.1:1"}
	for name, text := range map[string]string{
		"loom deny first": `acl_default: allow
acl:
  - filters:
      - {filter: a/b, access: deny}
      - {filter: a/+, access: readwrite}`,
		"mochi deny first": `acl:
  - filters:
      a/b: 0
      a/+: 3`,
	} {
		t.Run(name, func(t *testing.T) {
			l := parse(t, text)
			checkACL(t, l, []aclCase{
				{cl, "a/b", w, false}, {cl, "a/b", r, false}, {cl, "a/c", w, true}, {cl, "a/+", r, false},
			})
		})
	}
	for name, text := range map[string]string{
		"loom grant first": `acl:
  - filters:
      - {filter: a/+, access: readwrite}
      - {filter: a/b, access: deny}`,
		"mochi grant first": `acl:
  - filters:
      a/+: 3
      a/b: 0`,
	} {
		t.Run(name, func(t *testing.T) {
			l := parse(t, text)
			checkACL(t, l, []aclCase{
				{cl, "a/b", w, true}, {cl, "a/b", r, true}, {cl, "a/+", r, true},
			})
		})
	}
	// Many keys, so that a map's order could not pass by luck.
	text := "acl:\n  - filters:\n"
	for _, f := range []string{"z", "y", "x", "w", "v", "u", "t", "s", "r", "q"} {
		text += "      " + f + "/#: 0\n"
	}
	text += "      '#': 3\n      x/1: 3\n"
	l := parse(t, text)
	checkACL(t, l, []aclCase{{cl, "x/1", w, false}, {cl, "a", w, true}})
}

// TestBypassShapes: grants reach exactly the topics MQTT matches.
func TestBypassShapes(t *testing.T) {
	cl := client{"c", "u", "192.0.2.1:1"}
	l := parse(t, `acl:
  - filters:
      - {filter: a/b, access: readwrite}
      - {filter: p/+, access: readwrite}
      - {filter: h/#, access: readwrite}
      - {filter: "#", access: read}
      - {filter: "+/x", access: write}
`)
	checkACL(t, l, []aclCase{
		{cl, "a/b", w, true},
		{cl, "a/bc", w, false},
		{cl, "a/b/c", w, false},
		{cl, "a/b/", w, false},
		{cl, "a", w, false},
		{cl, "a/b/#", r, true}, // by "#", read-only
		{cl, "p/q", w, true},
		{cl, "p/q/r", w, false},
		{cl, "p", w, false},
		{cl, "p/+", r, true},
		{cl, "h", w, true}, // h/# takes its parent
		{cl, "h/1/2", w, true},
		{cl, "hh/1", w, false},
		{cl, "h/#", r, true},
		{cl, "$SYS/x", r, false},      // # does not reach $ topics
		{cl, "$SYS/x", w, false},      // nor +/x
		{cl, "b/x", w, false},         // "#", read only, comes first and decides
		{cl, "$share/g/a/b", r, true}, // the filter part
		{cl, "$share/g/$SYS/#", r, false},
	})

	l = parse(t, `acl:
  - filters:
      - {filter: a/+, access: read}
      - {filter: ab/#, access: read}
`)
	checkACL(t, l, []aclCase{
		{cl, "a/+", r, true},
		{cl, "a/x", r, true},
		{cl, "a/#", r, false}, // a/+ does not cover a/#
		{cl, "a/x/y", r, false},
		{cl, "#", r, false},
		{cl, "+/+", r, false},
		{cl, "ab/c", r, true},
	})

	l = parse(t, `acl:
  - filters:
      - {filter: a/#, access: read}
`)
	checkACL(t, l, []aclCase{
		{cl, "ab/c", r, false},
		{cl, "ab", r, false},
		{cl, "a", r, true},
		{cl, "a/+/c", r, true}, // a/# covers a/+/c
		{cl, "+/c", r, false},
	})
}

// TestSubstitution: %c and %u stand for the client's id and username,
// and a value that would widen the filter does not match it at all.
func TestSubstitution(t *testing.T) {
	l := parse(t, `acl:
  - filters:
      - {filter: c/%c/#, access: readwrite}
      - {filter: u/%u/#, access: readwrite}
      - {filter: both/%u-%c, access: write}
`)
	checkACL(t, l, []aclCase{
		{client{"dev1", "ann", ""}, "c/dev1/x", w, true},
		{client{"dev1", "ann", ""}, "c/dev2/x", w, false},
		{client{"dev1", "ann", ""}, "u/ann", w, true},
		{client{"dev1", "ann", ""}, "u/bob/x", w, false},
		{client{"dev1", "ann", ""}, "both/ann-dev1", w, true},
		{client{"dev1", "", ""}, "u//x", w, false}, // no username: %u matches nothing
		{client{"#", "ann", ""}, "c/x/y", w, false},
		{client{"a/b", "ann", ""}, "c/a/b", w, false},
		{client{"+", "ann", ""}, "c/z", w, false},
		{client{"dev1", "#", ""}, "u/q", w, false},
	})
}

// TestRemoteWildcards: auth and ACL rules on the remote address.
func TestRemoteWildcards(t *testing.T) {
	l := parse(t, `auth_default: deny
acl_default: deny
auth:
  - remote: 127.0.0.1:*
    allow: true
  - remote: "[::1]:*"
    allow: true
  - remote: 10.*.*.1:1883
    allow: true
acl:
  - remote: 127.0.0.*
    filters: [{filter: "#", access: readwrite}]
  - remote: 10.*
    filters: [{filter: ten/#, access: readwrite}]
`)
	checkAuth(t, l, []authCase{
		{client{"a", "", "127.0.0.1:40000"}, "", true},
		{client{"a", "", "127.0.0.10:40000"}, "", false},
		{client{"a", "", "[::1]:40000"}, "", true},
		{client{"a", "", "10.2.3.1:1883"}, "", true},
		{client{"a", "", "10.2.3.1:1884"}, "", false},
		{client{"a", "", "192.0.2.1:1"}, "", false},
	})
	checkACL(t, l, []aclCase{
		{client{"a", "", "127.0.0.1:40000"}, "x", w, true}, // * takes the port too
		{client{"a", "", "10.0.0.1:5"}, "ten/x", w, true},
		{client{"a", "", "10.0.0.1:5"}, "x", w, false},
		{client{"a", "", "110.0.0.1:5"}, "ten/x", w, false},
	})
}

// TestBcrypt: HashPassword's hashes check in a rule; other hashes and
// formats are errors at load, naming the line.
func TestBcrypt(t *testing.T) {
	h, err := ledger.HashPassword([]byte("s3cret"))
	require.NoError(t, err)
	l := parse(t, "auth:\n  - username: u\n    password: '"+h+"'\n    allow: true\n")
	checkAuth(t, l, []authCase{
		{client{"c", "u", ""}, "s3cret", true},
		{client{"c", "u", ""}, "s3cre", false},
	})
	require.Empty(t, l.PlainTextRules())
	cost, err := bcrypt.Cost([]byte(h))
	require.NoError(t, err)
	require.Equal(t, bcrypt.DefaultCost, cost)
}

// TestBadFiles: an error names the file and the line.
func TestBadFiles(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		line       int
	}{
		{"yaml syntax", "acl:\n  - filters:\n      a: 1\n    b: :\n", 4},
		{"json syntax", "{\n \"auth\": [\n  {\"username\": }\n ]\n}", 3},
		{"json trailing", "{}\n{}", 2},
		{"unknown key", "auth:\n  - username: a\n    allow: true\n    pasword: x\n", 4},
		{"unknown top key", "acl_default: deny\nacls: []\n", 2},
		{"no allow", "auth:\n  - username: a\n", 2},
		{"bad default", "acl_default: maybe\n", 1},
		{"bad access word", "acl:\n  - filters:\n      - filter: a\n        access: all\n", 4},
		{"bad mochi access", "acl:\n  - filters:\n      a: 4\n", 3},
		{"bad filter", "acl:\n  - filters:\n      - {filter: a/#/b, access: read}\n", 3},
		{"bad plus", "acl:\n  - filters:\n      a+: 1\n", 3},
		{"no filters", "acl_default: allow\nacl:\n  - username: a\n", 3},
		{"mixed", "acl_default: deny\nusers:\n  a: {password: b}\n", 2},
		{"duplicate key", "acl:\n  - filters:\n      a: 1\n      a: 0\n", 4},
		{"bad bcrypt", "auth:\n  - username: a\n    password: $2a$10$short\n    allow: true\n", 3},
		{"bad pbkdf2", "auth:\n  - username: a\n    password: $7$x$c2FsdA==$aGFzaA==\n    allow: true\n", 3},
		{"json bad type", "{\n\"auth\": {\"a\": 1}\n}", 2},
		{"not a mapping", "- a\n- b\n", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ledger.Parse("rules.yaml", []byte(tc.text))
			require.Error(t, err)
			var le *ledger.Error
			require.True(t, errors.As(err, &le), "%v", err)
			require.Equal(t, "rules.yaml", le.File)
			require.Equal(t, tc.line, le.Line, "%v", err)
			require.Contains(t, err.Error(), "rules.yaml:")
		})
	}
	_, err := ledger.LoadFile(filepath.Join(t.TempDir(), "absent.yaml"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

// TestDefaults: Loom's file says; silent, it denies; Mochi allows ACLs.
func TestDefaults(t *testing.T) {
	cl := client{"c", "u", "192.0.2.1:1"}
	for _, tc := range []struct {
		text      string
		auth, acl bool
	}{
		{"", false, false},
		{"auth_default: allow\nacl_default: allow\n", true, true},
		{"auth_default: deny\nacl_default: allow\n", false, true},
		{"auth: []\n", false, false},
		{"{}", false, false},
		{`{"users": {}}`, false, true},
		{"acl:\n  - username: other\n    filters: {a: 1}\n", false, true},
	} {
		l := parse(t, tc.text)
		require.Equal(t, tc.auth, l.Authenticate(cl.id, cl.user, cl.remote, nil), "%q", tc.text)
		require.Equal(t, tc.acl, l.Allowed(cl.id, cl.user, cl.remote, "t", true), "%q", tc.text)
	}
}

// TestGlobPasswords: Mochi's rules take * in passwords too.
func TestGlobPasswords(t *testing.T) {
	l := parse(t, "auth:\n  - username: u\n    password: 'pre*'\n    allow: true\n  - username: v\n    password: '*'\n    allow: true\n")
	checkAuth(t, l, []authCase{
		{client{"c", "u", ""}, "prefix", true},
		{client{"c", "u", ""}, "xpre", false},
		{client{"c", "v", ""}, "", true},
	})
	require.Len(t, l.PlainTextRules(), 1, "a rule that takes any password holds none in plain text")
}

// TestRuleOrderAcrossKinds: rules naming a user, a client, or neither are
// found by different ways, and still asked in file order.
func TestRuleOrderAcrossKinds(t *testing.T) {
	l := parse(t, `acl_default: deny
auth_default: deny
auth:
  - {client: c1, allow: false}
  - {username: u1, allow: true}
  - {remote: "10.*", allow: false}
  - {username: u2, allow: true}
  - {client: c2, allow: true}
acl:
  - client: c1
    filters: [{filter: a, access: deny}]
  - username: u1
    filters: [{filter: a, access: readwrite}, {filter: b, access: deny}]
  - filters: [{filter: b, access: readwrite}, {filter: c, access: read}]
  - username: u1
    filters: [{filter: c, access: readwrite}]
`)
	checkAuth(t, l, []authCase{
		{client{"c1", "u1", ""}, "", false},
		{client{"c3", "u1", "10.0.0.1:1"}, "", true},
		{client{"c3", "u2", "10.0.0.1:1"}, "", false},
		{client{"c3", "u2", "192.0.2.1:1"}, "", true},
		{client{"c2", "", "10.0.0.1:1"}, "", false},
		{client{"c2", "", ""}, "", true},
	})
	checkACL(t, l, []aclCase{
		{client{"c1", "u1", ""}, "a", w, false},
		{client{"c9", "u1", ""}, "a", w, true},
		{client{"c9", "u1", ""}, "b", w, false},
		{client{"c9", "u2", ""}, "b", w, true},
		{client{"c9", "u1", ""}, "c", w, false}, // the rule for everyone comes first
	})
}
