package ledger_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/hooks/ledger"
	"github.com/loom-mqtt/loom/session"
)

// mosquittoPasswd runs Debian's mosquitto_passwd (package mosquitto) to
// make a password file as Mosquitto's users do; the test is skipped,
// saying so, where it is not installed.
func mosquittoPasswd(t *testing.T, args ...string) {
	t.Helper()
	tool, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		t.Skip("mosquitto_passwd not found: install the mosquitto package (apt-get install mosquitto) to test Mosquitto's password files")
	}
	out, err := exec.Command(tool, args...).CombinedOutput()
	require.NoError(t, err, "%s", out)
}

// TestMosquittoPasswords: files made by mosquitto_passwd, in its default
// hash ($7$, PBKDF2) and its older one ($6$, SHA-512).
func TestMosquittoPasswords(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "passwd")
	mosquittoPasswd(t, "-c", "-b", pw, "alice", "wonder land")
	mosquittoPasswd(t, "-b", pw, "bob", "builder")
	mosquittoPasswd(t, "-H", "sha512", "-b", pw, "carol", "c@rol:1")
	data, err := os.ReadFile(pw)
	require.NoError(t, err)
	require.Contains(t, string(data), "alice:$7$")
	require.Contains(t, string(data), "carol:$6$")

	l, err := ledger.LoadMosquitto(pw, "")
	require.NoError(t, err)
	checkAuth(t, l, []authCase{
		{client{"c", "alice", "192.0.2.1:1"}, "wonder land", true},
		{client{"c", "alice", "192.0.2.1:1"}, "wonderland", false},
		{client{"c", "bob", ""}, "builder", true},
		{client{"c", "bob", ""}, "", false},
		{client{"c", "carol", ""}, "c@rol:1", true},
		{client{"c", "carol", ""}, "c@rol:2", false},
		{client{"c", "dave", ""}, "builder", false},
		{client{"c", "", ""}, "", false}, // anonymous: refused, as Mosquitto 2
	})
	require.Empty(t, l.PlainTextRules())
	// No ACL file: every topic is allowed.
	require.True(t, l.Allowed("c", "bob", "", "any/topic", true))
}

func TestMosquittoPlainAndBad(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "passwd")
	require.NoError(t, os.WriteFile(pw, []byte("# users\nold:plain\n\nnew:$6$bad$bad\n"), 0o600))
	_, err := ledger.LoadMosquitto(pw, "")
	require.ErrorContains(t, err, pw+":4: user new")

	require.NoError(t, os.WriteFile(pw, []byte("old:plain\n"), 0o600))
	l, err := ledger.LoadMosquitto(pw, "")
	require.NoError(t, err)
	require.Equal(t, []string{pw + ":1 user old"}, l.PlainTextRules())
	require.True(t, l.Authenticate("c", "old", "", []byte("plain")))

	acl := filepath.Join(dir, "acl")
	for text, line := range map[string]string{
		"user a\ntopic read a/#/b\n": ":2:",
		"# x\nuser\n":                ":2:",
		"topic\n":                    ":1:",
		"topic read\n":               ":1:",
		"\n\nfoo bar\n":              ":3:",
	} {
		require.NoError(t, os.WriteFile(acl, []byte(text), 0o600))
		_, err := ledger.LoadMosquitto("", acl)
		require.ErrorContains(t, err, acl+line, "%q", text)
	}
}

// TestMosquittoACL: an acl_file as Mosquitto reads it.
func TestMosquittoACL(t *testing.T) {
	dir := t.TempDir()
	acl := filepath.Join(dir, "acl")
	require.NoError(t, os.WriteFile(acl, []byte(strings.Join([]string{
		"# for clients without a username",
		"topic read public/#",
		"",
		"user alice",
		"topic readwrite alice/#",
		"topic read sensors/#",
		"topic write sensors/alice/#",
		"topic deny sensors/secret/#",
		"topic with space/x",
		"topic write two  spaces",
		"",
		"user bob",
		"topic bob/#",
		"",
		"  # patterns: everyone",
		"pattern write devices/%c/out",
		"pattern read devices/%u/in",
		"pattern deny devices/%c/locked",
	}, "\n")), 0o600))
	l, err := ledger.LoadMosquitto("", acl)
	require.NoError(t, err)
	alice := client{"a1", "alice", "192.0.2.1:1"}
	bob := client{"b1", "bob", ""}
	anon := client{"x", "", ""}
	checkACL(t, l, []aclCase{
		{anon, "public/news", r, true},
		{anon, "public/news", w, false},
		{alice, "public/news", r, false}, // the anonymous lines are not alice's
		{alice, "alice/x", w, true},
		{alice, "sensors/t", r, true},
		{alice, "sensors/t", w, false},
		{alice, "sensors/alice/t", w, true}, // read on sensors/# does not refuse writing
		{alice, "sensors/alice/t", r, true},
		{alice, "sensors/secret/x", r, false}, // deny lines first, whatever the order
		{alice, "sensors/#", r, false},
		{alice, "with space/x", w, true}, // no access word: readwrite
		{alice, "with space/x", r, true},
		{alice, "two  spaces", w, true}, // the filter is the rest of the line
		{bob, "bob/1", w, true},
		{bob, "alice/1", w, false},
		{bob, "devices/b1/out", w, true},
		{bob, "devices/b1/out", r, false},
		{bob, "devices/bob/in", r, true},
		{bob, "devices/b1/locked", w, false},
		{anon, "devices/x/out", w, true},
		{anon, "devices//in", r, false}, // %u of no username matches nothing
		{bob, "elsewhere", w, false},    // what no line grants is refused
	})
}

// TestMosquittoSHA512IsQuick: a $6$ hash is one SHA-512, checked at once
// by the hook (so a wrong password is a Refuse), not by a worker.
func TestMosquittoSHA512IsQuick(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "passwd")
	mosquittoPasswd(t, "-H", "sha512", "-c", "-b", pw, "u", "pw")
	l, err := ledger.LoadMosquitto(pw, "")
	require.NoError(t, err)
	h := ledger.New(l)
	defer h.Stop()
	cl := session.ClientInfo{ID: "c", Username: "u"}
	require.Equal(t, session.Allow, h.OnConnectAuthenticate(cl, connect("u", "pw"), noAnswer(t)))
	require.Equal(t, session.Refuse, h.OnConnectAuthenticate(cl, connect("u", "px"), noAnswer(t)))
}
