package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/config"
)

// command is a command line, checked: what to do, and the configuration
// it gives — the file's (-config) or the defaults, with the flags given
// applied over it, checked whole. run creates, opens and binds nothing
// before it has one: a command line that is wrong leaves no trace.
type command struct {
	help, version bool
	check         bool   // -check-config: check and exit
	file          string // -config, "" for none
	cfg           *config.Config

	// The flags given, to apply again over the file when SIGHUP reads it.
	f   *flags
	set map[string]bool
}

const (
	defaultListen = "127.0.0.1:1883"
	// maxLoops is gnet's ceiling: it numbers its loops in one byte and
	// quietly runs 256 when asked for more, while the broker would still
	// split its pre-CONNECT budget over the number asked.
	maxLoops = 256
	// maxConnectSize is the broker's largest packet by default (1 MiB);
	// the broker would lower a larger -max-connect-size to it.
	maxConnectSize = 1 << 20
)

// usageError is a command line refused; flag is the flag at fault, with
// its dash, or "" when the fault is no flag's.
type usageError struct{ flag, msg string }

func (e *usageError) Error() string {
	if e.flag == "" {
		return e.msg
	}
	return e.flag + ": " + e.msg
}

func usagef(flag, format string, args ...any) error {
	return &usageError{flag: flag, msg: fmt.Sprintf(format, args...)}
}

// flags are the raw values of the command line, before checking.
type flags struct {
	configFile, logFormat, http                    string
	checkConfig                                    bool
	listens                                        listFlag
	loops                                          int
	level, dataDir, sync, pprof                    string
	memory, refuseDamaged, version, allowAnonymous bool
	maxExpiry, shutdownTimeout                     durationFlag
	maxSessions                                    int
	sessionBytes, budget, maxConnect, preConnectB  sizeFlag
	auth                                           authFlags
	tls                                            tlsFlags
	wsOrigins                                      string
}

// newFlagSet defines loom's flags on a fresh set; its output is discarded
// (run prints usage and errors itself). The defaults shown are the
// configuration's (an empty file's): a flag not given leaves the file's
// value alone.
func newFlagSet() (*flag.FlagSet, *flags) {
	f := &flags{maxExpiry: durationFlag(7 * 24 * time.Hour), sessionBytes: 4 << 20, budget: 64 << 20,
		maxConnect: 64 << 10, preConnectB: 8 << 20, shutdownTimeout: durationFlag(10 * time.Second)}
	fs := flag.NewFlagSet("loom", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.configFile, "config", "", "read the configuration from this `file`, YAML or JSON (loom.example.yaml shows every key); the flags given win over it")
	fs.BoolVar(&f.checkConfig, "check-config", false, "check the configuration (the file and the flags) and exit: status 0, or 2 with the faults")
	fs.Var(&f.listens, "listen", "`address` to serve: host:port, tcp://host:port, tls://host:port, ws://host:port[/path], wss://host:port[/path] or unix:///path; ?proxy at the end for a PROXY protocol header first (repeatable; replaces the file's listeners; default "+defaultListen+")")
	fs.StringVar(&f.tls.cert, "tls-cert", "", "certificate `file` (PEM) of the tls:// and wss:// listeners")
	fs.StringVar(&f.tls.key, "tls-key", "", "key `file` (PEM) of the tls:// and wss:// listeners")
	fs.StringVar(&f.tls.clientCA, "tls-client-ca", "", "CA `file` (PEM): tls:// and wss:// clients must present a certificate it signed (mutual TLS)")
	fs.StringVar(&f.wsOrigins, "ws-origins", "", "comma-separated web `origins` (https://app.example.com) whose pages may connect to the ws:// and wss:// listeners; others get HTTP 403 (default: any)")
	fs.StringVar(&f.tls.username, "tls-username", "", "take each client's username from its certificate: `cn` or san (needs -tls-client-ca)")
	fs.IntVar(&f.loops, "loops", 0, fmt.Sprintf("`n` event loops, 1 to %d (default: one per CPU)", maxLoops))
	fs.StringVar(&f.level, "log-level", "info", "`level` of the log: debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "text", "`format` of the log: text (key=value) or json (one object a line)")
	fs.StringVar(&f.dataDir, "data-dir", "loom-data", "`folder` that keeps persistent sessions, subscriptions and retained messages (created if missing)")
	fs.BoolVar(&f.memory, "memory", false, "keep nothing on disk (not with -data-dir, -sync or -refuse-damaged-log)")
	fs.StringVar(&f.sync, "sync", "interval", "when the store syncs to disk, a `policy`: always, interval or none")
	fs.BoolVar(&f.refuseDamaged, "refuse-damaged-log", false, "do not start when a write-ahead log in the data folder is damaged (data past the damage would be lost); default: start and log an ERROR")
	fs.StringVar(&f.pprof, "pprof", "", "serve Go's profiles on this loopback `address` (127.0.0.1:port), for measuring; off by default")
	fs.StringVar(&f.http, "http", "", "serve the HTTP API, metrics and dashboard on this `address` (host:port); off loopback the file must give http.token or http.username and http.password")
	fs.Var(&f.shutdownTimeout, "shutdown-timeout", "the longest a stop (SIGTERM, SIGINT) may take, a `duration`, before the process exits")
	fs.Var(&f.maxExpiry, "max-session-expiry", "longest a session outlives its connection, as a `duration` (90s, 12h, 168h; v5 clients are told in CONNACK); -1 for no maximum")
	fs.IntVar(&f.maxSessions, "max-sessions", 10000, "`n` persistent sessions kept, online or offline; past it new ones are turned down (v5: Session Expiry 0, 3.1.1: CONNACK 3); -1 for no limit")
	fs.Var(&f.sessionBytes, "max-session-bytes", "`size` of the messages one session may hold (512KiB, 8MiB, 1GiB), queued and in flight; past it its new messages are dropped; -1 for no bound")
	fs.Var(&f.budget, "memory-budget", "`size` the broker may hold for all subscribers together (queued, in flight, spooled); past it the largest holders are shed; -1 for no budget")
	fs.Var(&f.maxConnect, "max-connect-size", "`size` of the largest packet from a client that has not completed CONNECT (v5: CONNACK 0x95 past it; 3.1.1: closed); at most 1MiB, the largest packet")
	fs.Var(&f.preConnectB, "preconnect-budget", "`size` that clients which have not completed CONNECT may leave buffered, all together (split over the event loops); past it they are refused (v5: CONNACK 0x89, 3.1.1: CONNACK 3); -1 for no budget")
	fs.StringVar(&f.auth.ledgerFile, "auth", "", "a ledger `file` of users and ACLs: Loom's YAML or JSON, or Mochi MQTT's ledger unchanged")
	fs.StringVar(&f.auth.passwordFile, "password-file", "", "Mosquitto's password `file` (mosquitto_passwd's $6$ and $7$ hashes; bcrypt and plain text too)")
	fs.StringVar(&f.auth.aclFile, "acl-file", "", "Mosquitto's ACL `file` (user, topic, pattern lines)")
	fs.StringVar(&f.auth.httpAuth, "http-auth", "", "`URL` to POST each CONNECT's credentials to (JSON; the answer allows or denies)")
	fs.StringVar(&f.auth.httpACL, "http-acl", "", "`URL` to POST each publish and subscription to check (JSON)")
	fs.BoolVar(&f.allowAnonymous, "allow-anonymous", false, "accept clients nobody authenticates on listeners that are not loopback or Unix sockets (refused by default)")
	fs.BoolVar(&f.version, "version", false, "print the version and exit")
	return fs, f
}

// parseArgs reads and checks a command line (without the program name),
// and the configuration file it names. It creates nothing; the only system
// calls it makes read the files the configuration names, and stat the data
// folder and a Unix socket's folder. An error is a *usageError naming the
// flag at fault, or the configuration's errors naming the file, line and
// key.
func parseArgs(args []string) (command, error) {
	fs, f := newFlagSet()
	var bad error
	fs.VisitAll(func(fl *flag.Flag) { fl.Value = &reporting{Value: fl.Value, name: fl.Name, bad: &bad} })
	if err := fs.Parse(args); err != nil {
		switch {
		case errors.Is(err, flag.ErrHelp):
			return command{help: true}, nil
		case bad != nil:
			return command{}, bad
		}
		return command{}, flagPackageError(err)
	}
	if fs.NArg() > 0 {
		return command{}, argumentError(fs, args)
	}
	if f.version {
		return command{version: true}, nil
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if err := f.check(set); err != nil {
		return command{}, err
	}
	c := command{check: f.checkConfig, file: f.configFile, f: f, set: set}
	cfg, err := c.load()
	if err != nil {
		return command{}, err
	}
	c.cfg = cfg
	return c, nil
}

// load reads the configuration file (if any), applies the flags given over
// it and checks the whole; SIGHUP calls it again.
func (c *command) load() (*config.Config, error) {
	cfg := config.Default()
	if c.file != "" {
		var err error
		if cfg, err = config.ReadFile(c.file); err != nil {
			return nil, err
		}
	}
	if err := c.f.apply(cfg, c.set); err != nil {
		return nil, err
	}
	if err := cfg.Check(); err != nil {
		return nil, flagErrors(err)
	}
	return cfg, nil
}

// check refuses the flags' values that are wrong whatever the file says;
// set holds the flags the command line gave.
func (f *flags) check(set map[string]bool) error {
	if set["loops"] && (f.loops < 1 || f.loops > maxLoops) {
		return usagef("-loops", "%d is not a number of event loops (1 to %d; leave -loops out for one per CPU)", f.loops, maxLoops)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.level)); err != nil {
		return usagef("-log-level", "%q is not a log level (debug, info, warn or error)", f.level)
	}
	if f.logFormat != "text" && f.logFormat != "json" {
		return usagef("-log-format", "%q is not a log format (text or json)", f.logFormat)
	}
	if f.memory {
		for _, name := range []string{"data-dir", "sync", "refuse-damaged-log"} {
			if set[name] {
				return usagef("-"+name, "has no use with -memory, which keeps nothing on disk: give one or the other")
			}
		}
	}
	if _, err := loom.ParseSync(f.sync); err != nil {
		return usagef("-sync", "%q is not a sync policy (always, interval or none)", f.sync)
	}
	if set["data-dir"] && f.dataDir == "" {
		return usagef("-data-dir", "no folder given")
	}
	// The broker reads 0 in these limits as "the default": refused, not
	// silently replaced. Negative means no bound, as documented.
	if f.maxExpiry == 0 {
		return usagef("-max-session-expiry", "0 is not taken (the broker would read it as the default, 168h): give a duration such as 1h, or -1 for no maximum")
	}
	if f.maxSessions == 0 {
		return usagef("-max-sessions", "0 is not taken (the broker would read it as the default, 10000): give a number of sessions, or -1 for no limit")
	}
	for _, s := range []struct {
		name string
		v    sizeFlag
		def  string
	}{{"max-session-bytes", f.sessionBytes, "4MiB"}, {"memory-budget", f.budget, "64MiB"}, {"preconnect-budget", f.preConnectB, "8MiB"}} {
		if s.v == 0 {
			return usagef("-"+s.name, "0 is not taken (the broker would read it as the default, %s): give a size such as 16MiB, or -1 for no bound", s.def)
		}
	}
	if f.maxConnect <= 0 || f.maxConnect > maxConnectSize {
		return usagef("-max-connect-size", "%s is not a packet size from 1 byte to 1MiB (the largest packet the broker takes)", f.maxConnect.String())
	}
	if f.shutdownTimeout <= 0 {
		return usagef("-shutdown-timeout", "%s is not a time to wait (say 10s)", f.shutdownTimeout.String())
	}
	return f.auth.check()
}

// apply sets in cfg the values of the flags given (only those: a flag left
// out leaves the file's value), and marks them as the flags' for the
// errors of cfg.Check.
func (f *flags) apply(cfg *config.Config, set map[string]bool) error {
	o := &cfg.Options
	if set["listen"] {
		o.Listeners = nil
		for _, l := range f.listens {
			ll, err := config.ParseListen(l)
			if err != nil {
				return &usageError{"-listen", err.Error()}
			}
			o.Listeners = append(o.Listeners, ll)
		}
		cfg.SetSource("listeners", "-listen")
	} else if len(o.Listeners) == 0 && (f.tls.any() || f.wsOrigins != "") {
		ll, _ := config.ParseListen(defaultListen)
		o.Listeners = []loom.Listener{ll}
	}
	if err := f.tls.apply(cfg, set["listen"]); err != nil {
		return err
	}
	if err := applyOrigins(f.wsOrigins, cfg); err != nil {
		return err
	}
	for _, v := range []struct {
		flag, path string
		apply      func()
	}{
		{"loops", "server.loops", func() { o.Loops = f.loops }},
		{"log-level", "log.level", func() { _ = cfg.Log.Level.UnmarshalText([]byte(f.level)) }},
		{"log-format", "log.format", func() { cfg.Log.Format = f.logFormat }},
		{"data-dir", "storage.data_dir", func() { o.DataDir = f.dataDir }},
		{"sync", "storage.sync", func() { o.Sync, _ = loom.ParseSync(f.sync) }},
		{"refuse-damaged-log", "storage.refuse_damaged_log", func() { o.RefuseDamagedLog = f.refuseDamaged }},
		{"pprof", "pprof", func() { cfg.Pprof = f.pprof }},
		{"http", "http.address", func() { cfg.HTTP.Address = f.http }},
		{"shutdown-timeout", "shutdown_timeout", func() { cfg.ShutdownTimeout = time.Duration(f.shutdownTimeout) }},
		{"max-session-expiry", "mqtt.max_session_expiry", func() { o.Limits.MaxSessionExpiry = time.Duration(f.maxExpiry) }},
		{"max-sessions", "limits.max_sessions", func() { o.Limits.MaxPersistentSessions = f.maxSessions }},
		{"max-session-bytes", "limits.max_session_bytes", func() { o.Limits.MaxSessionBytes = int64(f.sessionBytes) }},
		{"memory-budget", "limits.memory_budget", func() { o.Limits.MemoryBudget = int64(f.budget) }},
		{"max-connect-size", "limits.max_connect_size", func() { o.Limits.MaxConnectSize = int(f.maxConnect) }},
		{"preconnect-budget", "limits.preconnect_budget", func() { o.Limits.PreConnectBudget = int(f.preConnectB) }},
		{"allow-anonymous", "auth.allow_anonymous", func() { o.AllowAnonymous = f.allowAnonymous }},
	} {
		if set[v.flag] {
			v.apply()
			cfg.SetSource(v.path, "-"+v.flag)
		}
	}
	if set["memory"] && f.memory {
		// Everything the file says of the disk goes with it.
		o.DataDir, o.Sync, o.SyncInterval, o.RefuseDamagedLog = "", loom.SyncInterval, 0, false
		o.StoreCacheSize, o.StoreMemTableSize = 0, 0
		cfg.SetSource("storage", "-memory")
	}
	f.auth.apply(cfg, set)
	return nil
}

// reporting wraps a flag's value to keep the first error its Set returns,
// phrased with the flag's name: the flag package's own phrasing ("invalid
// value "x" for flag -loops: parse error") says less.
type reporting struct {
	flag.Value
	name string
	bad  *error
}

func (r *reporting) Set(s string) error {
	err := r.Value.Set(s)
	if err != nil && *r.bad == nil {
		msg := err.Error()
		if g, ok := r.Value.(flag.Getter); ok {
			switch g.Get().(type) {
			case int:
				msg = fmt.Sprintf("%q is not a whole number", s)
			case bool:
				msg = fmt.Sprintf("%q is not true or false", s)
			}
		}
		*r.bad = &usageError{"-" + r.name, msg}
	}
	return err
}

func (r *reporting) IsBoolFlag() bool {
	b, ok := r.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// flagPackageError rephrases the flag package's errors that are not a
// value's: an unknown flag, a flag without its value.
func flagPackageError(err error) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		return usagef(name, "no such flag (loom -h lists them)")
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
		return usagef(name, "needs a value")
	}
	return &usageError{msg: msg}
}

// argumentError refuses the first argument that is not a flag. Loom takes
// none; the usual slip is a boolean flag written with a separate value
// (-memory true), which the flag package reads as -memory and an argument.
func argumentError(fs *flag.FlagSet, args []string) error {
	arg := fs.Arg(0)
	if i := len(args) - fs.NArg() - 1; i >= 0 {
		name := strings.TrimLeft(args[i], "-")
		if fl := fs.Lookup(name); fl != nil && !strings.Contains(name, "=") {
			if b, ok := fl.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
				return usagef("-"+name, "takes no separate value: write -%s or -%s=%s, not -%s %s", name, name, arg, name, arg)
			}
		}
	}
	return usagef("", "unexpected argument %q: loom takes flags only (loom -h lists them)", arg)
}

// listFlag is a flag given any number of times.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// durationFlag is a duration (90s, 12h, 168h); -1 alone, without a unit,
// is taken too, for the flags where negative means "none".
type durationFlag time.Duration

func (d *durationFlag) String() string {
	s := time.Duration(*d).String() // 168h0m0s
	if t, ok := strings.CutSuffix(s, "m0s"); ok && strings.HasSuffix(t, "h0") {
		return strings.TrimSuffix(t, "0")
	}
	if s != "0s" {
		s = strings.TrimSuffix(s, "0s")
	}
	return s
}

func (d *durationFlag) Set(s string) error {
	v, err := config.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration (say 90s, 12h or 168h; -1 for none)", s)
	}
	if v < 0 {
		v = -1
	}
	*d = durationFlag(v)
	return nil
}

// flagErrors rephrases the configuration's faults in values a flag set as
// that flag's, naming flags where the configuration names its keys; the
// file's faults stay as they are, naming the file, line and key.
func flagErrors(err error) error {
	var out []error
	for _, e := range unjoin(err) {
		var ce *config.Error
		if errors.As(e, &ce) && ce.Source != "" {
			out = append(out, &usageError{ce.Source, flagWords.Replace(ce.Err.Error())})
			continue
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}

// flagWords turns the configuration's keys in a message into the flags
// that set them; the longest keys come first, as the replacer takes the
// first that matches.
var flagWords = strings.NewReplacer(
	"storage.memory: true", "-memory",
	"auth.allow_anonymous", "-allow-anonymous",
	"auth.ledger_file", "-auth",
	"auth.password_file", "-password-file",
	"auth.acl_file", "-acl-file",
	"auth.http_auth", "-http-auth",
	"auth.http_acl", "-http-acl",
	"tls.client_ca", "-tls-client-ca",
	"tls.username", "-tls-username",
	"tls.cert", "-tls-cert",
	"tls.key", "-tls-key",
)

// unjoin is the errors errors.Join put together, or err alone.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// usage prints how to run loom and every flag with its default.
func usage(w io.Writer) {
	fs, _ := newFlagSet()
	fs.SetOutput(w)
	fmt.Fprintln(w, "Usage: loom [flags]")
	fmt.Fprintln(w, "       loom -config loom.yaml [flags]    (the flags given win over the file)")
	fmt.Fprintln(w, "       loom -config loom.yaml -check-config")
	fmt.Fprintln(w, "       loom passwd                       (a bcrypt hash of the password on standard input)")
	fmt.Fprintln(w, "       loom health [URL]                 (0 if a broker's HTTP listener answers /healthz)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Loom is an MQTT 3.1.1 and 5 broker. With no flags it serves 127.0.0.1:1883 to")
	fmt.Fprintln(w, "anonymous clients and keeps its data in ./loom-data. Every setting, and more,")
	fmt.Fprintln(w, "can live in a configuration file: loom.example.yaml holds every key.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Signals: SIGHUP reads the configuration again (TLS certificates, auth rules")
	fmt.Fprintln(w, "and the log level change while clients stay connected); SIGTERM and SIGINT")
	fmt.Fprintln(w, "stop it, telling v5 clients (DISCONNECT 0x8B), within -shutdown-timeout.")
	fmt.Fprintln(w)
	fs.PrintDefaults()
}
