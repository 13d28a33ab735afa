package main

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/loom-mqtt/loom/config"
)

// servePprof serves Go's profiles (CPU, heap, goroutines, ...) on addr, a
// loopback address, for measuring the broker under load: for example
// `go tool pprof http://127.0.0.1:6060/debug/pprof/profile?seconds=10`.
// It returns the bound address.
func servePprof(addr string, log *slog.Logger) (string, error) {
	if err := config.CheckLoopback(addr); err != nil {
		return "", err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
			log.Warn("pprof server stopped", "err", err)
		}
	}()
	return ln.Addr().String(), nil
}
