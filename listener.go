package loom

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/loom-mqtt/loom/reactor"
)

// Listener is one address the broker accepts clients on, with its
// transport's settings.
type Listener struct {
	// ID names the listener in logs and in ReloadTLS; default: Address.
	ID string
	// Address: "tcp://host:port" (or host:port), "tls://host:port",
	// "ws://host:port[/path]", "wss://host:port[/path]" or
	// "unix:///path". Port 0 picks a free port (Server.Addrs says which);
	// a WebSocket path defaults to /mqtt.
	Address string
	// TLS is required for tls:// and wss://, and refused on the others.
	TLS *TLS
	// Proxy: every connection starts with a PROXY protocol header, v1 or
	// v2, as a load balancer (HAProxy, AWS NLB, nginx) sends it; the
	// client's address in logs, hooks and ACL rules is the one it carries.
	// A connection without a valid header is closed. Off by default: on a
	// listener clients reach directly, anyone could claim any address.
	Proxy bool
	// MaxFrame is the largest WebSocket frame payload taken on ws:// and
	// wss://; a larger frame closes the connection (close code 1009).
	// Default: the largest MQTT packet, 1 MiB and its header.
	MaxFrame int
	// Origins, on ws:// and wss://, are the only web origins whose pages
	// may connect ("https://app.example.com", as browsers send it in the
	// Origin header; "*" any): an upgrade from another origin, or with
	// none, gets HTTP 403. Empty: any origin, and non-browser clients
	// (which send none). Set it where browsers that can reach the
	// listener also visit other sites: otherwise any page they open can
	// connect with their network position (a loopback listener lets
	// anonymous clients in).
	Origins []string

	// MaxClients caps the clients connected through this listener at
	// once. A CONNECT takes its place when it arrives, before the
	// authentication hooks run, and gives it back when its connection
	// closes; past the cap it is refused — v5: CONNACK 0x97 (Quota
	// exceeded); 3.1 and 3.1.1: return code 3 (Server unavailable) — and
	// the connection closes, while the clients already connected go on. A
	// CONNECT with the client id of a client connected through this
	// listener now takes that session over and frees its place, so it is
	// not refused. 0: no cap of its own (Limits.MaxClients still applies);
	// negative is an error.
	MaxClients int
	// ConnectRate caps the connections this listener accepts per second
	// (fractions allowed: 0.5 is one every two seconds), a token bucket
	// holding up to ConnectBurst (0: ConnectRate rounded up, at least 1;
	// set without ConnectRate it is an error). The token is taken at
	// accept, so a connection that never sends CONNECT (a TCP health check
	// too) spends one. A connection accepted without one is refused at its
	// CONNECT, before any hook runs — v5: CONNACK 0x9F (Connection rate
	// exceeded); 3.1 and 3.1.1: return code 3 (Server unavailable) — or,
	// on a TLS listener whose Options.Handshakes are all busy, closed at
	// once without a handshake. 0: no cap; negative is an error.
	ConnectRate  float64
	ConnectBurst int
}

// TLS is a listener's TLS: a certificate and key, and for mutual TLS the
// CA that signs clients' certificates. TLS 1.2 is the least version taken;
// TLS 1.3 is preferred when the client has it.
type TLS struct {
	// CertFile and KeyFile are the server's certificate (chain) and key,
	// PEM. ReloadTLS reads them again.
	CertFile, KeyFile string
	// ClientCAFile makes the listener mutual TLS: every client must
	// present a certificate that a CA in this PEM file signed, or its
	// handshake fails.
	ClientCAFile string
	// Config is a configuration of the embedder's own, used instead of
	// the files (its Certificates or GetCertificate, ClientAuth and
	// ClientCAs); MinVersion below TLS 1.2 is raised.
	Config *tls.Config
	// Username takes each client's MQTT username from its verified
	// certificate instead of CONNECT: UsernameFromCN (the subject's
	// common name) or UsernameFromSAN (its first DNS name, else e-mail
	// address, else URI). Such a client is authenticated by its
	// certificate: authentication hooks are not asked; ACLs apply to that
	// username. Needs ClientCAFile (or a Config that requires and verifies
	// client certificates).
	Username string
}

// Where Listener.TLS.Username comes from.
const (
	UsernameFromCN  = reactor.UsernameCN
	UsernameFromSAN = reactor.UsernameSAN
)

// reactorListeners turns the options' listeners into the reactor's,
// reading certificate files.
func reactorListeners(ls []Listener) ([]reactor.Listener, error) {
	out := make([]reactor.Listener, len(ls))
	for i, l := range ls {
		rl := reactor.Listener{ID: l.ID, Address: l.Address, Proxy: l.Proxy, MaxFrame: l.MaxFrame, Origins: l.Origins}
		if l.TLS != nil {
			c, err := l.TLS.config()
			if err != nil {
				return nil, fmt.Errorf("loom: listener %s: %w", l.Address, err)
			}
			rl.TLS, rl.Username = c, l.TLS.Username
		}
		if err := reactor.CheckListener(rl); err != nil {
			return nil, err
		}
		out[i] = rl
	}
	return out, nil
}

// config is the TLS configuration t describes.
func (t *TLS) config() (*tls.Config, error) {
	if t.Config != nil {
		if t.CertFile != "" || t.KeyFile != "" || t.ClientCAFile != "" {
			return nil, errors.New("TLS: give a Config or files, not both")
		}
		return t.Config, nil
	}
	if t.CertFile == "" || t.KeyFile == "" {
		return nil, errors.New("TLS: a certificate file and a key file are needed")
	}
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS: reading %s and %s: %w", t.CertFile, t.KeyFile, err)
	}
	c := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if t.ClientCAFile != "" {
		pem, err := os.ReadFile(t.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("TLS: reading the client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("TLS: no PEM certificate in %s", t.ClientCAFile)
		}
		c.ClientCAs, c.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return c, nil
}

// verifiesClients reports whether l lets in only clients with a
// certificate its CA signed: such a listener authenticates, with or
// without a hook.
func (l Listener) verifiesClients() bool {
	if l.TLS == nil {
		return false
	}
	if l.TLS.Config != nil {
		return l.TLS.Config.ClientAuth == tls.RequireAndVerifyClientCert
	}
	return l.TLS.ClientCAFile != ""
}

// ReloadTLS reads the certificate, key and client CA files of the listener
// named id again (every listener with TLS files when id is ""); handshakes
// from then on use them, and connections already open stay as they are. A
// file that cannot be read leaves that listener's TLS as it was.
func (s *Server) ReloadTLS(id string) error {
	found := false
	var errs []error
	for _, l := range s.opts.Listeners {
		lid := l.ID
		if lid == "" {
			lid = l.Address
		}
		if (id != "" && lid != id) || l.TLS == nil {
			continue
		}
		found = true
		if l.TLS.Config != nil {
			if id != "" {
				errs = append(errs, fmt.Errorf("loom: listener %s has a TLS Config of its own, not files: use SetTLSConfig", lid))
			}
			continue
		}
		c, err := l.TLS.config()
		if err == nil {
			err = s.reactor.SetTLS(lid, c)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("loom: listener %s: %w", lid, err))
		}
	}
	if !found && id != "" {
		return fmt.Errorf("loom: no TLS listener %q", id)
	}
	return errors.Join(errs...)
}

// SetTLSConfig gives the listener named id a new TLS configuration;
// handshakes from then on use it, connections already open stay.
func (s *Server) SetTLSConfig(id string, c *tls.Config) error {
	return s.reactor.SetTLS(id, c)
}

// listenerHost is the host:port of a listener address, without its scheme
// and WebSocket path; unix is true for a Unix socket.
func listenerHost(address string) (hostport string, unix bool) {
	scheme, rest, ok := strings.Cut(address, "://")
	if !ok {
		return address, false
	}
	if scheme == "unix" {
		return rest, true
	}
	if scheme == "ws" || scheme == "wss" {
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			rest = rest[:i]
		}
	}
	return rest, false
}
