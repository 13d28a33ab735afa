package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
)

func TestPasswdPrintsABcryptHash(t *testing.T) {
	var out, errb bytes.Buffer
	require.Equal(t, 0, passwd(strings.NewReader("wonderland\n"), &out, &errb), errb.String())
	h := strings.TrimSpace(out.String())
	require.True(t, strings.HasPrefix(h, "$2"), h)
	require.NoError(t, bcrypt.CompareHashAndPassword([]byte(h), []byte("wonderland")))
	require.Equal(t, 2, passwd(strings.NewReader(""), &out, &errb))
}

func TestAuthFlags(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "ledger.yaml")
	require.NoError(t, os.WriteFile(good, []byte("auth:\n  - username: alice\n    password: secret\n    allow: true\nacl_default: allow\n"), 0o600))
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("auth:\n  - username: alice\n    allow: maybe\n"), 0o600))

	c, err := parseArgs([]string{"-listen", "0.0.0.0:1883", "-auth", good})
	require.NoError(t, err, "a ledger is authentication: the exposed listener is allowed")
	require.NotNil(t, c.cfg.LedgerRules())

	_, err = parseArgs([]string{"-auth", bad})
	require.ErrorContains(t, err, "-auth")
	require.ErrorContains(t, err, "bad.yaml:3", "the file and line")

	_, err = parseArgs([]string{"-auth", good, "-password-file", good})
	require.ErrorContains(t, err, "not both")
	_, err = parseArgs([]string{"-http-auth", "ftp://x"})
	require.ErrorContains(t, err, "-http-auth")
	c, err = parseArgs([]string{"-listen", ":1883", "-http-auth", "http://127.0.0.1:9/auth"})
	require.NoError(t, err)
	require.Equal(t, "http://127.0.0.1:9/auth", c.cfg.Auth.HTTPAuth)
}

// The binary with a ledger: alice with her password connects, anyone
// else gets CONNACK 0x86.
func TestBinaryWithALedger(t *testing.T) {
	bin := buildLoom(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "ledger.json")
	require.NoError(t, os.WriteFile(file, []byte(`{"auth":[{"username":"alice","password":"secret","allow":true}],"acl_default":"allow"}`), 0o600))
	cmd := exec.Command(bin, "-memory", "-listen", "127.0.0.1:0", "-auth", file)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	sc := bufio.NewScanner(stderr)
	var warned bool
	addr := ""
	re := regexp.MustCompile(`msg=listening addr=(\S+)`)
	for addr == "" && sc.Scan() {
		warned = warned || strings.Contains(sc.Text(), "plain text")
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			addr = m[1]
		}
	}
	require.NotEmpty(t, addr)
	require.True(t, warned, "one warning names the plain-text passwords")
	go func() {
		for sc.Scan() {
		}
	}()
	for _, tc := range []struct {
		user, pw string
		want     proto.ReasonCode
	}{{"alice", "secret", proto.Success}, {"alice", "guess", proto.BadUserNameOrPassword}, {"bob", "secret", proto.BadUserNameOrPassword}} {
		c := loomtest.Dial(t, addr, proto.V5)
		c.Send(&proto.Connect{Version: proto.V5, ClientID: []byte(tc.user), CleanStart: true,
			UsernameFlag: true, Username: []byte(tc.user), PasswordFlag: true, Password: []byte(tc.pw)})
		require.Equal(t, tc.want, loomtest.Expect[*proto.Connack](c).Reason, tc.user+"/"+tc.pw)
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(loomtest.Wait):
		t.Fatal("the broker did not stop")
	}
}
