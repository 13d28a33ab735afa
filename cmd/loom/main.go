// Command loom runs the Loom MQTT broker.
//
//	go run ./cmd/loom                      # 127.0.0.1:1883, anonymous clients, data in ./loom-data
//	go run ./cmd/loom -listen 0.0.0.0:1883 -allow-anonymous -listen unix:///run/loom.sock
//	go run ./cmd/loom -h                   # the flags
//	go run ./cmd/loom -version             # loom 0.1.0-dev (go1.26.8, commit abc1234)
//	go run ./cmd/loom -listen 0.0.0.0:1883 -auth ledger.yaml    # users and ACLs from a file
//	echo -n secret | go run ./cmd/loom passwd                   # a bcrypt hash for a ledger
//	loom health http://127.0.0.1:8080/healthz                    # exit 0 if the HTTP listener says the process is up
//
// The command line is checked whole before anything is created, opened or
// bound (args.go): a wrong one exits with status 2 and a message naming the
// flag; a start that fails afterwards exits with status 1, its log line
// saying what to do where it can (listen.go: hint).
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/loom-mqtt/loom"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole program: it checks the command line first, and a
// command line that is wrong exits with status 2 before anything is
// created, opened or bound. It returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "passwd":
			return passwd(os.Stdin, stdout, stderr) // auth.go
		case "health":
			return health(args[1:], stdout, stderr) // health.go
		}
	}
	cfg, err := parseArgs(args)
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "loom: %v\n", err)
		return 2
	case cfg.help:
		usage(stdout)
		return 0
	case cfg.version:
		fmt.Fprintln(stdout, versionLine())
		return 0
	}
	return serve(cfg, stderr)
}

// serve runs the broker cfg describes until a signal stops it.
func serve(cfg config, stderr io.Writer) int {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.level}))
	slog.SetDefault(log)
	fail := func(msg string, err error, args ...any) int {
		args = append(args, "err", err)
		if h := hint(err); h != "" {
			args = append(args, "hint", h)
		}
		log.Error(msg, args...)
		return 1
	}

	// Before New: the connection cap is what the limit leaves.
	if n, err := loom.RaiseFileLimit(); err != nil {
		log.Warn("could not raise the open-file limit", "err", err)
	} else {
		log.Debug("open-file limit", "n", n)
	}

	// A port or socket that is taken fails here, before the data folder is
	// created; the listeners bind for real once the store is restored.
	if err := probeListeners(cfg.listens); err != nil {
		return fail("cannot listen", err)
	}

	if cfg.pprof != "" {
		a, err := servePprof(cfg.pprof, log)
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
	// clients can connect must stop the broker cleanly, not kill it.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)

	opts := loom.Options{Listeners: cfg.listens, Loops: cfg.loops, Logger: log, ReturnMemory: true, AllowAnonymous: cfg.allowAnonymous,
		Limits: loom.Limits{MaxSessionExpiry: cfg.maxExpiry, MaxPersistentSessions: cfg.maxSessions,
			MaxSessionBytes: cfg.sessionBytes, MemoryBudget: cfg.budget,
			MaxConnectSize: cfg.maxConnect, PreConnectBudget: cfg.preBudget}}
	if !cfg.memory {
		opts.DataDir, opts.Sync, opts.RefuseDamagedLog = cfg.dataDir, cfg.sync, cfg.refuseDamaged
	}
	srv, err := loom.New(opts)
	switch {
	case err != nil && cfg.memory:
		return fail("cannot start", err)
	case err != nil:
		// The command line was checked whole (args.go): New fails on the
		// store, not on its options.
		return fail("cannot open the data folder", err, "dir", cfg.dataDir)
	}
	if !cfg.memory {
		log.Info("data folder", "dir", cfg.dataDir, "sync", cfg.sync.String())
	}
	if err := addAuthHooks(srv, cfg.auth, log); err != nil { // auth.go
		_ = srv.Close(context.Background())
		return fail("cannot start", err)
	}
	if err := srv.Start(); err != nil {
		_ = srv.Close(context.Background())
		return fail("cannot start", err)
	}
	for _, a := range srv.Addrs() {
		log.Info("listening", "addr", a.String())
	}

	select {
	case s := <-sig:
		log.Info("shutting down", "signal", s.String())
		if err := srv.Close(context.Background()); err != nil {
			log.Error("shutdown", "err", err)
			return 1
		}
		return 0
	case err := <-srv.Done():
		log.Error("listeners stopped", "err", err)
		_ = srv.Close(context.Background())
		return 1
	}
}
