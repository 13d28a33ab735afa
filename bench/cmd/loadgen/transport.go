package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
)

// tlsFlags say how tls:// and wss:// connections are made.
type tlsFlags struct {
	caFile string
	// goCurves: offer Go's default key shares instead of X25519 alone.
	goCurves bool
}

func (f *tlsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.caFile, "ca", "", "tls:// and wss://: PEM file of the CA that signed the broker's certificate (required for them)")
	fs.BoolVar(&f.goCurves, "tls-go-curves", false, "tls:// and wss://: offer Go's default key shares (X25519MLKEM768 and X25519, a ClientHello of about 1.5 KB) "+
		"instead of X25519 alone (a few hundred bytes, as a small device sends)")
}

// curvesName is how the choice shows in -json parameters.
func (f *tlsFlags) curvesName() string {
	if f.goCurves {
		return "go"
	}
	return "x25519"
}

// config builds the client configuration for a broker at host (a loopback
// IP literal, which the certificate must name: loomtest's PKI names
// 127.0.0.1 and ::1).
//
// By default the client offers only X25519 (CurvePreferences), so its
// ClientHello carries one 32-byte key share, as a constrained device's
// does. Go's default since 1.24 adds an X25519MLKEM768 share of 1,216
// bytes, and a server sizes its handshake buffers by what it receives
// (crypto/tls keeps them for the connection's life): measured against a
// ClientHello of ~1.5 KB, a broker's memory per idle TLS connection says
// more about Go clients than about the broker. -tls-go-curves measures that
// case.
func (f *tlsFlags) config(host string) (*tls.Config, error) {
	if f.caFile == "" {
		return nil, errors.New("a tls:// or wss:// address needs -ca, the CA file that signed the broker's certificate")
	}
	pem, err := os.ReadFile(f.caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate in it", f.caFile)
	}
	c := &tls.Config{RootCAs: pool, ServerName: host, MinVersion: tls.VersionTLS12}
	if !f.goCurves {
		c.CurvePreferences = []tls.CurveID{tls.X25519}
	}
	return c, nil
}

// clientTLS is the configuration of every TLS connection of the run, set
// once by common.parse before any dial (nil for tcp:// and ws://).
var clientTLS *tls.Config

// dialStream opens the byte stream MQTT travels over to e: a TCP
// connection, wrapped in TLS and/or WebSocket framing as e says, done by
// deadline. bufSize sizes the WebSocket reader's buffer.
func (o dialOpts) dialStream(ctx context.Context, e endpoint, bufSize int, deadline time.Time) (net.Conn, error) {
	nd := net.Dialer{Deadline: deadline, Control: o.control}
	if local := srcs.local(); local != nil {
		nd.LocalAddr = local
	}
	nc, err := nd.DialContext(ctx, "tcp", e.hostPort)
	if err != nil {
		return nil, err
	}
	if e.usesTLS() {
		if clientTLS == nil {
			nc.Close()
			return nil, errors.New("no TLS configuration (common.parse sets it)")
		}
		tc := tls.Client(nc, clientTLS)
		hctx, cancel := context.WithDeadline(ctx, deadline)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("tls handshake: %w", err)
		}
		nc = tc
	}
	if e.websocket() {
		ws, err := wsUpgrade(nc, e.hostPort, e.path, bufSize, deadline)
		if err != nil {
			nc.Close()
			return nil, err
		}
		nc = ws
	}
	return nc, nil
}

// control sets up a socket before it connects, as loomtest.Dialer does for
// plain TCP: the receive buffer, then IP_BIND_ADDRESS_NO_PORT when the
// source address is chosen (-src-ips).
func (o dialOpts) control(_, _ string, rc syscall.RawConn) error {
	if o.rcvBuf > 0 {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, o.rcvBuf)
		}); err != nil {
			return err
		}
		if serr != nil {
			return serr
		}
	}
	if srcs.n > 0 {
		return noPortControl(rc)
	}
	return nil
}
