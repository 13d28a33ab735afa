// Command hooked runs Loom, embedded through the facade (package loom), with
// one of the hook set-ups that scripts/bench-hooks compares:
//
//	none     no hook
//	idle     a hook that provides only connection events
//	         (OnSessionEstablished, OnDisconnect), none per message
//	publish  a hook that provides only OnPublish and sees every message
//	         (it adds up payload bytes, as a metering hook would)
//	ledger   hooks/ledger with 1,000 ACL rules the traffic passes through
//	         (the rule that grants its topics is the last; see benchLedger)
//
// It serves -listen in memory until SIGINT or SIGTERM. Otherwise it is set
// up as cmd/loom is with -memory and its defaults (the open-file limit
// raised, ReturnMemory, no heap-profile sampling), so that "no hook" here
// and the binary measure the same broker.
//
//	hooked -listen 127.0.0.1:PORT -hook idle
//	hooked table FILE.jsonl...   # the bench's table, from loadgen -json lines
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/hooks/ledger"
	"github.com/loom-mqtt/loom/proto"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "table" {
		if err := runTable(os.Stdout, os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "hooked table:", err)
			os.Exit(1)
		}
		return
	}
	os.Exit(serve(os.Args[1:], os.Stderr))
}

func serve(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("hooked", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: hooked [-listen ADDR] [-hook none|idle|publish|ledger] [-log-level LEVEL]\n"+
			"       hooked table FILE.jsonl...\n\n"+
			"Loom embedded through package loom, in memory, with no hook, a hook of connection\n"+
			"events only (idle) or an OnPublish hook (publish); until SIGINT or SIGTERM.\n\n")
		fs.PrintDefaults()
	}
	listen := fs.String("listen", "127.0.0.1:1883", "address to serve, host:port")
	mode := fs.String("hook", "none", "hook set-up: none, idle, publish or ledger")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	var level slog.Level = slog.LevelWarn
	fs.TextVar(&level, "log-level", &level, "level of the log: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "hooked: unexpected arguments %q\n", fs.Args())
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	var hook loom.Hook
	switch *mode {
	case "none":
	case "idle":
		hook = &idleHook{}
	case "publish":
		hook = &publishHook{}
	case "ledger":
		l, err := benchLedger(1000)
		if err != nil {
			fmt.Fprintf(stderr, "hooked: %v\n", err)
			return 1
		}
		hook = ledger.New(l)
	default:
		fmt.Fprintf(stderr, "hooked: -hook %q: want none, idle, publish or ledger\n", *mode)
		return 2
	}

	// As cmd/loom does by default.
	if _, err := loom.RaiseFileLimit(); err != nil {
		log.Warn("could not raise the open-file limit", "err", err)
	}
	runtime.MemProfileRate = 0

	srv, err := loom.New(loom.Options{Listeners: []loom.Listener{{Address: "tcp://" + *listen}}, Logger: log, ReturnMemory: true})
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	if hook != nil {
		if err := srv.AddHook(hook, nil); err != nil {
			log.Error("cannot add the hook", "err", err)
			return 1
		}
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Error("cannot write the profile", "err", err)
			return 1
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Error("cannot profile", "err", err)
			return 1
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log.Info("serving", "listen", *listen, "hook", *mode)
	if err := srv.Serve(ctx); err != nil {
		log.Error("serve", "err", err)
		return 1
	}
	// What the run allocated, to set beside the messages it carried.
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	log.Info("allocated", "objects", ms.Mallocs, "bytes", ms.TotalAlloc, "gc_cycles", ms.NumGC)
	switch h := hook.(type) {
	case *idleHook:
		log.Info("stopped", "connected", h.connected.Load(), "disconnected", h.disconnected.Load())
	case *publishHook:
		log.Info("stopped", "payload_bytes", h.bytes.Load())
	}
	return 0
}

// idleHook counts connections and disconnections. It provides no
// per-message event, so the publish path should cost what it costs
// without hooks.
type idleHook struct {
	loom.HookBase
	connected, disconnected atomic.Int64
}

func (*idleHook) ID() string { return "bench-idle" }

func (*idleHook) Provides(e loom.Event) bool {
	return e == loom.OnSessionEstablished || e == loom.OnDisconnect
}

func (h *idleHook) OnSessionEstablished(loom.ClientInfo, *proto.Connect) { h.connected.Add(1) }
func (h *idleHook) OnDisconnect(loom.ClientInfo, error, bool)            { h.disconnected.Add(1) }

// publishHook sees every message, as a metering hook would: it adds up
// the payload bytes and lets each message through unchanged.
type publishHook struct {
	loom.HookBase
	bytes atomic.Int64
}

func (*publishHook) ID() string { return "bench-publish" }

func (*publishHook) Provides(e loom.Event) bool { return e == loom.OnPublish }

func (h *publishHook) OnPublish(_ loom.ClientInfo, pk *proto.Publish) (*proto.Publish, error) {
	h.bytes.Add(int64(len(pk.Payload)))
	return pk, nil
}

// benchLedger is a ledger of n ACL rules that the load tool's traffic
// passes through: n-1 rules for other users, each with a few filters, then
// the rule for everyone that grants the load tool's topics; whatever no
// rule covers is denied, and every client may connect.
func benchLedger(n int) (*ledger.Ledger, error) {
	var b strings.Builder
	b.WriteString("auth_default: allow\nacl_default: deny\nacl:\n")
	for i := range n - 1 {
		fmt.Fprintf(&b, "  - username: other-%d\n    filters:\n", i)
		fmt.Fprintf(&b, "      - {filter: site/%d/secret/#, access: deny}\n", i)
		fmt.Fprintf(&b, "      - {filter: site/%d/#, access: readwrite}\n", i)
		fmt.Fprintf(&b, "      - {filter: devices/%%c/#, access: readwrite}\n")
	}
	b.WriteString("  - filters:\n      - {filter: bench/#, access: readwrite}\n")
	return ledger.Parse("bench-ledger.yaml", []byte(b.String()))
}
