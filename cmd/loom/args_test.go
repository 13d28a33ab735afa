package main

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/config"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/persist"
)

// TestBadCommandLines runs loom's whole entry, run, on command lines that
// are wrong, in an empty working folder: each is refused with status 2 and
// a message on the flag at fault, and the folder stays empty (no
// ./loom-data, no socket).
func TestBadCommandLines(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	pki := loomtest.NewPKI(t)
	for _, tc := range []struct {
		args []string
		flag string // "" for a fault that is no flag's
		says string
	}{
		{[]string{"-loops", "-1"}, "-loops", "-1 is not a number of event loops (1 to 256"},
		{[]string{"-loops", "0"}, "-loops", "0 is not a number of event loops"},
		{[]string{"-loops", "100000"}, "-loops", "100000 is not a number of event loops"},
		{[]string{"-loops", "many"}, "-loops", `"many" is not a whole number`},
		{[]string{"-loops"}, "-loops", "needs a value"},
		{[]string{"-memory", "-sync", "none"}, "-sync", "has no use with -memory"},
		{[]string{"-memory", "-data-dir", "x"}, "-data-dir", "has no use with -memory"},
		{[]string{"-data-dir", "x", "-memory"}, "-data-dir", "has no use with -memory"},
		{[]string{"-memory", "-refuse-damaged-log"}, "-refuse-damaged-log", "has no use with -memory"},
		{[]string{"-memory=maybe"}, "-memory", `"maybe" is not true or false`},
		{[]string{"-memory", "true"}, "-memory", "write -memory or -memory=true"},
		{[]string{"serve"}, "", `unexpected argument "serve"`},
		{[]string{"-listen", "127.0.0.1:1883", "extra"}, "", `unexpected argument "extra"`},
		{[]string{"-nonsense"}, "-nonsense", "no such flag"},
		{[]string{"-listen", "nonsense"}, "-listen", `"nonsense" is not an address`},
		{[]string{"-listen", "unix://"}, "-listen", "names no socket file"},
		{[]string{"-listen", "unix:///no/such/folder/loom.sock"}, "-listen", "no folder /no/such/folder"},
		{[]string{"-listen", "unix:///" + strings.Repeat("x", 120)}, "-listen", "at most 103 bytes"},
		{[]string{"-listen", "udp://127.0.0.1:1883"}, "-listen", "byte stream"},
		{[]string{"-listen", "quic://127.0.0.1:8080"}, "-listen", "byte stream"},
		{[]string{"-listen", "tls://127.0.0.1:8883"}, "-tls-cert", "need -tls-cert and -tls-key"},
		{[]string{"-listen", "127.0.0.1:0", "-tls-cert", "c.pem"}, "-tls-cert", "no listener has TLS"},
		{[]string{"-listen", "unix:///tmp/x.sock?proxy"}, "-listen", "takes no PROXY header"},
		{[]string{"-listen", "127.0.0.1:0", "-ws-origins", "https://a.example"}, "-ws-origins", "no listener speaks WebSocket"},
		{[]string{"-listen", "wss://127.0.0.1:0", "-tls-cert", "/nonexistent.pem", "-tls-key", "/nonexistent.pem"}, "-tls-cert", "no such file"},
		{[]string{"-listen", "0.0.0.0:0", "-listen", "tls://0.0.0.0:0", "-tls-cert", pki.CertFile, "-tls-key", pki.KeyFile, "-tls-client-ca", pki.CAFile}, "-listen", "tcp://0.0.0.0:0 is reachable"},
		{[]string{"-listen", "tls://127.0.0.1:0", "-tls-cert", pki.CertFile, "-tls-key", pki.CAFile}, "-tls-cert", "tls: "},
		{[]string{"-listen", "tls://127.0.0.1:0", "-tls-cert", pki.CertFile, "-tls-key", pki.KeyFile, "-tls-username", "cn"}, "-tls-username", "needs -tls-client-ca"},
		{[]string{"-listen", "tls://127.0.0.1:0", "-tls-cert", pki.CertFile, "-tls-key", pki.KeyFile, "-tls-username", "uid"}, "-tls-username", `"uid" is not cn or san`},
		{[]string{"-log-format", "xml"}, "-log-format", `"xml" is not a log format (text or json)`},
		{[]string{"-shutdown-timeout", "0"}, "-shutdown-timeout", "0s is not a time to wait"},
		{[]string{"-shutdown-timeout", "5"}, "-shutdown-timeout", "is not a duration"},
		{[]string{"-http", "0.0.0.0:8080"}, "-http", "is reachable from the network: set http.token"},
		{[]string{"-http", "nowhere"}, "-http", `"nowhere" is not host:port`},
		{[]string{"-config", "/nonexistent/loom.yaml"}, "", "open /nonexistent/loom.yaml: no such file or directory"},
		{[]string{"-listen", "127.0.0.1:99999"}, "-listen", `port "99999" is not a number from 0 to 65535`},
		{[]string{"-listen", "127.0.0.1:mqtt"}, "-listen", `port "mqtt"`},
		{[]string{"-listen", "tcp://bad host:1883"}, "-listen", `"bad host" is not an IP address or a host name`},
		{[]string{"-listen", "127.0.0.1:1883", "-listen", "tcp://127.0.0.1:1883"}, "-listen", "given twice"},
		{[]string{"-log-level", "loud"}, "-log-level", `"loud" is not a log level`},
		{[]string{"-sync", "sometimes"}, "-sync", `"sometimes" is not a sync policy (always, interval or none)`},
		{[]string{"-data-dir", ""}, "-data-dir", "no folder given"},
		{[]string{"-data-dir", file}, "-data-dir", "is a file, not a folder"},
		{[]string{"-pprof", "0.0.0.0:6060"}, "-pprof", "not a loopback address"},
		// Safe by default: off loopback, someone must authenticate clients.
		{[]string{"-listen", "0.0.0.0:1883"}, "-listen", "tcp://0.0.0.0:1883 is reachable from the network and no client would be authenticated: configure authentication (-auth, -password-file, -http-auth, or client certificates with -tls-client-ca), or accept anonymous clients with -allow-anonymous"},
		{[]string{"-listen", "127.0.0.1:0", "-listen", ":1883"}, "-listen", "-allow-anonymous"},
		{[]string{"-pprof", ":6060"}, "-pprof", "not a loopback address"},
		{[]string{"-pprof", "localhost"}, "-pprof", "not host:port"},
		{[]string{"-max-session-expiry", "0"}, "-max-session-expiry", "0 is not taken"},
		{[]string{"-max-session-expiry", "a week"}, "-max-session-expiry", "is not a duration"},
		{[]string{"-max-sessions", "0"}, "-max-sessions", "0 is not taken"},
		{[]string{"-max-sessions", "lots"}, "-max-sessions", "is not a whole number"},
		{[]string{"-max-session-bytes", "0"}, "-max-session-bytes", "0 is not taken"},
		{[]string{"-max-session-bytes", "8XB"}, "-max-session-bytes", "is not a size"},
		{[]string{"-memory-budget", "0"}, "-memory-budget", "0 is not taken"},
		{[]string{"-preconnect-budget", "0"}, "-preconnect-budget", "0 is not taken"},
		{[]string{"-max-connect-size", "0"}, "-max-connect-size", "is not a packet size from 1 byte to 1MiB"},
		{[]string{"-max-connect-size", "-1"}, "-max-connect-size", "is not a packet size"},
		{[]string{"-max-connect-size", "2MiB"}, "-max-connect-size", "2MiB is not a packet size"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, err := parseArgs(tc.args)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.says)
			var ue *usageError
			if errors.As(err, &ue) {
				require.Equal(t, tc.flag, ue.flag)
			} else {
				require.Empty(t, tc.flag, "%v", err)
			}

			wd := t.TempDir()
			t.Chdir(wd)
			var stdout, stderr bytes.Buffer
			require.Equal(t, 2, run(tc.args, &stdout, &stderr))
			require.Empty(t, stdout.String())
			want := "loom: " + tc.says
			if tc.flag != "" {
				want = "loom: " + tc.flag + ": "
			}
			require.True(t, strings.HasPrefix(stderr.String(), want), "stderr %q, want it to start with %q", stderr.String(), want)
			require.Contains(t, stderr.String(), tc.says)
			entries, err := os.ReadDir(wd)
			require.NoError(t, err)
			require.Empty(t, entries, "a refused command line created something")
		})
	}
}

func TestGoodCommandLines(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "loom.sock")
	for _, tc := range []struct {
		args []string
		edit func(*config.Config) // nil: refused
	}{
		{nil, func(*config.Config) {}},
		{[]string{"-listen", ":1883", "-listen", "unix://" + sock, "-listen", "[::1]:0", "-listen", "tcp6://[::1]:0", "-listen", "localhost:1884", "-allow-anonymous"},
			func(c *config.Config) {
				c.Options.Listeners = lst("tcp://:1883", "unix://"+sock, "tcp://[::1]:0", "tcp6://[::1]:0", "tcp://localhost:1884")
				c.Options.AllowAnonymous = true
			}},
		{[]string{"-listen", "unix://" + sock, "-listen", "[::1]:0", "-listen", "localhost:1884"},
			func(c *config.Config) {
				c.Options.Listeners = lst("unix://"+sock, "tcp://[::1]:0", "tcp://localhost:1884")
			}},
		{[]string{"-listen", "127.0.0.1:0", "-listen", "127.0.0.1:0"}, func(c *config.Config) { c.Options.Listeners = lst("tcp://127.0.0.1:0", "tcp://127.0.0.1:0") }},
		{[]string{"-listen", "ws://127.0.0.1:0", "-listen", "127.0.0.1:0?proxy", "-ws-origins", "https://a.example, https://b.example"},
			func(c *config.Config) {
				c.Options.Listeners = []loom.Listener{{Address: "ws://127.0.0.1:0", Origins: []string{"https://a.example", "https://b.example"}},
					{Address: "tcp://127.0.0.1:0", Proxy: true}}
			}},
		{[]string{"-loops", "1"}, func(c *config.Config) { c.Options.Loops = 1 }},
		{[]string{"-loops", "256"}, func(c *config.Config) { c.Options.Loops = 256 }},
		{[]string{"-log-level", "DEBUG"}, func(c *config.Config) { c.Log.Level = slog.LevelDebug }},
		{[]string{"-log-format", "json"}, func(c *config.Config) { c.Log.Format = "json" }},
		{[]string{"-memory"}, func(c *config.Config) { c.Options.DataDir = "" }},
		{[]string{"-memory", "-data-dir", "loom-data"}, nil}, // set, even to its default: refused
		{[]string{"-data-dir", "d", "-sync", "always", "-refuse-damaged-log"}, func(c *config.Config) {
			c.Options.DataDir, c.Options.Sync, c.Options.RefuseDamagedLog = "d", persist.SyncAlways, true
		}},
		{[]string{"-pprof", "127.0.0.1:6060"}, func(c *config.Config) { c.Pprof = "127.0.0.1:6060" }},
		{[]string{"-pprof", "[::1]:0"}, func(c *config.Config) { c.Pprof = "[::1]:0" }},
		{[]string{"-http", "127.0.0.1:0"}, func(c *config.Config) { c.HTTP.Address = "127.0.0.1:0" }},
		{[]string{"-shutdown-timeout", "3s"}, func(c *config.Config) { c.ShutdownTimeout = 3 * time.Second }},
		{[]string{"-max-session-expiry", "-1"}, func(c *config.Config) { c.Options.Limits.MaxSessionExpiry = -1 }},
		{[]string{"-max-session-expiry", "90s"}, func(c *config.Config) { c.Options.Limits.MaxSessionExpiry = 90 * time.Second }},
		{[]string{"-max-sessions", "-1", "-max-session-bytes", "-1", "-memory-budget", "-1", "-preconnect-budget", "-1"}, func(c *config.Config) {
			l := &c.Options.Limits
			l.MaxPersistentSessions, l.MaxSessionBytes, l.MemoryBudget, l.PreConnectBudget = -1, -1, -1, -1
		}},
		{[]string{"-max-session-bytes", "512KiB", "-memory-budget", "1GiB", "-max-connect-size", "1MiB", "-preconnect-budget", "100000"}, func(c *config.Config) {
			l := &c.Options.Limits
			l.MaxSessionBytes, l.MemoryBudget, l.MaxConnectSize, l.PreConnectBudget = 512<<10, 1<<30, 1<<20, 100000
		}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			got, err := parseArgs(tc.args)
			if tc.edit == nil {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			want := config.Default()
			tc.edit(want)
			requireSameConfig(t, want, got.cfg)
		})
	}
}

func requireSameConfig(t *testing.T, want, got *config.Config) {
	t.Helper()
	require.Equal(t, want.Options, got.Options)
	require.Equal(t, want.Auth, got.Auth)
	require.Equal(t, want.HTTP, got.HTTP)
	require.Equal(t, want.Log, got.Log)
	require.Equal(t, want.ShutdownTimeout, got.ShutdownTimeout)
	require.Equal(t, want.Pprof, got.Pprof)
}

func TestHelpAndVersion(t *testing.T) {
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, run([]string{"-h"}, &stdout, &stderr))
	require.Empty(t, stderr.String())
	require.Contains(t, stdout.String(), "Usage: loom [flags]")
	require.Contains(t, stdout.String(), "-listen address")
	require.Contains(t, stdout.String(), "(default 168h)")

	stdout.Reset()
	require.Equal(t, 0, run([]string{"-version"}, &stdout, &stderr))
	require.Empty(t, stderr.String())
	// A test binary carries no commit.
	require.Regexp(t, `^loom \S+ \(go1\.\d+\S*, commit unknown\)\n$`, stdout.String())
}

func TestFormatVersion(t *testing.T) {
	rev := []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "abc1234def5678"}}
	for _, tc := range []struct {
		settings []debug.BuildSetting
		want     string
	}{
		{nil, "loom 0.1.0 (go1.26.8, commit unknown)"},
		{rev, "loom 0.1.0 (go1.26.8, commit abc1234)"},
		{append(rev, debug.BuildSetting{Key: "vcs.modified", Value: "false"}), "loom 0.1.0 (go1.26.8, commit abc1234)"},
		{append(rev, debug.BuildSetting{Key: "vcs.modified", Value: "true"}), "loom 0.1.0 (go1.26.8, commit abc1234+dirty)"},
	} {
		require.Equal(t, tc.want, formatVersion("0.1.0", "go1.26.8", tc.settings))
	}
}

// versionRE is the shape of -version's line.
var versionRE = regexp.MustCompile(`^loom \S+ \(go1\.\d+\S*, commit ([0-9a-f]{7}(\+dirty)?|unknown)\)$`)

// lst is listeners at these addresses, as -listen makes them.
func lst(addrs ...string) []loom.Listener {
	ls := make([]loom.Listener, len(addrs))
	for i, a := range addrs {
		ls[i] = loom.Listener{Address: a}
	}
	return ls
}
