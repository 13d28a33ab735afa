// Package transport_test runs the broker's core flows over every kind of
// listener it has (tcp, tls, mtls, ws, wss, unix) with the Paho clients,
// and drives its TLS and WebSocket listeners with clients that are not Go:
// the mosquitto command-line clients, Python's paho-mqtt and mqtt.js in a
// headless Chromium.
package transport_test

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	mqtt3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/tests/internal/pahotest"
)

// The kinds of listener, as the rows of the matrix name them.
const (
	kTCP  = "tcp"
	kTLS  = "tls"
	kMTLS = "mtls" // TLS that requires a client certificate the test CA signed
	kWS   = "ws"
	kWSS  = "wss"
	kUnix = "unix"
)

// kinds are the rows of the matrix, in order.
var kinds = []string{kTCP, kTLS, kMTLS, kWS, kWSS, kUnix}

// wsPath is the path the WebSocket listeners serve MQTT on.
const wsPath = "/mqtt"

// endpoint is one listener of a running broker, as a client reaches it.
type endpoint struct {
	kind string
	host string // the listener's address (TCP kinds)
	port int
	sock string // the socket's path (unix)
	pki  *loomtest.PKI
	// The client certificate an mtls client presents, signed by pki's CA.
	certFile, keyFile string
	cert              tls.Certificate
}

// hostPort is "host:port" (TCP kinds).
func (e *endpoint) hostPort() string { return net.JoinHostPort(e.host, strconv.Itoa(e.port)) }

// secure says whether the listener speaks TLS.
func (e *endpoint) secure() bool { return e.kind == kTLS || e.kind == kMTLS || e.kind == kWSS }

// URL is the broker's URL as paho.mqtt.golang and mqtt.js take it.
func (e *endpoint) URL() string {
	switch e.kind {
	case kTCP:
		return "tcp://" + e.hostPort()
	case kTLS, kMTLS:
		return "tls://" + e.hostPort()
	case kWS:
		return "ws://" + e.hostPort() + wsPath
	case kWSS:
		return "wss://" + e.hostPort() + wsPath
	case kUnix:
		return "unix://" + e.sock
	}
	panic("unknown kind " + e.kind)
}

// TLS is the configuration a well-behaved client of the endpoint uses: it
// trusts the test CA and, on mtls, presents the client certificate. nil
// for the kinds without TLS.
func (e *endpoint) TLS() *tls.Config {
	switch e.kind {
	case kTLS, kWSS:
		return e.pki.ClientTLS()
	case kMTLS:
		return e.pki.ClientTLS(e.cert)
	}
	return nil
}

// noProxy keeps the WebSocket dialer off any proxy the environment names.
func noProxy(*http.Request) (*url.URL, error) { return nil, nil }

// lockedConn is a connection paho.golang locks around each packet it
// writes (it looks for a sync.Locker): over TLS and WebSocket it writes
// the fixed header and the rest in separate calls, which must not
// interleave with another goroutine's. Over WebSocket each call is a frame
// of its own, so every packet paho.golang sends is cut across frames,
// which the broker must take [MQTT-6.0.0-2]. (tests/hostile cuts and
// joins packets every other way, and sends text frames.)
type lockedConn struct {
	net.Conn // a *tls.Conn, or paho.mqtt.golang's WebSocket connector
	sync.Mutex
}

// dial opens a connection to the endpoint, ready for MQTT: TCP, a Unix
// socket, a TLS connection made with tlsc (its handshake done), or a
// WebSocket upgraded with the subprotocol "mqtt" whose binary frames carry
// the bytes (a *lockedConn for TLS and WebSocket).
func (e *endpoint) dial(tlsc *tls.Config) (net.Conn, error) {
	d := &net.Dialer{Timeout: loomtest.Wait}
	switch e.kind {
	case kTCP:
		return d.Dial("tcp", e.hostPort())
	case kUnix:
		return d.Dial("unix", e.sock)
	case kTLS, kMTLS:
		c, err := tls.DialWithDialer(d, "tcp", e.hostPort(), tlsc)
		if err != nil {
			return nil, err
		}
		return &lockedConn{Conn: c}, nil
	case kWS, kWSS:
		if e.kind == kWS {
			tlsc = nil
		}
		c, err := mqtt3.NewWebsocket(e.URL(), tlsc, loomtest.Wait, nil, &mqtt3.WebsocketOptions{Proxy: noProxy})
		if err != nil {
			return nil, err
		}
		// [MQTT-6.0.0-4] the server selected the subprotocol "mqtt", the
		// only one the client offered [MQTT-6.0.0-3].
		if sp, ok := c.(interface{ Subprotocol() string }); !ok || sp.Subprotocol() != "mqtt" {
			_ = c.Close()
			return nil, fmt.Errorf("the WebSocket upgrade chose no subprotocol \"mqtt\" (%T)", c)
		}
		return &lockedConn{Conn: c}, nil
	}
	return nil, fmt.Errorf("unknown kind %q", e.kind)
}

// The ways a client of each kind can vanish without DISCONNECT.
const (
	closeTCP    = "close"        // the TCP connection (or socket) closed, nothing more
	closeNotify = "close_notify" // TLS's closure alert, then the TCP close
	closeFrame  = "close frame"  // a WebSocket close frame (1000, normal closure)
)

// vanishings are the ways a client of this kind can go without
// DISCONNECT.
func vanishings(kind string) []string {
	switch kind {
	case kTLS, kMTLS:
		return []string{closeTCP, closeNotify}
	case kWS:
		return []string{closeTCP, closeFrame}
	case kWSS:
		return []string{closeTCP, closeNotify, closeFrame}
	}
	return []string{closeTCP}
}

// vanish ends c, which dial made, as how says, sending no DISCONNECT.
func vanish(c net.Conn, how string) error {
	inner := c
	if lc, ok := c.(*lockedConn); ok {
		inner = lc.Conn
	}
	// A WebSocket (gorilla's, under paho.mqtt.golang's connector) sends the
	// close frame, or gives the TLS or TCP connection it runs over.
	type webSocket interface {
		WriteControl(int, []byte, time.Time) error
		NetConn() net.Conn
	}
	if ws, ok := inner.(webSocket); ok {
		if how == closeFrame {
			// Close frame (opcode 8), status 1000. The client's reader sees
			// the broker's close frame and closes the connection.
			return ws.WriteControl(8, []byte{0x03, 0xE8}, deadline())
		}
		inner = ws.NetConn()
	}
	switch how {
	case closeNotify:
		if _, ok := inner.(*tls.Conn); !ok {
			return fmt.Errorf("no TLS under %T", c)
		}
		return inner.Close() // crypto/tls sends close_notify first
	case closeTCP:
		if tc, ok := inner.(*tls.Conn); ok {
			inner = tc.NetConn()
		}
		return inner.Close()
	}
	return fmt.Errorf("%s: not a way to close %T", how, c)
}

// v3Options are pahotest's paho.mqtt.golang options (no automatic
// reconnect or retry) for a client of the endpoint, which paho.mqtt.golang
// reaches by its URL with its own transports.
func (e *endpoint) v3Options(id string) *mqtt3.ClientOptions {
	o := pahotest.V3Options(e.hostPort(), id)
	o.Servers = nil
	o.AddBroker(e.URL())
	if tlsc := e.TLS(); tlsc != nil {
		o.SetTLSConfig(tlsc)
	}
	if e.kind == kWS || e.kind == kWSS {
		o.SetWebsocketOptions(&mqtt3.WebsocketOptions{Proxy: noProxy})
	}
	return o
}

// v3DialKeep is a paho.mqtt.golang connection opener that dials the
// endpoint as dial does and hands the connection to the test, which can
// then cut it without a DISCONNECT.
func (e *endpoint) v3DialKeep(conns chan<- net.Conn) mqtt3.OpenConnectionFunc {
	return func(*url.URL, mqtt3.ClientOptions) (net.Conn, error) {
		c, err := e.dial(e.TLS())
		if err == nil {
			conns <- c
		}
		return c, err
	}
}

// deadline is the end of one bounded wait.
func deadline() time.Time { return time.Now().Add(loomtest.Wait) }
