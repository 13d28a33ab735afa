package config

import (
	"crypto/tls"
	"encoding/pem"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
)

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(to, b, 0o600))
}

// A reload applies new certificate contents, new auth rules and the log
// level to a running broker, and lists what waits for a restart.
func TestRunningReload(t *testing.T) {
	old, renewed := loomtest.NewPKI(t), loomtest.NewPKI(t)
	dir := t.TempDir()
	cert, key, ledgerFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "ledger.yaml")
	copyFile(t, old.CertFile, cert)
	copyFile(t, old.KeyFile, key)
	require.NoError(t, os.WriteFile(ledgerFile, []byte("auth:\n  - {username: alice, password: a, allow: true}\n  - {username: bob, password: b, allow: true}\n"), 0o600))
	file := filepath.Join(dir, "loom.yaml")
	write := func(level string, maxQueued int) *Config {
		text := "listeners:\n  - {id: secure, type: tls, address: 127.0.0.1:0, tls: {cert: " + cert + ", key: " + key + "}}\n" +
			"auth: {ledger_file: " + ledgerFile + "}\nstorage: {memory: true}\nlog: {level: " + level + "}\n"
		if maxQueued > 0 {
			text += "limits: {max_queued: " + itoa(maxQueued) + "}\n"
		}
		require.NoError(t, os.WriteFile(file, []byte(text), 0o600))
		c, err := Load(file)
		require.NoError(t, err)
		return c
	}
	c := write("info", 0)
	srv, err := loom.New(c.Options)
	require.NoError(t, err)
	hooks, err := c.AddHooks(srv)
	require.NoError(t, err)
	require.NoError(t, srv.Start())
	defer func() { _ = srv.Close(t.Context()) }()
	var level slog.LevelVar
	run := NewRunning(srv, c, hooks, &level)

	served := func(pki *loomtest.PKI) *tls.Conn {
		conn, err := tls.Dial("tcp", srv.Addrs()[0].String(), pki.ClientTLS())
		require.NoError(t, err)
		return conn
	}
	first := served(old)
	defer first.Close()

	// Nothing changed: nothing applied, nothing pending.
	applied, pending, err := run.Reload(write("info", 0))
	require.NoError(t, err)
	require.Empty(t, applied)
	require.Empty(t, pending)

	copyFile(t, renewed.CertFile, cert)
	copyFile(t, renewed.KeyFile, key)
	require.NoError(t, os.WriteFile(ledgerFile, []byte("auth:\n  - {username: alice, password: a, allow: true}\n"), 0o600))
	applied, pending, err = run.Reload(write("debug", 5))
	require.NoError(t, err)
	require.ElementsMatch(t, []string{
		"listeners[0].tls.cert: " + cert + " changed",
		"listeners[0].tls.key: " + key + " changed",
		"auth.ledger_file: " + ledgerFile + " changed",
		"log.level: info → debug",
	}, texts(applied))
	require.Equal(t, []string{"limits.max_queued: 10000 → 5"}, texts(pending))

	require.Equal(t, slog.LevelDebug, level.Level())
	require.False(t, hooks.Ledger.Ledger().Authenticate("bob", "bob", "127.0.0.1:1", []byte("b")))
	require.True(t, hooks.Ledger.Ledger().Authenticate("alice", "alice", "127.0.0.1:1", []byte("a")))
	next := served(renewed)
	defer next.Close()
	require.Equal(t, mustLeaf(t, renewed.CertFile), next.ConnectionState().PeerCertificates[0].Raw)

	// Still pending at the next reload, though unchanged since the last.
	_, pending, err = run.Reload(write("debug", 5))
	require.NoError(t, err)
	require.Equal(t, []string{"limits.max_queued: 10000 → 5"}, texts(pending))
}

// mustLeaf is the first certificate of a PEM file, as a TLS peer sends it.
func mustLeaf(t *testing.T, certFile string) []byte {
	b, err := os.ReadFile(certFile)
	require.NoError(t, err)
	p, _ := pem.Decode(b)
	require.NotNil(t, p)
	return p.Bytes
}

func texts(cs []Change) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.String()
	}
	return out
}

// Secrets are not shown in what changed.
func TestDiffHidesSecrets(t *testing.T) {
	a, b := Default(), Default()
	b.HTTP = HTTP{Address: "127.0.0.1:0", Token: "t0ken"}
	require.Equal(t, []string{`http.address: "" → 127.0.0.1:0`, `http.token: "" → (hidden)`}, texts(Diff(a, b)))
	b.Auth.Ledger = "auth: []\n"
	require.Contains(t, texts(Diff(a, b)), "auth.ledger: (none) → (hidden)")
}

func itoa(n int) string { return strconv.Itoa(n) }
