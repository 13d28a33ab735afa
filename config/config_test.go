package config

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
)

// badFile is a configuration that must be refused, and where.
type badFile struct {
	name       string
	file       string // loom.yaml, or loom.json
	text       string
	path       string // the key the error names
	line, col  int    // col 0: not checked
	says       string
	extraFiles map[string]string // written next to the file first
}

// The table the issue asks for: each bad file gives its named error with
// the file, line and column, and the key's path.
func TestBadFiles(t *testing.T) {
	pki := loomtest.NewPKI(t)
	cases := []badFile{
		{name: "unknown key, a near one suggested", text: "mqtt:\n  server_keepalive: 60s\n",
			path: "mqtt.server_keepalive", line: 2, col: 3, says: `unknown key "server_keepalive" (did you mean server_keep_alive?)`},
		{name: "unknown key of another section", text: "limits:\n  max_qos: 1\n",
			path: "limits.max_qos", line: 2, col: 3, says: "it belongs in mqtt.max_qos"},
		{name: "unknown key, nothing near", text: "colour: blue\n",
			path: "colour", line: 1, col: 1, says: `unknown key "colour" (the keys at the top: auth, http, limits`},
		{name: "unknown key in a listener", text: "listeners:\n  - type: tcp\n    adress: 127.0.0.1:0\n",
			path: "listeners[0].adress", line: 3, col: 5, says: "did you mean address?"},
		{name: "wrong type: text for a boolean", text: "mqtt:\n  retain: \"no\"\n",
			path: "mqtt.retain", line: 2, col: 11, says: `"no" is not true or false`},
		{name: "wrong type: a list for a section", text: "mqtt: [1, 2]\n",
			path: "mqtt", line: 1, col: 7, says: "is a list, not a section"},
		{name: "wrong type: text for a number", text: "limits:\n  max_queued: lots\n",
			path: "limits.max_queued", line: 2, col: 15, says: `"lots" is not a whole number`},
		{name: "wrong type: a mapping for a value", text: "log:\n  level: {x: 1}\n",
			path: "log.level", line: 2, col: 10, says: "is a mapping of keys, not a single value"},
		{name: "wrong type: listeners not a list", text: "listeners: 127.0.0.1:1883\n",
			path: "listeners", line: 1, col: 12, says: "is text, not a list"},
		{name: "bad QoS", text: "mqtt: {max_qos: 3}\n", path: "mqtt.max_qos", line: 1, col: 17, says: `"3" is not a QoS: 0, 1 or 2`},
		{name: "bad enum", text: "log: {format: xml}\n", path: "log.format", line: 1, col: 15, says: `"xml" is not text or json`},
		{name: "bad log level", text: "log: {level: loud}\n", path: "log.level", line: 1, col: 14, says: `"loud" is not a log level`},
		{name: "bad duration", text: "mqtt:\n  connect_timeout: soon\n",
			path: "mqtt.connect_timeout", line: 2, col: 20, says: `"soon" is not a duration`},
		{name: "duration without a unit", text: "mqtt:\n  server_keep_alive: 60\n",
			path: "mqtt.server_keep_alive", line: 2, col: 22, says: "give its unit (60s, 60m or 60h)"},
		{name: "keep alive past MQTT's", text: "mqtt:\n  server_keep_alive: 20h\n",
			path: "mqtt.server_keep_alive", line: 2, col: 22, says: "more than MQTT's 65535s"},
		{name: "bad size", text: "limits:\n  max_session_bytes: 16XB\n",
			path: "limits.max_session_bytes", line: 2, col: 22, says: `"16XB" is not a size (say 512KiB, 8MiB or 1GiB)`},
		{name: "negative where none is not", text: "limits:\n  max_queued: -1\n",
			path: "limits.max_queued", line: 2, col: 15, says: "-1 is negative"},
		{name: "zero read as the default", text: "limits:\n  memory_budget: 0\n",
			path: "limits.memory_budget", line: 2, col: 18, says: "0 is not taken (the broker would read it as the default, 64MiB): leave the key out for the default, or -1 for none"},
		{name: "too many loops", text: "server: {loops: 300}\n", path: "server.loops", line: 1, col: 17, says: "300 is more than 256"},
		{name: "a key twice", text: "mqtt:\n  retain: true\n  retain: false\n",
			path: "mqtt.retain", line: 3, col: 3, says: "given twice (first on line 2)"},
		{name: "YAML that does not parse", text: "mqtt:\n\tretain: true\n", line: 2, says: "found character that cannot start any token"},
		{name: "two documents", text: "mqtt: {}\n---\nlog: {}\n", line: 2, says: "a second document"},
		{name: "JSON, unknown key", file: "loom.json", text: "{\n  \"mqtt\": {\n    \"max_qos\": 1,\n    \"retained\": true\n  }\n}\n",
			path: "mqtt.retained", line: 4, col: 5, says: "did you mean retain?"},
		{name: "JSON with tabs, wrong type", file: "loom.json", text: "{\n\t\"limits\": {\"max_clients\": \"many\"}\n}\n",
			path: "limits.max_clients", line: 2, col: 28, says: `"many" is not a whole number`},
		{name: "not YAML or JSON by name", file: "loom.toml", text: "", says: "ends in .yaml, .yml or .json"},

		// addresses
		{name: "bad address", text: "listeners:\n  - type: tcp\n    address: localhost\n",
			path: "listeners[0].address", line: 3, col: 14, says: `"localhost" is not host:port`},
		{name: "bad port", text: "listeners:\n  - address: 127.0.0.1:99999\n",
			path: "listeners[0].address", line: 2, col: 14, says: `port "99999" is not a number from 0 to 65535`},
		{name: "bad host", text: "listeners:\n  - address: \"bad host:1883\"\n",
			path: "listeners[0].address", line: 2, col: 14, says: `"bad host" is not an IP address or a host name`},
		{name: "no address", text: "listeners:\n  - type: tcp\n", path: "listeners[0].address", line: 2, col: 5, says: "every listener needs an address"},
		{name: "bad type", text: "listeners:\n  - type: udp\n    address: 127.0.0.1:0\n",
			path: "listeners[0].type", line: 2, col: 11, says: `"udp" is not tcp, tls, ws, wss, unix, tcp4 or tcp6`},
		{name: "scheme against type", text: "listeners:\n  - type: tcp\n    address: tls://127.0.0.1:0\n",
			path: "listeners[0].address", line: 3, col: 14, says: "says tls:// and the type says tcp"},
		{name: "socket without its folder", text: "listeners:\n  - type: unix\n    address: /no/such/folder/loom.sock\n",
			path: "listeners[0].address", line: 3, col: 14, says: "there is no folder /no/such/folder"},
		{name: "HTTP address", text: "http: {address: nowhere}\n", path: "http.address", line: 1, col: 17, says: `"nowhere" is not host:port`},
		{name: "pprof off loopback", text: "pprof: 0.0.0.0:6060\n", path: "pprof", line: 1, col: 8, says: "not a loopback address"},

		// certificates
		{name: "missing certificate file", text: "listeners:\n  - type: tcp\n    address: 127.0.0.1:0\n  - type: tls\n    address: 127.0.0.1:0\n    tls:\n      cert: certs/x.pem\n      key: " + pki.KeyFile + "\n",
			path: "listeners[1].tls.cert", line: 7, col: 13, says: "open certs/x.pem: no such file or directory"},
		{name: "missing key file", text: "listeners:\n  - type: wss\n    address: 127.0.0.1:0/mqtt\n    tls: {cert: " + pki.CertFile + ", key: /nonexistent/key.pem}\n",
			path: "listeners[0].tls.key", line: 4, says: "open /nonexistent/key.pem: no such file or directory"},
		{name: "key of another certificate", text: "listeners:\n  - type: tls\n    address: 127.0.0.1:0\n    tls:\n      cert: " + pki.CertFile + "\n      key: " + pki.CAFile + "\n",
			path: "listeners[0].tls.cert", line: 5, col: 13, says: pki.CertFile + " and " + pki.CAFile},
		{name: "no certificate", text: "listeners:\n  - type: tls\n    address: 127.0.0.1:0\n    tls: {key: " + pki.KeyFile + "}\n",
			path: "listeners[0].tls.cert", line: 4, col: 5, says: "missing: a TLS listener needs a certificate"},
		{name: "TLS listener without tls", text: "listeners:\n  - type: tls\n    address: 127.0.0.1:0\n",
			path: "listeners[0]", line: 2, col: 5, says: "a tls listener needs tls: {cert: ..., key: ...}"},
		{name: "client CA that is no certificate", text: "listeners:\n  - type: tls\n    address: 127.0.0.1:0\n    tls:\n      cert: " + pki.CertFile + "\n      key: " + pki.KeyFile + "\n      client_ca: " + pki.KeyFile + "\n",
			path: "listeners[0].tls.client_ca", line: 7, col: 18, says: "no PEM certificate in"},
		{name: "username without client CA", text: "listeners:\n  - type: tls\n    address: 127.0.0.1:0\n    tls:\n      cert: " + pki.CertFile + "\n      key: " + pki.KeyFile + "\n      username: cn\n",
			path: "listeners[0].tls.username", line: 7, col: 17, says: "needs tls.client_ca"},

		// conflicting listeners
		{name: "same address twice", text: "listeners:\n  - address: 127.0.0.1:1883\n  - address: 127.0.0.1:1883\n",
			path: "listeners[1].address", line: 3, col: 14, says: "tcp://127.0.0.1:1883 is given twice (listeners[0] too)"},
		{name: "same id twice", text: "listeners:\n  - {id: a, address: 127.0.0.1:0}\n  - {id: a, address: 127.0.0.1:0, type: ws}\n",
			path: "listeners[1].id", line: 3, col: 10, says: `"a" is listeners[0]'s id too`},
		{name: "the same port on every interface", text: "listeners:\n  - address: 127.0.0.1:1883\n  - {type: ws, address: \":1883/mqtt\"}\nauth: {allow_anonymous: true}\n",
			path: "listeners[1].address", line: 3, col: 25, says: "takes the port of listeners[0]"},
		{name: "tls settings on a tcp listener", text: "listeners:\n  - type: tcp\n    address: 127.0.0.1:0\n    tls:\n      cert: " + pki.CertFile + "\n",
			path: "listeners[0].tls", line: 4, col: 5, says: "tls settings on a tcp listener: say type: tls"},
		{name: "origins on a tcp listener", text: "listeners:\n  - address: 127.0.0.1:0\n    origins: [https://a.example]\n",
			path: "listeners[0].origins", line: 3, col: 14, says: "only ws and wss listeners take web origins"},
		{name: "PROXY on a socket", text: "listeners:\n  - {type: unix, address: /tmp/loom-config-test.sock, proxy: true}\n",
			path: "listeners[0].proxy", line: 2, col: 62, says: "a Unix socket takes no PROXY header"},
		{name: "empty listeners", text: "listeners: []\n", path: "listeners", line: 1, col: 12, says: "empty: leave the key out"},
		{name: "exposed without auth", text: "listeners:\n  - address: 0.0.0.0:1883\n",
			path: "listeners[0].address", line: 2, col: 14, says: "tcp://0.0.0.0:1883 is reachable from the network and no client would be authenticated"},

		// ledgers
		{name: "bad ledger file", text: "listeners:\n  - address: 0.0.0.0:0\nauth:\n  ledger_file: ledger.yaml\n",
			extraFiles: map[string]string{"ledger.yaml": "auth:\n  - username: alice\n    allow: maybe\n"},
			path:       "auth.ledger_file", line: 4, col: 16, says: "ledger.yaml:3: "},
		{name: "missing ledger file", text: "auth:\n  ledger_file: none.yaml\n",
			path: "auth.ledger_file", line: 2, col: 16, says: "open none.yaml: no such file or directory"},
		{name: "bad inline ledger", text: "auth:\n  ledger:\n    auth:\n      - username: alice\n        allow: maybe\n",
			path: "auth.ledger", line: 5, col: 9, says: `allow: want true or false, got "maybe"`},
		{name: "inline ledger not a mapping", text: "auth:\n  ledger: [a]\n", path: "auth.ledger", line: 2, col: 11, says: "not a ledger"},
		{name: "two ledgers", text: "auth:\n  ledger_file: a.yaml\n  password_file: p\n", path: "auth.password_file", line: 3, col: 18, says: "give one ledger"},
		{name: "bad Mosquitto password file", text: "auth:\n  password_file: passwd\n", extraFiles: map[string]string{"passwd": "alice\n"},
			path: "auth.password_file", line: 2, col: 18, says: "passwd:1"},
		{name: "HTTP auth that is no URL", text: "auth: {http_auth: ftp://x}\n", path: "auth.http_auth", line: 1, col: 19, says: "not an http:// or https:// URL"},

		// settings that need another
		{name: "memory with a data folder", text: "storage:\n  memory: true\n  data_dir: /var/lib/loom\n",
			path: "storage.data_dir", line: 3, col: 13, says: "has no use with storage.memory: true"},
		{name: "data folder that is a file", text: "storage: {data_dir: plain}\n", extraFiles: map[string]string{"plain": "x"},
			path: "storage.data_dir", line: 1, col: 21, says: "plain is a file, not a folder"},
		{name: "connect size past packet size", text: "mqtt: {max_packet_size: 4KiB}\nlimits: {max_connect_size: 8KiB}\n",
			path: "limits.max_connect_size", line: 2, col: 28, says: "8KiB is more than the largest packet, mqtt.max_packet_size (4KiB)"},
		{name: "burst without rate", text: "limits: {publish_burst: 10}\n", path: "limits.publish_burst", line: 1, col: 25, says: "has no use without limits.publish_rate"},
		{name: "HTTP off loopback without auth", text: "http: {address: 0.0.0.0:8080}\n", path: "http.address", line: 1, col: 17, says: "is reachable from the network: set http.token"},
		{name: "HTTP user with a colon", text: "http: {address: 127.0.0.1:0, username: \"a:b\", password: c}\n", path: "http.username", line: 1, col: 40, says: "has no ':' in it"},
		{name: "HTTP user without password", text: "http: {address: 127.0.0.1:0, username: admin}\n", path: "http.username", line: 1, col: 40, says: "needs both"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir)
			for name, text := range tc.extraFiles {
				require.NoError(t, os.WriteFile(name, []byte(text), 0o600))
			}
			file := tc.file
			if file == "" {
				file = "loom.yaml"
			}
			require.NoError(t, os.WriteFile(file, []byte(tc.text), 0o600))
			_, err := Load(file)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.says)
			var e *Error
			require.ErrorAs(t, err, &e, "%v", err)
			// The fault asked about, among all those found.
			for _, one := range unjoin(err) {
				var oe *Error
				if errors.As(one, &oe) && strings.Contains(one.Error(), tc.says) {
					e = oe
				}
			}
			require.Equal(t, file, e.File)
			require.Equal(t, tc.path, e.Path)
			require.Equal(t, tc.line, e.Line, "%v", err)
			if tc.col > 0 {
				require.Equal(t, tc.col, e.Column, "%v", err)
			}
			want := file
			if tc.line > 0 {
				want += ":" + strconv.Itoa(tc.line)
			}
			require.True(t, strings.HasPrefix(e.Error(), want+":"), "%q should start with %q", e.Error(), want)
		})
	}
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// All the faults of a file are reported together, each at its place.
func TestEveryFaultReported(t *testing.T) {
	_, err := Parse("loom.yaml", []byte("mqtt:\n  retain: maybe\n  max_qos: 9\nlimits:\n  colour: red\n"))
	require.Error(t, err)
	msg := err.Error()
	require.Contains(t, msg, "loom.yaml:2:11: mqtt.retain:")
	require.Contains(t, msg, "loom.yaml:3:12: mqtt.max_qos:")
	require.Contains(t, msg, "loom.yaml:5:3: limits.colour:")
}

// An empty file, or one of comments only, is every default.
func TestEmptyFileIsTheDefaults(t *testing.T) {
	for _, text := range []string{"", "# nothing\n", "{}\n", "---\n"} {
		c, err := Parse("loom.yaml", []byte(text))
		require.NoError(t, err, text)
		require.Equal(t, Default().Options, c.Options, text)
		require.Equal(t, Default().Log, c.Log)
		require.Equal(t, 10*time.Second, c.ShutdownTimeout)
	}
}

// A flag's value is blamed on the flag, not on the file.
func TestSetSource(t *testing.T) {
	c, err := Parse("loom.yaml", []byte("listeners:\n  - type: tls\n    address: 127.0.0.1:0\n    tls: {cert: a.pem, key: b.pem}\n"))
	require.NoError(t, err)
	err = c.Check()
	require.ErrorContains(t, err, "loom.yaml:4:17: listeners[0].tls.cert: open a.pem")

	c.Options.Listeners[0].TLS.CertFile = "/nonexistent/flag.pem"
	c.SetSource("listeners[0].tls.cert", "-tls-cert")
	err = c.Check()
	require.ErrorContains(t, err, "-tls-cert: open /nonexistent/flag.pem: no such file or directory")
	require.ErrorContains(t, err, "loom.yaml:4:29: listeners[0].tls.key: open b.pem", "the key still comes from the file")

	// A section's flag covers the keys under it, but for those a flag
	// of their own set.
	c.SetSource("listeners", "-listen")
	sources := map[string]string{}
	for _, err := range unjoin(c.Check()) {
		var e *Error
		require.ErrorAs(t, err, &e)
		sources[e.Path] = e.Source
	}
	require.Equal(t, map[string]string{"listeners[0].tls.cert": "-tls-cert", "listeners[0].tls.key": "-listen"}, sources)
}

// What the binary's flags give: a configuration without a file.
func TestDefaultWithoutAFile(t *testing.T) {
	c := Default()
	require.NoError(t, c.Check())
	c.Options.Listeners = []loom.Listener{{Address: "tcp://0.0.0.0:1883"}}
	c.SetSource("listeners", "-listen")
	err := c.Check()
	require.EqualError(t, err, "-listen: tcp://0.0.0.0:1883 is reachable from the network and no client would be authenticated: "+
		"configure authentication (auth.ledger_file, auth.password_file, auth.http_auth, or client certificates with tls.client_ca), or accept anonymous clients with auth.allow_anonymous")
	c.Options.AllowAnonymous = true
	require.NoError(t, c.Check())
}

func TestGoodFile(t *testing.T) {
	pki := loomtest.NewPKI(t)
	dir := t.TempDir()
	ledgerFile := filepath.Join(dir, "ledger.yaml")
	require.NoError(t, os.WriteFile(ledgerFile, []byte("auth:\n  - username: alice\n    password: secret\n    allow: true\nacl_default: allow\n"), 0o600))
	file := filepath.Join(dir, "loom.yaml")
	require.NoError(t, os.WriteFile(file, []byte(`
listeners:
  - id: plain
    address: 0.0.0.0:0
    max_clients: 100
    connect_rate: 2.5
  - id: secure
    type: tls
    address: "[::1]:0"
    tls: &tls
      cert: `+pki.CertFile+`
      key: `+pki.KeyFile+`
      client_ca: `+pki.CAFile+`
      username: san
  - {id: web, type: wss, address: "localhost:0/ws", tls: *tls, origins: ["https://a.example"], max_frame: 64KiB}
  - {type: unix, address: `+filepath.Join(dir, "loom.sock")+`}
auth:
  ledger_file: `+ledgerFile+`
storage: {data_dir: `+filepath.Join(dir, "data")+`, sync: always}
mqtt:
  server_keep_alive: 60s
  max_qos: 1
  wildcards: false
  max_session_expiry: -1
limits:
  max_session_bytes: 16MiB
  publish_rate: 100
  publish_byte_rate: 64KiB
log: {level: warn, format: json}
shutdown_timeout: 3s
`), 0o600))
	c, err := Load(file)
	require.NoError(t, err)
	o := c.Options
	require.Len(t, o.Listeners, 4)
	require.Equal(t, loom.Listener{ID: "plain", Address: "tcp://0.0.0.0:0", MaxClients: 100, ConnectRate: 2.5}, o.Listeners[0])
	require.Equal(t, "tls://[::1]:0", o.Listeners[1].Address)
	require.Equal(t, &loom.TLS{CertFile: pki.CertFile, KeyFile: pki.KeyFile, ClientCAFile: pki.CAFile, Username: "san"}, o.Listeners[1].TLS)
	require.Equal(t, "wss://localhost:0/ws", o.Listeners[2].Address)
	require.Equal(t, o.Listeners[1].TLS, o.Listeners[2].TLS, "an alias is the anchor's value")
	require.NotSame(t, o.Listeners[1].TLS, o.Listeners[2].TLS)
	require.Equal(t, 64<<10, o.Listeners[2].MaxFrame)
	require.Equal(t, "unix://"+filepath.Join(dir, "loom.sock"), o.Listeners[3].Address)
	require.Equal(t, loom.SyncAlways, o.Sync)
	require.Equal(t, uint16(60), o.Limits.ServerKeepAlive)
	require.Equal(t, loom.MaxQoS1, o.Capabilities.MaxQoS)
	require.True(t, o.Capabilities.DisableWildcards)
	require.False(t, o.Capabilities.DisableRetain)
	require.Equal(t, time.Duration(-1), o.Limits.MaxSessionExpiry)
	require.Equal(t, int64(16<<20), o.Limits.MaxSessionBytes)
	require.Equal(t, 100.0, o.Limits.PublishRate)
	require.Equal(t, int64(64<<10), o.Limits.PublishByteRate)
	require.Equal(t, "json", c.Log.Format)
	require.Equal(t, 3*time.Second, c.ShutdownTimeout)
	require.NotNil(t, c.LedgerRules())
	require.True(t, c.LedgerRules().Authenticate("alice", "alice", "127.0.0.1:1", []byte("secret")))

	// And it builds a broker that starts.
	srv, err := loom.New(o)
	require.NoError(t, err)
	hooks, err := c.AddHooks(srv)
	require.NoError(t, err)
	require.NotNil(t, hooks.Ledger)
	require.Nil(t, hooks.HTTP)
	require.NoError(t, srv.Start())
	require.NoError(t, srv.Close(t.Context()))
}

func TestInlineLedger(t *testing.T) {
	c, err := Parse("loom.yaml", []byte("auth:\n  ledger:\n    auth_default: deny\n    auth:\n      - {username: bob, password: builder, allow: true}\n"))
	require.NoError(t, err)
	require.NoError(t, c.Check())
	require.True(t, c.LedgerRules().Authenticate("c", "bob", "127.0.0.1:1", []byte("builder")))
	require.False(t, c.LedgerRules().Authenticate("c", "eve", "127.0.0.1:1", []byte("builder")))
	require.Equal(t, []string{"loom.yaml:5 auth.ledger: username bob"}, c.PlainTextRules())
}
