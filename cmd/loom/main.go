// Command loom runs the Loom MQTT broker.
//
//	go run ./cmd/loom                      # 127.0.0.1:1883, anonymous clients, data in ./loom-data
//	go run ./cmd/loom -config loom.yaml    # every setting from a file (loom.example.yaml shows them all)
//	go run ./cmd/loom -config loom.yaml -check-config   # check it and exit: 0, or 2 with the faults
//	go run ./cmd/loom -listen 0.0.0.0:1883 -allow-anonymous -listen unix:///run/loom.sock
//	go run ./cmd/loom -h                   # the flags
//	go run ./cmd/loom -version             # loom 0.1.0-dev (go1.26.8, commit abc1234)
//	go run ./cmd/loom -listen 0.0.0.0:1883 -auth ledger.yaml    # users and ACLs from a file
//	echo -n secret | go run ./cmd/loom passwd                   # a bcrypt hash for a ledger
//	loom health http://127.0.0.1:8080/healthz                    # exit 0 if the HTTP listener says the process is up
//
// The binary is a thin wrapper over package config, which reads the file
// and builds the library's Options and the auth hooks. The command line and
// the file are checked whole before anything is created, opened or bound
// (args.go): a wrong one exits with status 2 and a message naming the flag,
// or the file, line and key; a start that fails afterwards exits with
// status 1, its log line saying what to do where it can (listen.go: hint).
// SIGHUP reads the configuration again, SIGTERM and SIGINT stop the broker
// within shutdown_timeout (signals.go).
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/admin"
	"github.com/loom-mqtt/loom/config"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole program: it checks the command line and the
// configuration first, and a wrong one exits with status 2 before
// anything is created, opened or bound. It returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "passwd":
			return passwd(os.Stdin, stdout, stderr) // auth.go
		case "health":
			return health(args[1:], stdout, stderr) // health.go
		}
	}
	cmd, err := parseArgs(args)
	switch {
	case err != nil:
		for _, e := range unjoin(err) {
			fmt.Fprintf(stderr, "loom: %v\n", e)
		}
		return 2
	case cmd.help:
		usage(stdout)
		return 0
	case cmd.version:
		fmt.Fprintln(stdout, versionLine())
		return 0
	case cmd.check:
		what := "the command line"
		if cmd.file != "" {
			what = cmd.file
		}
		fmt.Fprintf(stdout, "loom: %s: the configuration is valid\n", what)
		return 0
	}
	return serve(cmd, stderr)
}

// serve runs the broker cmd describes until a signal stops it.
func serve(cmd command, stderr io.Writer) int {
	cfg := cmd.cfg
	var level slog.LevelVar // SIGHUP sets it again
	level.Set(cfg.Log.Level)
	log := slog.New(cfg.Log.Handler(stderr, &level))
	slog.SetDefault(log)
	fail := func(msg string, err error, args ...any) int {
		args = append(args, "err", err)
		if h := hint(err); h != "" {
			args = append(args, "hint", h)
		}
		log.Error(msg, args...)
		return 1
	}
	if cmd.file != "" {
		log.Info("configuration", "file", cmd.file)
	}

	// Before New: the connection cap is what the limit leaves.
	if n, err := loom.RaiseFileLimit(); err != nil {
		log.Warn("could not raise the open-file limit", "err", err)
	} else {
		log.Debug("open-file limit", "n", n)
	}

	// A port or socket that is taken fails here, before the data folder is
	// created; the listeners bind for real once the store is restored.
	listens := cfg.Options.Listeners
	if len(listens) == 0 {
		l, _ := config.ParseListen(defaultListen)
		listens = []loom.Listener{l}
	}
	if cfg.HTTP.Address != "" {
		listens = append(listens, loom.Listener{Address: "tcp://" + cfg.HTTP.Address})
	}
	if err := probeListeners(listens); err != nil {
		return fail("cannot listen", err)
	}

	if cfg.Pprof != "" {
		a, err := servePprof(cfg.Pprof, log)
		if err != nil {
			log.Error("cannot serve profiles", "err", err, "hint", "pick another address with -pprof, or leave it out")
			return 1
		}
		log.Info("profiles", "url", "http://"+a+"/debug/pprof/")
	} else {
		// Nobody can read a heap profile: stop sampling allocations for
		// one. Its table of call stacks alone is 1.4 MiB of address space,
		// partly resident, which a small gateway need not pay for.
		runtime.MemProfileRate = 0
	}

	// Catch signals before the listeners open: a signal that arrives once
	// clients can connect must stop the broker cleanly (or reload it), not
	// kill it.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sig)

	opts := cfg.Options
	opts.Logger = log
	srv, err := loom.New(opts)
	switch {
	case err != nil && opts.DataDir == "":
		return fail("cannot start", err)
	case err != nil:
		// The configuration was checked whole (args.go): New fails on the
		// store, not on its options.
		return fail("cannot open the data folder", err, "dir", opts.DataDir)
	}
	if opts.DataDir != "" {
		log.Info("data folder", "dir", opts.DataDir, "sync", opts.Sync.String())
	}
	hooks, err := cfg.AddHooks(srv)
	if err != nil {
		_ = srv.Close(context.Background())
		return fail("cannot start", err)
	}
	logAuth(log, cfg)
	// The HTTP listener is built before the broker starts, so that its
	// options fail the start rather than a broker already serving, and
	// listens once the broker does: its /readyz answers for a broker that
	// is up. It closes after the broker (signals.go: shutdown), so that
	// /readyz says "draining" while the broker stops.
	var api *admin.Server
	if h := cfg.HTTP; h.Address != "" {
		if api, err = admin.New(srv, admin.Options{Address: h.Address, Token: h.Token, Username: h.Username, Password: h.Password, Logger: log}); err != nil {
			_ = srv.Close(context.Background())
			return fail("cannot start", err)
		}
	}
	if err := srv.Start(); err != nil {
		_ = srv.Close(context.Background())
		return fail("cannot start", err)
	}
	for _, a := range srv.Addrs() {
		log.Info("listening", "addr", a.String())
	}
	if api != nil {
		if err := api.Start(); err != nil {
			_ = srv.Close(context.Background())
			return fail("cannot serve the HTTP API", err)
		}
	}
	return wait(cmd, config.NewRunning(srv, cfg, hooks, &level), api, sig, log) // signals.go
}

// logAuth says what authenticates clients, and warns once of passwords in
// plain text.
func logAuth(log *slog.Logger, cfg *config.Config) {
	if rules := cfg.PlainTextRules(); len(rules) > 0 {
		log.Warn("passwords in plain text: hash them with 'loom passwd'", "rules", strings.Join(rules, ", "))
	}
	if l := cfg.LedgerRules(); l != nil {
		log.Info("authentication", "ledger", l.Name())
	}
	if a := cfg.Auth; a.HTTPAuth != "" || a.HTTPACL != "" {
		log.Info("authentication", "http-auth", a.HTTPAuth, "http-acl", a.HTTPACL)
	}
}
