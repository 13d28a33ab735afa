package reactor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/session"
)

// maxLoops is the most event loops gnet runs.
const maxLoops = 256

// Options configure the listeners and loops.
type Options struct {
	// Listeners are where clients connect, each with its transport
	// (listener.go). Port 0 picks a free port; Addrs tells which.
	Listeners []Listener
	// Loops is the number of event loops; default GOMAXPROCS, at most 256
	// (gnet's ceiling).
	Loops int
	// MaxConnections caps open client connections. Default: the process's
	// open-file limit minus ReserveFDs, so accept never runs out of
	// descriptors (gnet stops its whole engine when accept fails with EMFILE).
	MaxConnections int
	// ReserveFDs are descriptors kept for listeners, the store and logs.
	// Default 64.
	ReserveFDs int
	// Handshakes caps the TLS handshakes running at once, each on a
	// goroutine of its own while it lasts (tls.go); more wait their turn.
	// Default 64 per CPU.
	Handshakes int
	// HandshakeTimeout ends a TLS handshake that has not completed in
	// time. Default 10s.
	HandshakeTimeout time.Duration
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// Server is a running set of listeners on gnet loops.
type Server struct {
	opts   Options
	broker *session.Broker
	log    *slog.Logger

	eng    gnet.Engine
	booted chan struct{}
	done   chan error
	addrs  []net.Addr

	lns []*listener // Options.Listeners, parsed by Start

	loops    sync.Map // gnet.EventLoop → *loopState
	conns    atomic.Int64
	Rejected atomic.Int64 // connections closed at once for the descriptor budget
	stopping atomic.Bool

	// Transport refusals: TLS handshakes that failed, WebSocket upgrades
	// and frames refused, connections without a valid PROXY header.
	TLSFailed, WSRefused, ProxyRefused atomic.Int64

	hsMu      sync.Mutex
	hsRunning int        // handshake goroutines
	hsQueue   []*tlsConn // handshakes waiting for one
}

// New prepares a server for broker b; Start opens the listeners.
func New(b *session.Broker, opts Options) *Server {
	if opts.Loops <= 0 {
		opts.Loops = runtime.GOMAXPROCS(0)
	}
	// gnet numbers its loops in one byte and runs at most 256 whatever it
	// is asked; the rest of the server (the pre-CONNECT budget's shares)
	// must count the loops that run.
	opts.Loops = min(opts.Loops, maxLoops)
	if opts.ReserveFDs <= 0 {
		opts.ReserveFDs = 64
	}
	if opts.MaxConnections <= 0 {
		opts.MaxConnections = fdBudget(opts.ReserveFDs + 2*len(opts.Listeners))
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Handshakes <= 0 {
		opts.Handshakes = 64 * runtime.GOMAXPROCS(0)
	}
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = 10 * time.Second
	}
	b.SetLoopCount(opts.Loops) // each loop's share of PreConnectBudget
	return &Server{opts: opts, broker: b, log: opts.Logger,
		booted: make(chan struct{}), done: make(chan error, 1)}
}

// Start opens the listeners and returns once they accept connections, or
// with the error that stopped them.
func (s *Server) Start() error {
	if len(s.opts.Listeners) == 0 {
		return errors.New("reactor: no listeners")
	}
	listens := make([]string, len(s.opts.Listeners))
	for i, l := range s.opts.Listeners {
		ln, err := parseListener(l)
		if err != nil {
			return err
		}
		s.lns = append(s.lns, ln)
		listens[i] = ln.gnetAddr()
	}
	reuse := usesReusePort(listens)
	// Every port 0 becomes a concrete port first: the loops must all bind
	// the same one, and each listener must be told from the others by its
	// address (listenerOf, Addrs). Without SO_REUSEPORT (a Unix socket
	// beside) the port cannot be held while gnet binds it, only picked.
	p, err := pinPorts(listens, reuse)
	if err != nil {
		return err
	}
	defer p.release() // once the loops have bound the ports, or failed
	listens = p.listens
	for i, l := range listens {
		_, s.lns[i].addr = splitListen(l)
	}
	h := &handler{srv: s}
	go func() {
		err := gnet.Rotate(h, listens,
			gnet.WithMulticore(true),
			gnet.WithNumEventLoop(s.opts.Loops),
			gnet.WithReuseAddr(true),
			gnet.WithReusePort(reuse),
			gnet.WithTicker(true),
			gnet.WithTCPNoDelay(gnet.TCPNoDelay),
			gnet.WithLogger(gnetLogger{s.log}),
		)
		if err == nil && !s.stopping.Load() {
			// gnet returns nil when its engine dies on an accept error.
			err = errors.New("reactor: engine stopped unexpectedly")
		}
		s.done <- err
	}()
	select {
	case <-s.booted:
	case err := <-s.done:
		s.done <- err
		if err == nil {
			err = errors.New("reactor: engine ended before it started")
		}
		return err
	}
	for _, l := range listens {
		a, err := s.boundAddr(l)
		if err != nil {
			_ = s.Stop(context.Background())
			return err
		}
		s.addrs = append(s.addrs, a)
	}
	return nil
}

// Addrs are the listeners' bound addresses, in the order of Options.Listeners.
func (s *Server) Addrs() []net.Addr { return s.addrs }

// Done yields the engine's end: nil after Stop, an error if it died.
func (s *Server) Done() <-chan error { return s.done }

// Connections is the number of open client connections.
func (s *Server) Connections() int64 { return s.conns.Load() }

// Stop closes the listeners and every connection; wills and session
// expiries are handled as for any lost connection.
func (s *Server) Stop(ctx context.Context) error {
	if !s.stopping.CompareAndSwap(false, true) {
		return nil
	}
	select {
	case <-s.booted:
	default:
		return nil
	}
	// Tell v5 clients why before the engine drops every connection.
	wait := 2 * time.Second
	if d, ok := ctx.Deadline(); ok && time.Until(d) < 2*wait {
		wait = time.Until(d) / 2
	}
	s.broker.DisconnectAll(proto.ServerShuttingDown, "", wait)
	return s.eng.Stop(ctx)
}

// splitListen splits a listener address into gnet's network and address;
// a bare host:port is TCP.
func splitListen(listen string) (network, addr string) {
	network, addr, ok := strings.Cut(listen, "://")
	if !ok {
		return "tcp", listen
	}
	return network, addr
}

// boundAddr finds the address a listener actually bound (port 0 → real port).
func (s *Server) boundAddr(listen string) (net.Addr, error) {
	network, addr := splitListen(listen)
	fd, err := s.eng.DupListener(network, addr)
	if err != nil {
		return nil, fmt.Errorf("reactor: listener %s: %w", listen, err)
	}
	return sockName(fd)
}

// handler is gnet's event handler.
type handler struct {
	gnet.BuiltinEventEngine
	srv *Server
}

func (h *handler) OnBoot(eng gnet.Engine) gnet.Action {
	h.srv.eng = eng
	close(h.srv.booted)
	return gnet.None
}

// loopOf is the reactor's state for el, made when el opens its first
// connection (on el's goroutine, so never twice for one loop).
func (h *handler) loopOf(el gnet.EventLoop) *loopState {
	if l, ok := h.srv.loops.Load(el); ok {
		return l.(*loopState)
	}
	l := &loopState{el: el, poller: pollerFD(el), hdr: make([]byte, 0, 16), vec: make([][]byte, 0, 2)}
	l.sl = h.srv.broker.NewLoop(func(f func()) {
		_ = el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			f()
			return nil
		}))
	})
	l.sl.SetWaker(func(cl *session.Client) { h.wake(l, cl) })
	if l.poller < 0 {
		l.sl.NoRatePause() // a client past its rate could not be left unread
	}
	h.srv.loops.Store(el, l)
	return l
}

func (h *handler) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	if h.srv.conns.Add(1) > int64(h.srv.opts.MaxConnections) {
		// Over the descriptor budget: refuse now, while accept still works.
		h.srv.Rejected.Add(1)
		return nil, gnet.Close
	}
	ls := h.loopOf(c.EventLoop())
	l := h.srv.listenerOf(c.LocalAddr())
	if l == nil {
		h.srv.log.Error(errNoListener.Error(), "local", c.LocalAddr())
		return nil, gnet.Close
	}
	if l.plain() {
		cl := ls.sl.NewClient(c)
		c.SetContext(cl)
		cl.Arrive(l.Gate) // past the connect rate: refused at CONNECT
		return nil, gnet.None
	}
	t := newTconn(c, l, ls, h.srv)
	t.cl = ls.sl.NewClient(t)
	if !t.cl.Arrive(l.Gate) && t.tls != nil && h.srv.handshakesFull() {
		// Past the connect rate while every handshake slot is taken: its
		// handshake would cost more than the refusal is worth, and wait
		// behind the others (session/gate.go).
		t.cl.RefusedAtAccept()
		c.SetContext(t)
		return nil, gnet.Close
	}
	if t.tls != nil {
		t.cl.ConnectWithin(h.srv.opts.HandshakeTimeout)
	}
	c.SetContext(t)
	return nil, gnet.None
}

func (h *handler) OnClose(c gnet.Conn, err error) gnet.Action {
	h.srv.conns.Add(-1)
	var cl *session.Client
	switch x := c.Context().(type) {
	case *session.Client:
		cl = x
	case *tconn:
		cl = x.cl
		x.closed()
	default:
		return gnet.None
	}
	if cl.ReadPaused() {
		h.unpause(h.loopOf(c.EventLoop()), c, cl) // its descriptor may be reused
	}
	cl.Closed(err)
	return gnet.None
}

func (h *handler) OnTick() (time.Duration, gnet.Action) {
	h.srv.broker.Tick()
	return 250 * time.Millisecond, gnet.None
}
