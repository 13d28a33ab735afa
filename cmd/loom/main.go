// Command loom runs the Loom MQTT broker.
//
//	go run ./cmd/loom                      # 127.0.0.1:1883, anonymous clients
//	go run ./cmd/loom -listen 0.0.0.0:1883 -listen unix:///run/loom.sock
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/reactor"
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

	// Catch signals before the listeners open: a signal that arrives once
	// clients can connect must stop the broker cleanly, not kill it.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)

	srv := loom.New(loom.Options{Listeners: listens, Loops: *loops, Logger: log})
	if err := srv.Start(); err != nil {
		log.Error("cannot start", "err", err)
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
