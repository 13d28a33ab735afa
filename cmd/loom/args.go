package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/loom-mqtt/loom"
)

// config is a command line, checked. run creates, opens and binds nothing
// before it has one: a command line that is wrong leaves no trace.
type config struct {
	help, version bool

	listens       []loom.Listener // at least one
	loops         int             // 0: one per CPU
	level         slog.Level
	memory        bool
	dataDir       string // "" with memory
	sync          loom.SyncPolicy
	refuseDamaged bool
	pprof         string // "" for off
	maxExpiry     time.Duration
	maxSessions   int
	sessionBytes  int64
	budget        int64
	maxConnect    int
	preBudget     int
	// allowAnonymous: listeners off loopback may take clients nobody
	// authenticates (exposure.go).
	allowAnonymous bool
	auth           authConfig // auth.go
}

const (
	defaultListen = "127.0.0.1:1883"
	// maxLoops is gnet's ceiling: it numbers its loops in one byte and
	// quietly runs 256 when asked for more, while the broker would still
	// split its pre-CONNECT budget over the number asked.
	maxLoops = 256
	// maxConnectSize is the broker's largest packet (session.Options'
	// default MaxPacketSize, which the binary does not change); the broker
	// would lower a larger -max-connect-size to it.
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
	listens                                        listFlag
	loops                                          int
	level, dataDir, sync, pprof                    string
	memory, refuseDamaged, version, allowAnonymous bool
	maxExpiry                                      durationFlag
	maxSessions                                    int
	sessionBytes, budget, maxConnect, preConnectB  sizeFlag
	auth                                           authFlags
	tls                                            tlsFlags
	wsOrigins                                      string
}

// newFlagSet defines loom's flags on a fresh set; its output is discarded
// (run prints usage and errors itself).
func newFlagSet() (*flag.FlagSet, *flags) {
	f := &flags{maxExpiry: durationFlag(7 * 24 * time.Hour), sessionBytes: 4 << 20, budget: 64 << 20,
		maxConnect: 64 << 10, preConnectB: 8 << 20}
	fs := flag.NewFlagSet("loom", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Var(&f.listens, "listen", "`address` to serve: host:port, tcp://host:port, tls://host:port, ws://host:port[/path], wss://host:port[/path] or unix:///path; ?proxy at the end for a PROXY protocol header first (repeatable; default "+defaultListen+")")
	fs.StringVar(&f.tls.cert, "tls-cert", "", "certificate `file` (PEM) of the tls:// and wss:// listeners")
	fs.StringVar(&f.tls.key, "tls-key", "", "key `file` (PEM) of the tls:// and wss:// listeners")
	fs.StringVar(&f.tls.clientCA, "tls-client-ca", "", "CA `file` (PEM): tls:// and wss:// clients must present a certificate it signed (mutual TLS)")
	fs.StringVar(&f.wsOrigins, "ws-origins", "", "comma-separated web `origins` (https://app.example.com) whose pages may connect to the ws:// and wss:// listeners; others get HTTP 403 (default: any)")
	fs.StringVar(&f.tls.username, "tls-username", "", "take each client's username from its certificate: `cn` or san (needs -tls-client-ca)")
	fs.IntVar(&f.loops, "loops", 0, fmt.Sprintf("`n` event loops, 1 to %d (default: one per CPU)", maxLoops))
	fs.StringVar(&f.level, "log-level", "info", "`level` of the log: debug, info, warn or error")
	fs.StringVar(&f.dataDir, "data-dir", "loom-data", "`folder` that keeps persistent sessions, subscriptions and retained messages (created if missing)")
	fs.BoolVar(&f.memory, "memory", false, "keep nothing on disk (not with -data-dir, -sync or -refuse-damaged-log)")
	fs.StringVar(&f.sync, "sync", "interval", "when the store syncs to disk, a `policy`: always, interval or none")
	fs.BoolVar(&f.refuseDamaged, "refuse-damaged-log", false, "do not start when a write-ahead log in the data folder is damaged (data past the damage would be lost); default: start and log an ERROR")
	fs.StringVar(&f.pprof, "pprof", "", "serve Go's profiles on this loopback `address` (127.0.0.1:port), for measuring; off by default")
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

// parseArgs reads and checks a command line (without the program name).
// It creates nothing; the only system calls it makes are the stats of
// -data-dir and of a Unix socket's folder. Every error is a *usageError
// naming the flag at fault.
func parseArgs(args []string) (config, error) {
	fs, f := newFlagSet()
	var bad error
	fs.VisitAll(func(fl *flag.Flag) { fl.Value = &reporting{Value: fl.Value, name: fl.Name, bad: &bad} })
	if err := fs.Parse(args); err != nil {
		switch {
		case errors.Is(err, flag.ErrHelp):
			return config{help: true}, nil
		case bad != nil:
			return config{}, bad
		}
		return config{}, flagPackageError(err)
	}
	if fs.NArg() > 0 {
		return config{}, argumentError(fs, args)
	}
	if f.version {
		return config{version: true}, nil
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	return f.check(set)
}

// check turns the raw values into a config; set holds the flags the
// command line gave.
func (f *flags) check(set map[string]bool) (config, error) {
	c := config{memory: f.memory, refuseDamaged: f.refuseDamaged, pprof: f.pprof}

	raw := []string(f.listens)
	if len(raw) == 0 {
		raw = []string{defaultListen}
	}
	seen := map[string]bool{}
	for _, l := range raw {
		norm, proxy, err := parseListen(l)
		if err != nil {
			return config{}, &usageError{"-listen", err.Error()}
		}
		// Port 0 twice is two free ports; anything else twice would make the
		// broker fail on its own first listener.
		if seen[norm] && !strings.HasSuffix(norm, ":0") {
			return config{}, usagef("-listen", "%s is given twice", l)
		}
		seen[norm] = true
		c.listens = append(c.listens, loom.Listener{Address: norm, Proxy: proxy})
	}
	if err := f.tls.apply(c.listens); err != nil {
		return config{}, err
	}
	if err := applyOrigins(f.wsOrigins, c.listens); err != nil {
		return config{}, err
	}

	if set["loops"] && (f.loops < 1 || f.loops > maxLoops) {
		return config{}, usagef("-loops", "%d is not a number of event loops (1 to %d; leave -loops out for one per CPU)", f.loops, maxLoops)
	}
	c.loops = f.loops

	if err := c.level.UnmarshalText([]byte(f.level)); err != nil {
		return config{}, usagef("-log-level", "%q is not a log level (debug, info, warn or error)", f.level)
	}

	if f.memory {
		for _, name := range []string{"data-dir", "sync", "refuse-damaged-log"} {
			if set[name] {
				return config{}, usagef("-"+name, "has no use with -memory, which keeps nothing on disk: give one or the other")
			}
		}
	} else {
		p, err := loom.ParseSync(f.sync)
		if err != nil {
			return config{}, usagef("-sync", "%q is not a sync policy (always, interval or none)", f.sync)
		}
		c.sync = p
		if err := checkDataDir(f.dataDir); err != nil {
			return config{}, &usageError{"-data-dir", err.Error()}
		}
		c.dataDir = f.dataDir
	}

	if f.pprof != "" {
		if err := checkLoopback(f.pprof); err != nil {
			return config{}, &usageError{"-pprof", err.Error()}
		}
	}

	// The broker reads 0 in these limits as "the default": refused, not
	// silently replaced. Negative means no bound, as documented.
	if f.maxExpiry == 0 {
		return config{}, usagef("-max-session-expiry", "0 is not taken (the broker would read it as the default, 168h): give a duration such as 1h, or -1 for no maximum")
	}
	c.maxExpiry = time.Duration(f.maxExpiry)
	if f.maxSessions == 0 {
		return config{}, usagef("-max-sessions", "0 is not taken (the broker would read it as the default, 10000): give a number of sessions, or -1 for no limit")
	}
	c.maxSessions = f.maxSessions
	for _, s := range []struct {
		name string
		v    sizeFlag
		def  string
	}{{"max-session-bytes", f.sessionBytes, "4MiB"}, {"memory-budget", f.budget, "64MiB"}, {"preconnect-budget", f.preConnectB, "8MiB"}} {
		if s.v == 0 {
			return config{}, usagef("-"+s.name, "0 is not taken (the broker would read it as the default, %s): give a size such as 16MiB, or -1 for no bound", s.def)
		}
	}
	c.sessionBytes, c.budget, c.preBudget = int64(f.sessionBytes), int64(f.budget), int(f.preConnectB)
	if f.maxConnect <= 0 || f.maxConnect > maxConnectSize {
		return config{}, usagef("-max-connect-size", "%s is not a packet size from 1 byte to 1MiB (the largest packet the broker takes)", f.maxConnect.String())
	}
	c.maxConnect = int(f.maxConnect)
	c.allowAnonymous = f.allowAnonymous
	auth, err := f.auth.check()
	if err != nil {
		return config{}, err
	}
	c.auth = auth
	if err := c.checkExposure(); err != nil {
		return config{}, err
	}
	return c, nil
}

// checkDataDir refuses an empty name and a name taken by something that
// is not a folder. A folder that does not exist yet is fine: the store
// creates it.
func checkDataDir(dir string) error {
	if dir == "" {
		return errors.New("no folder given")
	}
	fi, err := os.Stat(dir)
	switch {
	case err == nil && !fi.IsDir():
		return fmt.Errorf("%s is a file, not a folder", dir)
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return err
	}
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
	if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil && n < 0 {
		*d = -1
		return nil
	}
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("%q is not a duration (say 90s, 12h or 168h; -1 for none)", s)
	}
	*d = durationFlag(v)
	return nil
}

// usage prints how to run loom and every flag with its default.
func usage(w io.Writer) {
	fs, _ := newFlagSet()
	fs.SetOutput(w)
	fmt.Fprintln(w, "Usage: loom [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Loom is an MQTT 3.1.1 and 5 broker. With no flags it serves 127.0.0.1:1883 to")
	fmt.Fprintln(w, "anonymous clients and keeps its data in ./loom-data.")
	fmt.Fprintln(w)
	fs.PrintDefaults()
}
