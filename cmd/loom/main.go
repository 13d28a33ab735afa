// Command loom runs the Loom MQTT broker.
//
//	go run ./cmd/loom                      # 127.0.0.1:1883, anonymous clients, data in ./loom-data
//	go run ./cmd/loom -listen 0.0.0.0:1883 -listen unix:///run/loom.sock
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/persist"
	"github.com/loom-mqtt/loom/reactor"
	"github.com/loom-mqtt/loom/session"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	os.Exit(run())
}

func run() int {
	var listens listFlag
	flag.Var(&listens, "listen", "address to serve, host:port or unix:///path (repeatable; default 127.0.0.1:1883)")
	loops := flag.Int("loops", 0, "event loops (default: one per CPU)")
	level := flag.String("log-level", "info", "debug, info, warn or error")
	dataDir := flag.String("data-dir", "loom-data", "folder that keeps persistent sessions, subscriptions and retained messages")
	memory := flag.Bool("memory", false, "keep nothing on disk")
	syncMode := flag.String("sync", "interval", "when the store syncs to disk: always, interval or none")
	refuseDamaged := flag.Bool("refuse-damaged-log", false, "do not start when a write-ahead log in the data folder is damaged (data past the damage would be lost); default: start and log an ERROR")
	pprofAddr := flag.String("pprof", "", "serve Go's profiles on this loopback address (host:port), for measuring; off by default")
	maxExpiry := flag.Duration("max-session-expiry", 7*24*time.Hour, "longest a session outlives its connection (v5 clients are told in CONNACK); negative for no maximum")
	maxSessions := flag.Int("max-sessions", 10000, "persistent sessions kept, online or offline; past it new ones are turned down (v5: Session Expiry 0, 3.1.1: CONNACK 3); negative for no limit")
	sessionBytes, budget := sizeFlag(4<<20), sizeFlag(64<<20)
	flag.Var(&sessionBytes, "max-session-bytes", "bytes of messages one session may hold, queued and in flight; past it its new messages are dropped; negative for no bound")
	flag.Var(&budget, "memory-budget", "bytes the broker may hold for all subscribers together (queued, in flight, spooled); past it the largest holders are shed; negative for no budget")
	maxConnect := flag.Int("max-connect-size", 64<<10, "largest packet, in bytes, from a client that has not completed CONNECT (v5: CONNACK 0x95 past it; 3.1.1: closed); at most the maximum packet size")
	preBudget := flag.Int("preconnect-budget", 8<<20, "bytes that clients which have not completed CONNECT may leave buffered, all together (split over the event loops); past it they are refused (v5: CONNACK 0x89, 3.1.1: CONNACK 3); negative for no budget")
	flag.Parse()

	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintln(os.Stderr, "loom: -log-level:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lv}))
	slog.SetDefault(log)

	if len(listens) == 0 {
		listens = listFlag{"127.0.0.1:1883"}
	}
	for i, l := range listens {
		if !strings.Contains(l, "://") {
			listens[i] = "tcp://" + l
		}
	}
	if n, err := reactor.RaiseFileLimit(); err != nil {
		log.Warn("could not raise the open-file limit", "err", err)
	} else {
		log.Debug("open-file limit", "n", n)
	}

	if *pprofAddr != "" {
		a, err := servePprof(*pprofAddr, log)
		if err != nil {
			fmt.Fprintln(os.Stderr, "loom: -pprof:", err)
			return 2
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

	var store session.Store // stays nil (in memory) with -memory
	reserve := 0
	if !*memory {
		policy, err := persist.ParseSync(*syncMode)
		if err != nil {
			fmt.Fprintln(os.Stderr, "loom: -sync:", err)
			return 2
		}
		st, err := persist.Open(persist.Options{Dir: *dataDir, Sync: policy, Logger: log, RefuseDamagedLog: *refuseDamaged})
		if err != nil {
			log.Error("cannot open the data folder", "dir", *dataDir, "err", err)
			return 1
		}
		store = st
		// Pebble's files share the descriptor budget with the sockets.
		reserve = persist.DefaultMaxOpenFiles
		log.Info("data folder", "dir", *dataDir, "sync", policy.String())
	}

	srv := loom.New(loom.Options{Listeners: listens, Loops: *loops, Logger: log,
		ReserveFDs: reserve, Session: session.Options{Store: store,
			MaxSessionExpiry: *maxExpiry, MaxPersistentSessions: *maxSessions,
			MaxSessionBytes: int64(sessionBytes), MemoryBudget: int64(budget),
			MaxConnectSize: *maxConnect, PreConnectBudget: *preBudget}})
	if err := srv.Start(); err != nil {
		log.Error("cannot start", "err", err)
		srv.Close()
		return 1
	}
	for _, a := range srv.Addrs() {
		log.Info("listening", "addr", a.String())
	}

	select {
	case s := <-sig:
		log.Info("shutting down", "signal", s.String())
		if err := srv.Close(); err != nil {
			log.Error("shutdown", "err", err)
			return 1
		}
		return 0
	case err := <-srv.Done():
		log.Error("listeners stopped", "err", err)
		srv.Close()
		return 1
	}
}
