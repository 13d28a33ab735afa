package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
)

// -check-config: 0 and a line on standard output for a good file, 2 and
// every fault (file:line:column: key: what) for a bad one; nothing is
// created either way.
func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	writeFile(t, "good.yaml", "listeners:\n  - address: 127.0.0.1:0\nlog: {level: debug}\n")
	writeFile(t, "good.json", `{"listeners": [{"type": "ws", "address": "127.0.0.1:0/mqtt"}], "storage": {"memory": true}}`)
	writeFile(t, "bad.yaml", "mqtt:\n  server_keepalive: 60s\nlimits:\n  max_queued: lots\n")

	for _, good := range []string{"good.yaml", "good.json"} {
		var stdout, stderr bytes.Buffer
		require.Equal(t, 0, run([]string{"-config", good, "-check-config"}, &stdout, &stderr), stderr.String())
		require.Equal(t, "loom: "+good+": the configuration is valid\n", stdout.String())
		require.Empty(t, stderr.String())
	}

	var stdout, stderr bytes.Buffer
	require.Equal(t, 2, run([]string{"-config", "bad.yaml", "-check-config"}, &stdout, &stderr))
	require.Empty(t, stdout.String())
	require.Equal(t, `loom: bad.yaml:2:3: mqtt.server_keepalive: unknown key "server_keepalive" (did you mean server_keep_alive?)`+"\n"+
		`loom: bad.yaml:4:15: limits.max_queued: "lots" is not a whole number`+"\n", stderr.String())

	// A flag that fixes nothing in the file does not hide its faults; one
	// of its own is named as the flag.
	stderr.Reset()
	require.Equal(t, 2, run([]string{"-config", "good.yaml", "-check-config", "-listen", "0.0.0.0:0"}, &stdout, &stderr))
	require.True(t, strings.HasPrefix(stderr.String(), "loom: -listen: tcp://0.0.0.0:0 is reachable from the network"), stderr.String())

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 3, "checking created something")

	// The binary itself, for scripts.
	out, err := exec.Command(buildLoom(t), "-config", "bad.yaml", "-check-config").CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	require.Equal(t, 2, exit.ExitCode())
	require.Contains(t, string(out), "bad.yaml:4:15: limits.max_queued")
	require.NoError(t, exec.Command(buildLoom(t), "-config", "good.json", "-check-config").Run())
}

// The flags given win over the file; the flags left out leave it alone.
func TestFlagsOverrideTheFile(t *testing.T) {
	pki := loomtest.NewPKI(t)
	dir := t.TempDir()
	t.Chdir(dir)
	writeFile(t, "loom.yaml", `
listeners:
  - {id: plain, address: 127.0.0.1:0}
  - {id: secure, type: tls, address: 127.0.0.1:0, tls: {cert: missing.pem, key: `+pki.KeyFile+`}}
storage: {data_dir: from-file, sync: none}
log: {level: debug, format: json}
limits: {max_session_bytes: 1MiB, max_queued: 50}
shutdown_timeout: 4s
`)
	_, err := parseArgs([]string{"-config", "loom.yaml"})
	require.ErrorContains(t, err, "loom.yaml:4:63: listeners[1].tls.cert: open missing.pem: no such file or directory")

	c, err := parseArgs([]string{"-config", "loom.yaml", "-tls-cert", pki.CertFile, "-log-level", "warn", "-max-session-bytes", "2MiB", "-shutdown-timeout", "1s"})
	require.NoError(t, err)
	cfg := c.cfg
	require.Equal(t, pki.CertFile, cfg.Options.Listeners[1].TLS.CertFile, "-tls-cert wins")
	require.Equal(t, pki.KeyFile, cfg.Options.Listeners[1].TLS.KeyFile, "the file's key stays")
	require.Equal(t, "WARN", cfg.Log.Level.String(), "-log-level wins")
	require.Equal(t, "json", cfg.Log.Format, "the file's format stays")
	require.Equal(t, int64(2<<20), cfg.Options.Limits.MaxSessionBytes, "-max-session-bytes wins")
	require.Equal(t, 50, cfg.Options.Limits.MaxQueued, "the file's max_queued stays")
	require.Equal(t, time.Second, cfg.ShutdownTimeout)
	require.Equal(t, "from-file", cfg.Options.DataDir, "-data-dir's default does not replace the file's folder")

	c, err = parseArgs([]string{"-config", "loom.yaml", "-listen", "127.0.0.1:0", "-memory"})
	require.NoError(t, err, "the file's TLS listener is replaced, its bad certificate with it")
	require.Len(t, c.cfg.Options.Listeners, 1)
	require.Empty(t, c.cfg.Options.DataDir, "-memory wins, and takes the file's storage keys with it")
}

// The log as JSON: one object a line, the broker's events among them.
func TestBinaryJSONLog(t *testing.T) {
	b := startLoom(t, "-memory", "-listen", "127.0.0.1:0", "-log-format", "json")
	_, m := b.waitLine(0, `"msg":"listening","addr":"([^"]+)"`)
	c := loomtest.Dial(t, m[1], proto.V5)
	c.Connect("json", nil)
	b.signal(syscall.SIGTERM)
	code, _ := b.exit(20 * time.Second)
	require.Equal(t, 0, code)
	log, n := b.log()
	require.Greater(t, n, 2)
	for _, line := range strings.Split(log, "\n") {
		var obj map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &obj), line)
		require.Contains(t, obj, "msg")
		require.Contains(t, obj, "level")
	}
}

// SIGHUP, the acceptance test: a certificate replaced on disk is served
// to the next TLS client while one already connected stays; a user taken
// out of the ledger can no longer connect while one already connected
// stays; the log level changes; what needs a restart is said in a WARN;
// a file with faults changes nothing. Then SIGTERM: a v5 client is told
// DISCONNECT 0x8B, and the process exits 0 within shutdown_timeout.
func TestBinaryReloadAndStop(t *testing.T) {
	old, renewed := loomtest.NewPKI(t), loomtest.NewPKI(t)
	dir := t.TempDir()
	t.Chdir(dir)
	copyFile(t, old.CertFile, "cert.pem")
	copyFile(t, old.KeyFile, "key.pem")
	users := func(names ...string) string {
		s := "acl_default: allow\nauth:\n"
		for _, n := range names {
			s += "  - {username: " + n + ", password: pw-" + n + ", allow: true}\n"
		}
		return s
	}
	writeFile(t, "ledger.yaml", users("alice", "bob"))
	conf := func(level string, extra string) string {
		return "listeners:\n" +
			"  - {id: plain, address: 127.0.0.1:0}\n" +
			"  - {id: secure, type: tls, address: 127.0.0.1:0, tls: {cert: cert.pem, key: key.pem}}\n" +
			"auth: {ledger_file: ledger.yaml}\n" +
			"storage: {memory: true}\n" +
			"log: {level: " + level + "}\n" +
			"shutdown_timeout: 6s\n" + extra
	}
	writeFile(t, "loom.yaml", conf("info", ""))
	b := startLoom(t, "-config", "loom.yaml")
	addrs := b.addrs(2)
	plain, secure := addrs[0], addrs[1]

	login := func(who string) func(*proto.Connect) {
		return func(p *proto.Connect) {
			p.UsernameFlag, p.Username, p.PasswordFlag, p.Password = true, []byte(who), true, []byte("pw-"+who)
		}
	}
	dialTLS := func(pki *loomtest.PKI) (*loomtest.Client, *tls.Conn) {
		nc, err := tls.Dial("tcp", secure, pki.ClientTLS())
		require.NoError(t, err)
		return loomtest.Over(t, nc, proto.V5), nc
	}
	// A failed handshake is logged at debug level only.
	handshakeLogged := func() bool {
		nc, err := tls.Dial("tcp", secure, &tls.Config{ServerName: "localhost", RootCAs: loomtest.NewPKI(t).Pool})
		if err == nil {
			_ = nc.Close()
			t.Fatal("a client trusting another CA completed a handshake")
		}
		time.Sleep(200 * time.Millisecond)
		log, _ := b.log()
		return strings.Contains(log, "reactor: TLS handshake")
	}

	tlsAlice, tlsConn := dialTLS(old)
	tlsAlice.Connect("tls-alice", login("alice"))
	require.Equal(t, leaf(t, old.CertFile), tlsConn.ConnectionState().PeerCertificates[0].Raw)
	bob := loomtest.Dial(t, plain, proto.V5)
	bob.Connect("bob", login("bob"))
	require.False(t, handshakeLogged(), "debug lines at level info")

	// Renew the certificate, take bob out, raise the log level, and change
	// something only a restart applies.
	copyFile(t, renewed.CertFile, "cert.pem")
	copyFile(t, renewed.KeyFile, "key.pem")
	writeFile(t, "ledger.yaml", users("alice"))
	writeFile(t, "loom.yaml", conf("debug", "limits: {max_queued: 500}\n"))
	_, n := b.log()
	b.signal(syscall.SIGHUP)
	_, m := b.waitLine(n, `level=INFO msg=reloaded changed="(.*)"`)
	require.Contains(t, m[1], "listeners[1].tls.cert: cert.pem changed")
	require.Contains(t, m[1], "listeners[1].tls.key: key.pem changed")
	require.Contains(t, m[1], "auth.ledger_file: ledger.yaml changed")
	require.Contains(t, m[1], "log.level: info → debug")
	_, m = b.waitLine(n, `level=WARN msg="reload: these changes take effect only at the next start" changes="(.*)"`)
	require.Equal(t, "limits.max_queued: 10000 → 500", m[1])

	// The next TLS client gets the renewed certificate; the first is
	// still connected.
	tlsNext, nextConn := dialTLS(renewed)
	tlsNext.Connect("tls-alice-2", login("alice"))
	require.Equal(t, leaf(t, renewed.CertFile), nextConn.ConnectionState().PeerCertificates[0].Raw)
	tlsAlice.Ping()

	// bob is refused now [MQTT-3.1.4-2], the bob already connected stays.
	again := loomtest.Dial(t, plain, proto.V5)
	again.Send(&proto.Connect{Version: proto.V5, CleanStart: true, ClientID: []byte("bob-2"),
		UsernameFlag: true, Username: []byte("bob"), PasswordFlag: true, Password: []byte("pw-bob")})
	require.Equal(t, proto.BadUserNameOrPassword, loomtest.Expect[*proto.Connack](again).Reason)
	bob.Ping()

	// Debug lines now.
	require.True(t, handshakeLogged(), "no debug line after the level was raised")

	// A file with faults: logged, nothing changed.
	writeFile(t, "loom.yaml", conf("info", "mqtt: {retain: maybe}\n"))
	_, n = b.log()
	b.signal(syscall.SIGHUP)
	_, m = b.waitLine(n, `level=ERROR msg="reload refused: the configuration has faults; nothing changed" faults="(.*)"`)
	require.Contains(t, m[1], `loom.yaml:8:16: mqtt.retain: \"maybe\" is not true or false`)
	c := loomtest.Dial(t, plain, proto.V5)
	c.Connect("after-bad-reload", login("alice"))
	tlsAlice.Ping()
	bob.Ping()

	// SIGTERM: every v5 client is told, and the process exits 0 in time.
	b.signal(syscall.SIGTERM)
	for _, cl := range []*loomtest.Client{tlsAlice, tlsNext, bob, c} {
		// [MQTT-3.14.0-1] [MQTT-3.14.2-1]
		require.Equal(t, proto.ServerShuttingDown, loomtest.Expect[*proto.Disconnect](cl).Reason)
	}
	code, took := b.exit(6*time.Second + 2*time.Second)
	require.Equal(t, 0, code)
	require.Less(t, took, 6*time.Second)
	b.waitLine(0, `msg=stopped`)
}

// leaf is the first certificate of a PEM file, as a TLS server sends it.
func leaf(t *testing.T, file string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Clean(file))
	require.NoError(t, err)
	p, _ := pem.Decode(data)
	require.NotNil(t, p)
	return p.Bytes
}

// The HTTP listener: started with the broker from -http or http.address,
// its token checked; the process stops cleanly with it.
func TestBinaryHTTP(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	writeFile(t, "loom.yaml", "storage: {memory: true}\nhttp: {address: \"0.0.0.0:0\", token: s3cret}\nlisteners: [{address: \"127.0.0.1:0\"}]\n")
	b := startLoom(t, "-config", "loom.yaml")
	b.addrs(1)
	_, m := b.waitLine(0, `msg="admin: HTTP API listening" address=(\S+)`)
	_, port, err := net.SplitHostPort(m[1])
	require.NoError(t, err)
	base := "http://127.0.0.1:" + port
	get := func(path, token string) int {
		req, err := http.NewRequest(http.MethodGet, base+path, nil)
		require.NoError(t, err)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusOK, get("/healthz", ""))
	require.Equal(t, http.StatusUnauthorized, get("/api/v1/stats", ""))
	require.Equal(t, http.StatusOK, get("/api/v1/stats", "s3cret"))
	require.Equal(t, http.StatusOK, get("/readyz", "s3cret"))
	b.signal(syscall.SIGTERM)
	code, _ := b.exit(20 * time.Second)
	require.Equal(t, 0, code)

	// -http on loopback needs no token.
	b = startLoom(t, "-memory", "-listen", "127.0.0.1:0", "-http", "127.0.0.1:0")
	_, m = b.waitLine(0, `msg="admin: HTTP API listening" address=(\S+)`)
	base = "http://" + m[1]
	require.Equal(t, http.StatusOK, get("/api/v1/stats", ""))
	b.signal(syscall.SIGINT)
	code, _ = b.exit(20 * time.Second)
	require.Equal(t, 0, code)
}
