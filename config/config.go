package config

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/hooks/ledger"
)

// Config is a configuration file read: the library's Options, and what the
// binary (or an embedder that wants the same) builds around the server —
// authentication hooks from files, the HTTP listener, the log, the time a
// stop may take.
type Config struct {
	// Options are what loom.New takes. Logger, Store and Authenticators are
	// never set by a file: the embedder's code gives them.
	Options loom.Options
	Auth    Auth
	HTTP    HTTP
	Log     Log
	// ShutdownTimeout bounds a stop: the listeners, telling v5 clients,
	// closing the store. Default 10s.
	ShutdownTimeout time.Duration
	// Pprof is a loopback host:port to serve Go's profiles on; "" for none.
	Pprof string

	file    string              // the name errors give
	pos     map[string]position // where each key's value is in the file
	sources map[string]string   // paths whose values a flag set, and the flag
	lfiles  []*listenerFile     // the listeners list while reading or writing
	memory  bool                // storage.memory, until finish
	inline  *yaml.Node          // auth.ledger as the file had it
	rules   *ledger.Ledger      // the ledger Check read
	digests map[string]string   // what Check read: file name → its contents' hash
}

// Auth is the auth section: the files and URLs authentication hooks are
// made from (AddHooks). Options.AllowAnonymous is auth.allow_anonymous.
type Auth struct {
	// LedgerFile is a ledger (hooks/ledger): Loom's YAML or JSON, or
	// Mochi MQTT's file.
	LedgerFile string
	// Ledger is a ledger written in the configuration itself (auth.ledger),
	// as YAML text in Loom's format; not with LedgerFile.
	Ledger string
	// PasswordFile and ACLFile are Mosquitto's files; not with a ledger.
	PasswordFile, ACLFile string
	// HTTPAuth and HTTPACL are URLs an HTTP backend answers on
	// (hooks/httpauth).
	HTTPAuth, HTTPACL string
}

// HTTP is the HTTP listener's section (package admin): "" Address for
// none.
type HTTP struct {
	Address            string
	Token              string
	Username, Password string
}

// Log is the log section.
type Log struct {
	Level  slog.Level
	Format string // text or json
}

// Default is the configuration of an empty file: the library's defaults,
// but as the binary runs — a data folder (loom-data, in the working
// directory) rather than memory, and ReturnMemory on (an embedder that
// shares its process may say return_memory: false) — with a text log at
// INFO and a 10s shutdown.
func Default() *Config {
	return &Config{
		Options:         loom.Options{DataDir: "loom-data", ReturnMemory: true},
		Log:             Log{Level: slog.LevelInfo, Format: "text"},
		ShutdownTimeout: 10 * time.Second,
	}
}

// Load reads the file at path (YAML, or JSON when it ends in .json) and
// checks it whole (Check): certificate and ledger files are read. Every
// error is an *Error naming the file, line and column, and the key; all
// the faults found are returned together (errors.Join).
func Load(path string) (*Config, error) {
	c, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	if err := c.Check(); err != nil {
		return nil, err
	}
	return c, nil
}

// ReadFile reads the file at path without Check: what the file says, its
// form and its values' types and ranges checked, but no file it names read
// yet. The binary uses it to apply its flags before checking.
func ReadFile(path string) (*Config, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml", ".json":
	default:
		return nil, &Error{File: path, Err: errors.New("a configuration file ends in .yaml, .yml or .json")}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// yamlLine finds the line in the YAML parser's errors ("yaml: line 4: ...").
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// Parse reads a configuration from data, YAML or JSON (JSON is YAML), name
// being the file it came from, for errors. Like ReadFile, it does not
// Check.
func Parse(name string, data []byte) (*Config, error) {
	c := Default()
	c.file, c.pos = name, map[string]position{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return c, nil // an empty file: every default
		}
		e := &Error{File: name, Err: err}
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			e.Line, _ = strconv.Atoi(m[1])
			e.Err = errors.New(strings.TrimPrefix(err.Error(), m[0]))
		}
		return nil, e
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return nil, &Error{File: name, Line: more.Line, Err: errors.New("a second document (---): the configuration is one")}
	}
	if len(doc.Content) == 0 {
		return c, nil
	}
	d := &decoder{c: c}
	root := doc.Content[0]
	if root.ShortTag() == "!!null" {
		return c, nil // only comments
	}
	d.section("", root, schema(), c)
	if len(d.errs) == 0 {
		d.finish()
	}
	if len(d.errs) > 0 {
		return nil, errors.Join(d.errs...)
	}
	return c, nil
}

// Name is the file the configuration was read from ("" for none).
func (c *Config) Name() string { return c.file }

// SetSource says that the value at path (a key's path such as
// listeners[0].tls.cert, or a section's, for all under it) was set by
// source, a command-line flag: Check's errors about it name the flag
// rather than the file.
func (c *Config) SetSource(path, source string) {
	if c.sources == nil {
		c.sources = map[string]string{}
	}
	c.sources[path] = source
}

// LedgerRules is the ledger Check read, from auth.ledger_file, auth.ledger
// or Mosquitto's files; nil when there is none or Check has not run.
func (c *Config) LedgerRules() *ledger.Ledger { return c.rules }

// Authenticates reports whether the configuration names something that
// authenticates clients: a ledger, Mosquitto's password file or an HTTP
// backend (client certificates are a listener's: see Check).
func (c *Config) Authenticates() bool {
	a := c.Auth
	return a.LedgerFile != "" || a.Ledger != "" || a.PasswordFile != "" || a.ACLFile != "" || a.HTTPAuth != ""
}

// Handler is the log handler the log section describes, writing to w at
// level (a *slog.LevelVar lets SIGHUP change it).
func (l Log) Handler(w io.Writer, level slog.Leveler) slog.Handler {
	o := &slog.HandlerOptions{Level: level}
	if l.Format == "json" {
		return slog.NewJSONHandler(w, o)
	}
	return slog.NewTextHandler(w, o)
}
