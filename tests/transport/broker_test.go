package transport_test

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
)

// broker is a running Loom as the tests see it: where each of its
// listeners is, and what it holds.
type broker struct {
	srv *loom.Server
	pki *loomtest.PKI
	eps map[string]*endpoint
}

// ep is the endpoint of the listener of this kind.
func (b *broker) ep(kind string) *endpoint {
	e := b.eps[kind]
	if e == nil {
		panic("the broker has no " + kind + " listener")
	}
	return e
}

// waitConnections waits until the broker holds n connections.
func (b *broker) waitConnections(t testing.TB, n int64) {
	t.Helper()
	loomtest.WaitConnections(t, b.srv, n)
}

// subscriptions is the number of subscriptions the broker holds.
func (b *broker) subscriptions() int { return b.srv.Stats().Subscriptions }

// waitSubscribed waits until the broker holds more than before
// subscriptions, or gaveUp says the client that was to subscribe has
// ended.
func (b *broker) waitSubscribed(t testing.TB, before int, gaveUp func() bool) {
	t.Helper()
	loomtest.Eventually(t, "a new subscription", func() bool { return gaveUp() || b.subscriptions() > before })
}

// newPKI makes the test CA, the server certificate and a client
// certificate for the mtls listeners.
func newPKI(t testing.TB) (*loomtest.PKI, func(*endpoint)) {
	t.Helper()
	p := loomtest.NewPKI(t)
	certFile, keyFile, cert := p.MustClientCert(t, "client", "transport-client")
	return p, func(e *endpoint) {
		e.pki = p
		e.certFile, e.keyFile, e.cert = certFile, keyFile, cert
	}
}

// sockDir is a short folder for Unix sockets, whose paths must fit in 108
// bytes (a test's TempDir, named after the test, may not).
func sockDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "loom-transport-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(d) })
	return d
}

// startBroker runs Loom for the test with a listener of each kind asked
// for, on free loopback ports (and a Unix socket in a folder of its own):
// tls and wss with the test PKI's server certificate, mtls requiring a
// client certificate its CA signed.
func startBroker(t testing.TB, want ...string) *broker {
	t.Helper()
	p, withPKI := newPKI(t)
	serverTLS := func(mutual bool) *loom.TLS {
		c := &loom.TLS{CertFile: p.CertFile, KeyFile: p.KeyFile}
		if mutual {
			c.ClientCAFile = p.CAFile
		}
		return c
	}
	var ls []loom.Listener
	eps := make([]*endpoint, len(want))
	for i, k := range want {
		e := &endpoint{kind: k}
		withPKI(e)
		eps[i] = e
		switch k {
		case kTCP:
			ls = append(ls, loom.Listener{Address: "tcp://127.0.0.1:0"})
		case kTLS, kMTLS:
			ls = append(ls, loom.Listener{Address: "tls://127.0.0.1:0", TLS: serverTLS(k == kMTLS)})
		case kWS:
			ls = append(ls, loom.Listener{Address: "ws://127.0.0.1:0" + wsPath})
		case kWSS:
			ls = append(ls, loom.Listener{Address: "wss://127.0.0.1:0" + wsPath, TLS: serverTLS(false)})
		case kUnix:
			e.sock = filepath.Join(sockDir(t), "loom.sock")
			ls = append(ls, loom.Listener{Address: "unix://" + e.sock})
		default:
			t.Fatalf("unknown kind %q", k)
		}
	}
	srv, _ := loomtest.Start(t, loom.Options{Listeners: ls})
	addrs := srv.Addrs()
	if len(addrs) != len(ls) {
		t.Fatalf("%d listeners asked for, %d addresses: %v", len(ls), len(addrs), addrs)
	}
	b := &broker{srv: srv, pki: p, eps: map[string]*endpoint{}}
	ports := map[int]string{}
	for i, e := range eps {
		if e.kind != kUnix {
			ta, ok := addrs[i].(*net.TCPAddr)
			if !ok {
				t.Fatalf("listener %s: address %v is not TCP", ls[i].Address, addrs[i])
			}
			if other, dup := ports[ta.Port]; dup {
				t.Fatalf("Addrs() gives port %d for the %s listener and the %s one: %v", ta.Port, other, e.kind, addrs)
			}
			ports[ta.Port] = e.kind
			e.host, e.port = ta.IP.String(), ta.Port
		}
		b.eps[e.kind] = e
	}
	return b
}
