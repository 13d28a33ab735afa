package config

import (
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
)

// populated is a configuration with every field a file can hold set, none
// to its default.
func populated(t *testing.T) *Config {
	pki := loomtest.NewPKI(t)
	dir := t.TempDir()
	ledgerFile := filepath.Join(dir, "ledger.yaml")
	require.NoError(t, os.WriteFile(ledgerFile, []byte("auth:\n  - {username: a, password: b, allow: true}\n"), 0o600))
	c := Default()
	c.Options = loom.Options{
		Listeners: []loom.Listener{
			{ID: "one", Address: "tcp://127.0.0.1:0", Proxy: true, MaxClients: 7, ConnectRate: 1.5, ConnectBurst: 3},
			{ID: "two", Address: "wss://[::1]:0/mqtt", MaxFrame: 4096, Origins: []string{"https://a.example", "*"},
				TLS: &loom.TLS{CertFile: pki.CertFile, KeyFile: pki.KeyFile, ClientCAFile: pki.CAFile, Username: loom.UsernameFromSAN}},
			{Address: "unix://" + filepath.Join(dir, "loom.sock")},
			{Address: "tcp6://[::1]:0"},
		},
		Handshakes:        9,
		HandshakeTimeout:  3 * time.Second,
		Loops:             3,
		MaxConnections:    1000,
		DataDir:           filepath.Join(dir, "data"),
		Sync:              loom.SyncAlways,
		SyncInterval:      7 * time.Millisecond,
		RefuseDamagedLog:  true,
		StoreCacheSize:    16 << 20,
		StoreMemTableSize: 3 << 20,
		Limits: loom.Limits{
			MaxPacketSize: 2 << 20, MaxConnectSize: 32 << 10, PreConnectBudget: -1, ConnectTimeout: 5 * time.Second,
			MaxInflight: 100, ReceiveMaximum: 200, MaxQueued: 300, MaxSessionBytes: 5 << 20, MemoryBudget: 100000,
			OutboundLimit: 1 << 20, IngestBacklog: 999, DisconnectOnQueueFull: true, QueueQoS0: true, InlineQueue: 77,
			MaxSessionExpiry: 90 * time.Minute, MaxPersistentSessions: -1, MaxMessageExpiry: 36 * time.Hour,
			TopicAliasMaximum: 10, MaxTopicAliasOut: -1, MaxClients: 5000, PublishRate: 12.5, PublishBurst: 20,
			PublishByteRate: 1 << 20, PublishByteBurst: 3 << 20, ServerKeepAlive: 60, CloseLinger: 1500 * time.Millisecond,
		},
		Capabilities: loom.Capabilities{MaxQoS: loom.MaxQoS1, DisableRetain: true, DisableWildcards: true,
			DisableSubscriptionIDs: true, DisableSharedSubscriptions: true, ResponseInformation: "responses/",
			Redirect: "other.example:1883", RedirectPermanent: true},
		SysInterval:    -1,
		RouterShards:   5,
		MatchCacheSize: 100,
		ReturnMemory:   false,
		AllowAnonymous: true,
	}
	c.Auth = Auth{LedgerFile: ledgerFile, HTTPAuth: "http://127.0.0.1:9/auth", HTTPACL: "https://127.0.0.1:9/acl"}
	c.HTTP = HTTP{Address: "0.0.0.0:8080", Token: "s3cret: with a colon", Username: "admin", Password: "#not a comment"}
	c.Log = Log{Level: slog.LevelDebug, Format: "json"}
	c.ShutdownTimeout = 2500 * time.Millisecond
	c.Pprof = "127.0.0.1:6060"
	return c
}

// Options → file → Options, YAML and JSON: the same configuration back.
func TestRoundTrip(t *testing.T) {
	c := populated(t)
	require.NoError(t, c.Check())
	requireEveryField(t, c)
	for _, name := range []string{"loom.yaml", "loom.json"} {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), name)
			require.NoError(t, c.WriteFile(file))
			fi, err := os.Stat(file)
			require.NoError(t, err)
			require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "it holds secrets")
			got, err := Load(file)
			if err != nil {
				data, _ := os.ReadFile(file)
				t.Fatalf("%v\n%s", err, data)
			}
			requireSame(t, c, got)
			require.Empty(t, Diff(c, got))
		})
	}
}

// A configuration of defaults writes nothing, and reads back as itself;
// memory, an inline ledger and Mosquitto's files go back and forth too.
func TestRoundTripOtherForms(t *testing.T) {
	out, err := Default().YAML()
	require.NoError(t, err)
	require.Empty(t, string(out))

	dir := t.TempDir()
	pw := filepath.Join(dir, "passwd")
	require.NoError(t, os.WriteFile(pw, []byte("alice:$2a$04$Fm1d.Z5OysfqBB.weQVMsurxHDspHygcFcU2i3J/yj1RgLBbW6WjG\n"), 0o600))
	acl := filepath.Join(dir, "acl")
	require.NoError(t, os.WriteFile(acl, []byte("user alice\ntopic readwrite a/#\n"), 0o600))
	for _, edit := range []func(c *Config){
		func(c *Config) { c.Options.DataDir = "" },
		func(c *Config) {
			c.Auth.Ledger = "auth:\n  - username: bob\n    password: builder\n    allow: true\nacl_default: allow\n"
		},
		func(c *Config) { c.Auth.PasswordFile, c.Auth.ACLFile = pw, acl },
		func(c *Config) { c.Options.Listeners = []loom.Listener{{Address: "tcp://127.0.0.1:1883"}} },
	} {
		c := Default()
		edit(c)
		require.NoError(t, c.Check())
		for _, form := range []func() ([]byte, error){c.YAML, c.JSON} {
			data, err := form()
			require.NoError(t, err)
			got, err := Parse("x", data)
			require.NoError(t, err, "%s", data)
			require.NoError(t, got.Check())
			requireSame(t, c, got)
		}
	}
}

// What a file cannot hold is refused by the writer, not lost.
func TestWriterRefusesWhatAFileCannotHold(t *testing.T) {
	c := Default()
	c.Options.Listeners = []loom.Listener{{Address: "tls://127.0.0.1:0", TLS: &loom.TLS{Config: nil}}}
	_, err := c.YAML()
	require.NoError(t, err)
	c.Options.Listeners[0].TLS.Config = (&loomtest.PKI{}).ClientTLS()
	_, err = c.YAML()
	require.ErrorContains(t, err, "tls.Config of its own")
	c = Default()
	c.Options.Authenticators = []loom.Authenticator{nil}
	_, err = c.JSON()
	require.ErrorContains(t, err, "Authenticators")
}

func requireSame(t *testing.T, want, got *Config) {
	t.Helper()
	require.Equal(t, want.Options, got.Options)
	require.Equal(t, want.Auth, got.Auth)
	require.Equal(t, want.HTTP, got.HTTP)
	require.Equal(t, want.Log, got.Log)
	require.Equal(t, want.ShutdownTimeout, got.ShutdownTimeout)
	require.Equal(t, want.Pprof, got.Pprof)
}

// requireEveryField fails when a field of the library's options (or of
// the configuration's own sections) is left at its zero value: a field
// added to loom.Options must be given a key, and a value here.
func requireEveryField(t *testing.T, c *Config) {
	t.Helper()
	skip := map[string]bool{"Options.Store": true, "Options.Authenticators": true, "Options.Logger": true,
		"Options.ReturnMemory": true,                                                                       // false is the value that differs from the file's default
		"TLS.Config":           true, "Auth.Ledger": true, "Auth.PasswordFile": true, "Auth.ACLFile": true} // one ledger at a time: TestRoundTripOtherForms
	var walk func(path string, v reflect.Value)
	walk = func(path string, v reflect.Value) {
		switch v.Kind() {
		case reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				f := v.Type().Field(i)
				if !f.IsExported() {
					continue
				}
				p := path + "." + f.Name
				if skip[p] || skip[v.Type().Name()+"."+f.Name] {
					continue
				}
				walk(p, v.Field(i))
			}
		case reflect.Slice:
			require.NotZero(t, v.Len(), path)
			seen := map[string]bool{}
			for i := 0; i < v.Len(); i++ {
				e := v.Index(i)
				if e.Kind() == reflect.Struct {
					for j := 0; j < e.NumField(); j++ {
						if f := e.Type().Field(j); f.IsExported() && !e.Field(j).IsZero() {
							seen[f.Name] = true
						}
					}
				}
			}
			if v.Type().Elem().Kind() == reflect.Struct {
				for j := 0; j < v.Type().Elem().NumField(); j++ {
					require.True(t, seen[v.Type().Elem().Field(j).Name], "%s: no item sets %s", path, v.Type().Elem().Field(j).Name)
				}
				for i := 0; i < v.Len(); i++ {
					if tl := v.Index(i).FieldByName("TLS"); tl.IsValid() && !tl.IsNil() {
						walk(path+".TLS", tl.Elem())
					}
				}
			}
		default:
			require.False(t, v.IsZero(), "%s is not set: does the file have a key for it?", path)
		}
	}
	walk("Config", reflect.ValueOf(*c))
}
