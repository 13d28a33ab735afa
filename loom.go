package loom

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loom-mqtt/loom/persist"
	"github.com/loom-mqtt/loom/reactor"
	"github.com/loom-mqtt/loom/session"
)

const (
	// defaultListen is where a broker listens when Options name nowhere.
	defaultListen = "tcp://127.0.0.1:1883"
	// reserveFDs are descriptors kept out of the connection budget for the
	// listeners, logs and the like (the reactor's own default).
	reserveFDs = 64
	// closeTimeout bounds Close when its context has no deadline, and the
	// Close that Serve runs: v5 clients get half of it to read their
	// DISCONNECT.
	closeTimeout = 10 * time.Second
)

// Server is an embedded broker: New builds it, Start (or Serve) opens its
// listeners, Close ends it. Its methods are safe for concurrent use.
type Server struct {
	opts    Options
	broker  *session.Broker
	reactor *reactor.Server
	gates   []*session.Gate // one per listener, in the order of Options.Listeners
	log     *slog.Logger
	born    time.Time

	mu      sync.Mutex
	started bool // Start was called
	running bool // the listeners opened: a goroutine waits for their end
	closing bool
	stopMem chan struct{} // closes the memory watcher; nil without ReturnMemory
	// addrs are the bound listeners, set once Start has them: the reactor's
	// own are written while Start runs, and Addrs may be called meanwhile.
	addrs atomic.Pointer[[]net.Addr]

	// ended is closed once the listeners have stopped (or at Close, if they
	// never started); endErr is nil for a stop that Close asked for.
	ended  chan struct{}
	endErr error

	closed   chan struct{} // closed when the first Close has finished
	closeErr error
}

// New checks opts, opens the store when DataDir is set and builds the
// broker. Nothing listens until Start or Serve; Close releases the store
// even if the server never started. An option that is not valid is an
// error naming its field.
func New(opts Options) (*Server, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	if len(opts.Listeners) == 0 {
		opts.Listeners = []Listener{{Address: defaultListen}}
	}
	listeners, err := reactorListeners(opts.Listeners) // listener.go
	if err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	store, reserve := opts.Store, reserveFDs
	if opts.DataDir != "" {
		st, err := persist.Open(persist.Options{Dir: opts.DataDir, Sync: opts.Sync, Interval: opts.SyncInterval,
			Logger: opts.Logger, RefuseDamagedLog: opts.RefuseDamagedLog,
			CacheSize: opts.StoreCacheSize, MemTableSize: uint64(opts.StoreMemTableSize)})
		if err != nil {
			return nil, fmt.Errorf("loom: opening the data folder %s: %w", opts.DataDir, err)
		}
		store = st
		// Pebble's files share the descriptor budget with the sockets.
		reserve += persist.DefaultMaxOpenFiles
	}
	b := session.NewBroker(opts.session(store))
	gates, err := addGates(b, opts.Listeners, listeners) // listenerstats.go
	if err != nil {
		b.Close() // and the store
		return nil, err
	}
	r := reactor.New(b, reactor.Options{
		Listeners:        listeners,
		Loops:            opts.Loops,
		MaxConnections:   opts.MaxConnections,
		ReserveFDs:       reserve,
		Handshakes:       opts.Handshakes,
		HandshakeTimeout: opts.HandshakeTimeout,
		Logger:           opts.Logger,
	})
	return &Server{opts: opts, broker: b, reactor: r, gates: gates, log: opts.Logger, born: time.Now(),
		ended: make(chan struct{}), closed: make(chan struct{})}, nil
}

// Start rebuilds what the store kept (sessions, subscriptions, retained
// messages, delayed wills), then opens the listeners; it returns once they
// accept connections. A server starts once; after a failed Start, Close it.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closing:
		return errors.New("loom: Start after Close")
	case s.started:
		return errors.New("loom: started already")
	}
	if err := s.checkExposure(); err != nil { // exposed.go
		return err
	}
	s.started = true
	if err := s.broker.Restore(); err != nil {
		return fmt.Errorf("loom: restoring from the store: %w", err)
	}
	if err := s.reactor.Start(); err != nil {
		return err
	}
	s.running = true
	addrs := s.reactor.Addrs()
	s.addrs.Store(&addrs)
	go func() {
		s.endErr = <-s.reactor.Done()
		close(s.ended)
	}()
	if s.opts.ReturnMemory {
		s.stopMem = make(chan struct{})
		go s.watchMemory(s.stopMem)
	}
	s.broker.Started() // OnStarted
	return nil
}

// Serve starts the server unless it has started already, then blocks until
// ctx is done or the listeners fail, and closes it. It returns nil for a
// stop through ctx (or another goroutine's Close), and otherwise the error
// that failed the start, the listeners or the close.
func (s *Server) Serve(ctx context.Context) error {
	s.mu.Lock()
	started := s.started
	s.mu.Unlock()
	if !started {
		if err := s.Start(); err != nil {
			_ = s.closeWithin(context.WithoutCancel(ctx))
			return err
		}
	}
	select {
	case <-ctx.Done():
		return s.closeWithin(context.WithoutCancel(ctx))
	case <-s.ended:
		err := s.endErr
		if cerr := s.closeWithin(context.WithoutCancel(ctx)); err == nil {
			err = cerr
		}
		return err
	}
}

// closeWithin closes the server within closeTimeout.
func (s *Server) closeWithin(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, closeTimeout)
	defer cancel()
	return s.Close(ctx)
}

// Close stops the listeners, tells v5 clients (DISCONNECT 0x8B, Server
// shutting down), closes every connection — wills and session expiries go
// as for any lost connection — then stops the router and closes the store.
// ctx's deadline bounds the listeners' stop; without one it is 10s. Close
// may be called more than once, and before Start: later calls wait for the
// first and return its result.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		<-s.closed
		return s.closeErr
	}
	s.closing = true
	started, running := s.started, s.running
	s.mu.Unlock()

	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, closeTimeout)
		defer cancel()
	}
	var err error
	if started {
		err = s.reactor.Stop(ctx)
	}
	if s.stopMem != nil {
		close(s.stopMem)
	}
	s.broker.Close()
	if running {
		select {
		case <-s.ended:
		case <-ctx.Done():
		}
	} else {
		close(s.ended) // the listeners never ran: nothing else will
	}
	s.closeErr = err
	close(s.closed)
	return err
}

// Addrs are the bound listener addresses, in the order of Options.Listeners;
// nil until Start has opened them.
func (s *Server) Addrs() []net.Addr {
	if a := s.addrs.Load(); a != nil {
		return *a
	}
	return nil
}

// Done yields nil once Close has stopped the listeners, or the error that
// stopped them otherwise. Each call returns a channel of its own, so that
// any number of goroutines may wait.
func (s *Server) Done() <-chan error {
	ch := make(chan error, 1)
	select {
	case <-s.ended:
		ch <- s.endErr
	default:
		go func() {
			<-s.ended
			ch <- s.endErr
		}()
	}
	return ch
}

// RaiseFileLimit lifts the process's soft open-file limit to its hard
// limit and returns the new limit. Each connection takes a descriptor, and
// MaxConnections defaults to what the limit leaves, so a standalone broker
// calls it before New; a library leaves the process's limits alone unless
// its embedder asks.
func RaiseFileLimit() (uint64, error) { return reactor.RaiseFileLimit() }
