package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/loom-mqtt/loom"
)

// Options configure the HTTP listener.
type Options struct {
	// Address is where it listens, host:port ("127.0.0.1:8080"; port 0
	// picks a free one, Addr tells which). Required. An address other
	// than loopback needs Token or Username and Password.
	Address string
	// Token, when set, is accepted as "Authorization: Bearer <Token>".
	Token string
	// Username and Password, when set (both), are accepted as HTTP basic
	// auth; a browser asks for them.
	Username, Password string
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// ErrExposed is what New returns for an address reachable from the
// network when neither a token nor a username and password is set: the API
// can disconnect clients and delete messages.
var ErrExposed = errors.New("admin: the HTTP address is reachable from the network and no token or password is set")

// The HTTP server's bounds: a slow or hostile client holds a connection
// only so long, and a request is small (the API takes no bodies).
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 16 << 10
	maxBodyBytes      = 4 << 10
	// inspectTimeout bounds a request's wait for the event loops.
	inspectTimeout = 5 * time.Second
)

// Server is the HTTP listener of one broker. Its methods are safe for
// concurrent use.
type Server struct {
	srv     *loom.Server
	opts    Options
	log     *slog.Logger
	auth    authenticator
	handler http.Handler

	mu     sync.Mutex
	hs     *http.Server
	ln     net.Listener
	served chan struct{} // closed when Serve has returned
	closed bool
}

// New checks o and builds the listener's handler for srv. Nothing listens
// until Start.
func New(srv *loom.Server, o Options) (*Server, error) {
	if srv == nil {
		return nil, errors.New("admin: no broker")
	}
	if o.Address == "" {
		return nil, errors.New("admin: no address: give host:port, such as 127.0.0.1:8080")
	}
	host, port, err := net.SplitHostPort(o.Address)
	if err != nil {
		return nil, fmt.Errorf("admin: address %q: %w", o.Address, err)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return nil, fmt.Errorf("admin: address %q: the port must be a number from 0 to 65535", o.Address)
	}
	if strings.Contains(host, "/") {
		return nil, fmt.Errorf("admin: address %q: give host:port, without a scheme or path", o.Address)
	}
	if (o.Username == "") != (o.Password == "") {
		return nil, errors.New("admin: basic auth needs both a username and a password")
	}
	if strings.ContainsRune(o.Username, ':') {
		return nil, errors.New("admin: a basic auth username cannot contain ':'")
	}
	a := newAuthenticator(o.Token, o.Username, o.Password)
	if !a.required() && !loom.LoopbackOnly(o.Address) {
		return nil, fmt.Errorf("%w: %s (set a token or a username and password, or listen on 127.0.0.1)", ErrExposed, o.Address)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Server{srv: srv, opts: o, log: o.Logger, auth: a}
	s.handler = s.guard(s.routes())
	return s, nil
}

// Start binds the address and serves in the background; it returns once
// the address is bound. A Server starts once.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return errors.New("admin: Start after Close")
	case s.hs != nil:
		return errors.New("admin: started already")
	}
	ln, err := net.Listen("tcp", s.opts.Address)
	if err != nil {
		return fmt.Errorf("admin: listening on %s: %w", s.opts.Address, err)
	}
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.hs, s.ln, s.served = hs, ln, make(chan struct{})
	go func(served chan struct{}) {
		defer close(served)
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("admin: the HTTP listener stopped", "err", err)
		}
	}(s.served)
	s.log.Info("admin: HTTP API listening", "address", ln.Addr().String(), "auth", s.auth.required())
	return nil
}

// Addr is the bound address; nil before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Handler is the whole API, authentication included: for an embedder that
// mounts it in a server of its own, and for tests.
func (s *Server) Handler() http.Handler { return s.handler }

// Close stops listening and waits for the requests under way to finish,
// until ctx ends; then it closes the connections left. It may be called
// more than once, and before Start.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	hs, served := s.hs, s.served
	s.mu.Unlock()
	if hs == nil {
		return nil
	}
	err := hs.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, hs.Close())
	}
	<-served
	return err
}
