package loom

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/loom-mqtt/loom/reactor"
	"github.com/loom-mqtt/loom/session"
)

// Options configure an embedded broker.
type Options struct {
	// Listeners, as "tcp://host:port" or "unix:///path"; default
	// tcp://127.0.0.1:1883.
	Listeners []string
	// Loops is the number of event loops; default GOMAXPROCS.
	Loops int
	// MaxConnections caps client connections; default from the open-file limit.
	MaxConnections int
	// ReserveFDs are descriptors kept out of the connection budget on top of
	// the reactor's own reserve (a store's open files, for one).
	ReserveFDs int
	// Session tunes the protocol layer (windows, queues, limits, router).
	Session session.Options
	// Logger; default slog.Default().
	Logger *slog.Logger
	// KeepFreedMemory turns off giving memory back to the system when the
	// number of connections has changed a lot and the broker is quiet
	// (memory.go). Embedders that manage the Go heap themselves may want it.
	KeepFreedMemory bool
}

// Server is an embedded broker.
type Server struct {
	broker  *session.Broker
	reactor *reactor.Server
	keepMem bool
	stopMem chan struct{}
}

// New builds a broker; nothing listens until Start.
func New(opts Options) *Server {
	if len(opts.Listeners) == 0 {
		opts.Listeners = []string{"tcp://127.0.0.1:1883"}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Session.Logger == nil {
		opts.Session.Logger = opts.Logger
	}
	b := session.NewBroker(opts.Session)
	r := reactor.New(b, reactor.Options{
		Listeners:      opts.Listeners,
		Loops:          opts.Loops,
		MaxConnections: opts.MaxConnections,
		ReserveFDs:     64 + opts.ReserveFDs,
		Logger:         opts.Logger,
	})
	return &Server{broker: b, reactor: r, keepMem: opts.KeepFreedMemory}
}

// Start rebuilds what the store kept (sessions, subscriptions, retained
// messages), then opens the listeners; it returns once they accept
// connections.
func (s *Server) Start() error {
	if err := s.broker.Restore(); err != nil {
		return fmt.Errorf("loom: restoring from the store: %w", err)
	}
	if err := s.reactor.Start(); err != nil {
		return err
	}
	if !s.keepMem {
		s.stopMem = make(chan struct{})
		go s.watchMemory(s.stopMem)
	}
	return nil
}

// Addrs are the bound listener addresses, in the order given.
func (s *Server) Addrs() []net.Addr { return s.reactor.Addrs() }

// Done yields nil after Close, or the error that stopped the listeners.
func (s *Server) Done() <-chan error { return s.reactor.Done() }

// Broker exposes the session layer: counters, the router.
func (s *Server) Broker() *session.Broker { return s.broker }

// Connections is the number of open network connections.
func (s *Server) Connections() int64 { return s.reactor.Connections() }

// Close stops the listeners, closes every connection, stops the router and
// closes the store, if any.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.reactor.Stop(ctx)
	if s.stopMem != nil {
		close(s.stopMem)
		s.stopMem = nil
	}
	s.broker.Close()
	return err
}
