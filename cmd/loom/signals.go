package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/loom-mqtt/loom/admin"
	"github.com/loom-mqtt/loom/config"
)

// wait serves until SIGTERM or SIGINT (a clean stop within the
// configuration's shutdown_timeout) or the listeners fail; SIGHUP reads
// the configuration again. It returns the exit status.
func wait(cmd command, run *config.Running, api *admin.Server, sig chan os.Signal, log *slog.Logger) int {
	srv := run.Server
	for {
		select {
		case s := <-sig:
			if s == syscall.SIGHUP {
				reload(cmd, run, log)
				continue
			}
			return shutdown(run, api, s, sig, log)
		case err := <-srv.Done():
			log.Error("listeners stopped", "err", err)
			_ = srv.Close(context.Background())
			if api != nil {
				_ = api.Close(context.Background())
			}
			return 1
		}
	}
}

// reload reads the configuration file again (and applies the flags over
// it, as at start) and applies what can change while clients stay
// connected: TLS certificates, auth rules, the log level. A configuration
// with faults changes nothing.
func reload(cmd command, run *config.Running, log *slog.Logger) {
	next, err := cmd.load()
	if err != nil {
		var faults []string
		for _, e := range unjoin(err) {
			faults = append(faults, e.Error())
		}
		log.Error("reload refused: the configuration has faults; nothing changed", "faults", strings.Join(faults, "; "))
		return
	}
	applied, pending, err := run.Reload(next)
	if err != nil {
		log.Error("reload failed; the auth rules and the log level are as they were", "err", err)
		return
	}
	if len(applied) == 0 {
		log.Info("reloaded: nothing changed that a running broker takes", "file", cmd.file)
	} else {
		log.Info("reloaded", "changed", joinChanges(applied))
		for _, ch := range applied {
			if strings.HasPrefix(ch.Path, "auth.") {
				if rules := next.PlainTextRules(); len(rules) > 0 {
					log.Warn("passwords in plain text: hash them with 'loom passwd'", "rules", strings.Join(rules, ", "))
				}
				break
			}
		}
	}
	if len(pending) > 0 {
		log.Warn("reload: these changes take effect only at the next start", "changes", joinChanges(pending))
	}
}

func joinChanges(cs []config.Change) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = c.String()
	}
	return strings.Join(s, "; ")
}

// shutdown stops the broker: the listeners close, v5 clients are told
// (DISCONNECT 0x8B, Server shutting down), every connection closes and the
// store is flushed and closed; then the HTTP listener, which said
// "draining" on /readyz meanwhile. All within shutdown_timeout: past it, or
// at a second signal, the process exits anyway, with status 1.
func shutdown(run *config.Running, api *admin.Server, s os.Signal, sig chan os.Signal, log *slog.Logger) int {
	timeout := run.Current().ShutdownTimeout
	log.Info("shutting down", "signal", s.String(), "timeout", timeout.String())
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		err := run.Server.Close(ctx)
		if api != nil {
			err = errors.Join(err, api.Close(ctx))
		}
		done <- err
	}()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				log.Error("shutdown", "err", err)
				return 1
			}
			log.Info("stopped")
			return 0
		case <-deadline.C:
			log.Error("shutdown took longer than shutdown_timeout: exiting without waiting", "timeout", timeout.String())
			return 1
		case s2 := <-sig:
			if s2 != syscall.SIGHUP {
				log.Error("second signal: exiting without waiting", "signal", s2.String())
				return 1
			}
		}
	}
}
