package reactor

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/loom-mqtt/loom/session"
)

// Listener is one address the server accepts clients on, with its own
// transport settings.
type Listener struct {
	// ID names the listener in logs and in SetTLS; default: Address.
	ID string
	// Address is "tcp://host:port" (or host:port; tcp4:// and tcp6://
	// too), "tls://host:port", "ws://host:port[/path]",
	// "wss://host:port[/path]" or "unix:///path". Port 0 picks a free
	// port. A WebSocket path defaults to /mqtt.
	Address string
	// TLS is the server's TLS configuration for tls:// and wss://
	// (required there, refused elsewhere). TLS 1.2 is the least version
	// taken whatever it says.
	TLS *tls.Config
	// Username, with client certificates verified (TLS.ClientAuth
	// RequireAndVerifyClientCert), makes the certificate the client's
	// identity: UsernameCN or UsernameSAN.
	Username string
	// Proxy: every connection starts with a PROXY protocol header (v1 or
	// v2) from a load balancer, whose source address is the client's.
	Proxy bool
	// MaxFrame is the largest WebSocket frame payload taken (ws, wss);
	// default 1 MiB plus a packet header, the largest MQTT packet.
	MaxFrame int
	// Origins, when set, are the only Origin values a WebSocket upgrade
	// may carry (scheme://host[:port], as browsers send it; "*" any); a
	// request with another, or none, gets 403. Empty: any origin.
	Origins []string
	// Gate is the listener's admission state in the session layer: its
	// client cap, connect rate and counts (session/gate.go). Each
	// connection is handed it when accepted. nil: none.
	Gate *session.Gate
}

// Identity sources for Listener.Username.
const (
	UsernameCN  = "cn"  // the client certificate's subject common name
	UsernameSAN = "san" // its first DNS name, else e-mail, else URI
)

// kind is what a listener's connections speak under MQTT.
type kind uint8

const (
	kindTCP kind = iota // TCP or a Unix socket, MQTT straight on
	kindTLS
	kindWS
	kindWSS
)

func (k kind) tls() bool { return k == kindTLS || k == kindWSS }
func (k kind) ws() bool  { return k == kindWS || k == kindWSS }

// defaultWSPath is where a WebSocket listener upgrades when its address
// names no path.
const defaultWSPath = "/mqtt"

// defaultMaxFrame: the largest MQTT packet (256 MiB is the protocol's
// ceiling, but Loom's packets are at most 1 MiB) and its header.
const defaultMaxFrame = 1<<20 + 5

// listener is a Listener as the server runs it.
type listener struct {
	Listener
	kind    kind
	network string // gnet's: tcp, tcp4, tcp6, unix
	addr    string // gnet's: host:port or a path
	path    string // WebSocket path
	conf    atomic.Pointer[tls.Config]
}

// parseListener reads l's address.
func parseListener(l Listener) (*listener, error) {
	scheme, rest, ok := strings.Cut(l.Address, "://")
	if !ok {
		scheme, rest = "tcp", l.Address
	}
	ln := &listener{Listener: l, network: "tcp", addr: rest}
	if ln.ID == "" {
		ln.ID = l.Address
	}
	switch scheme {
	case "tcp", "tcp4", "tcp6":
		ln.network = scheme
	case "unix":
		ln.network = "unix"
		if rest == "" {
			return nil, fmt.Errorf("reactor: listener %s: no socket path", l.Address)
		}
	case "tls":
		ln.kind = kindTLS
	case "ws", "wss":
		ln.kind = kindWS
		if scheme == "wss" {
			ln.kind = kindWSS
		}
		ln.path = defaultWSPath
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			ln.addr, ln.path = rest[:i], rest[i:]
		}
	default:
		// gnet would serve udp:// too, and MQTT cannot run over datagrams
		// [MQTT-4.2-1].
		return nil, fmt.Errorf("reactor: listener %s: %q is not a byte stream MQTT runs over (tcp, tls, ws, wss, unix)", l.Address, scheme)
	}
	if ln.network != "unix" {
		if _, port, err := net.SplitHostPort(ln.addr); err != nil {
			return nil, fmt.Errorf("reactor: listener %s: %w", l.Address, err)
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			return nil, fmt.Errorf("reactor: listener %s: bad port %q", l.Address, port)
		}
	}
	if ln.kind.tls() {
		if l.TLS == nil {
			return nil, fmt.Errorf("reactor: listener %s: TLS needs a configuration (certificate and key)", l.Address)
		}
		if err := ln.setTLS(l.TLS); err != nil {
			return nil, err
		}
	} else if l.TLS != nil {
		return nil, fmt.Errorf("reactor: listener %s: TLS settings on a listener without TLS (say tls:// or wss://)", l.Address)
	}
	switch l.Username {
	case "", UsernameCN, UsernameSAN:
	default:
		return nil, fmt.Errorf("reactor: listener %s: username source %q is not %q or %q", l.Address, l.Username, UsernameCN, UsernameSAN)
	}
	if l.Username != "" && (!ln.kind.tls() || l.TLS.ClientAuth != tls.RequireAndVerifyClientCert) {
		return nil, fmt.Errorf("reactor: listener %s: a username from the client certificate needs TLS with verified client certificates", l.Address)
	}
	if len(l.Origins) > 0 && !ln.kind.ws() {
		return nil, fmt.Errorf("reactor: listener %s: allowed origins on a listener without WebSocket", l.Address)
	}
	if ln.MaxFrame <= 0 {
		ln.MaxFrame = defaultMaxFrame
	}
	return ln, nil
}

// CheckListener reports what is wrong with l, as Start would.
func CheckListener(l Listener) error {
	_, err := parseListener(l)
	return err
}

// originAllowed reports whether a WebSocket upgrade from origin may
// proceed on l.
func (l *listener) originAllowed(origin []byte) bool {
	if len(l.Origins) == 0 {
		return true
	}
	for _, o := range l.Origins {
		if o == "*" || (len(origin) > 0 && equalFoldASCII(origin, o)) {
			return true
		}
	}
	return false
}

// gnetAddr is the listener as gnet is told it.
func (l *listener) gnetAddr() string { return l.network + "://" + l.addr }

// setTLS makes c the configuration of the listener's next handshakes.
func (l *listener) setTLS(c *tls.Config) error {
	if c == nil || (len(c.Certificates) == 0 && c.GetCertificate == nil && c.GetConfigForClient == nil) {
		return fmt.Errorf("reactor: listener %s: TLS configuration without a certificate", l.ID)
	}
	c = c.Clone()
	if c.MinVersion < tls.VersionTLS12 {
		c.MinVersion = tls.VersionTLS12
	}
	// Full-size records from the first byte: the broker's writes are
	// batches, not a web page's first paint.
	c.DynamicRecordSizingDisabled = true
	l.conf.Store(c)
	return nil
}

// plain reports whether the listener's connections are MQTT straight on
// the socket: they take the reactor's fast path, with no transport state.
func (l *listener) plain() bool { return l.kind == kindTCP && !l.Proxy }

// SetTLS gives the listener named id a new TLS configuration (certificate,
// client CAs): handshakes from now on use it, connections already open
// keep theirs.
func (s *Server) SetTLS(id string, c *tls.Config) error {
	for _, l := range s.lns {
		if l.ID == id {
			if !l.kind.tls() {
				return fmt.Errorf("reactor: listener %s has no TLS", id)
			}
			return l.setTLS(c)
		}
	}
	return fmt.Errorf("reactor: no listener %q", id)
}

// listenerOf finds the listener whose socket accepted c: gnet gives each
// connection its listening socket's address as LocalAddr.
func (s *Server) listenerOf(local net.Addr) *listener {
	if len(s.lns) == 1 {
		return s.lns[0]
	}
	switch a := local.(type) {
	case *net.TCPAddr:
		var byPort *listener
		for _, l := range s.lns {
			if l.network == "unix" {
				continue
			}
			host, port, _ := net.SplitHostPort(l.addr)
			if port != strconv.Itoa(a.Port) {
				continue
			}
			if ip := net.ParseIP(host); ip != nil && ip.Equal(a.IP) {
				return l
			}
			byPort = l
		}
		return byPort
	case *net.UnixAddr:
		for _, l := range s.lns {
			if l.network == "unix" && l.addr == a.Name {
				return l
			}
		}
	}
	return nil
}

var errNoListener = errors.New("reactor: connection on no known listener")
