package transport_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/loom-mqtt/loom/loomtest"
)

// broker is a running broker as the tests see it: where each of its
// listeners is, and how to wait for what it holds.
type broker struct {
	pki *loomtest.PKI
	eps map[string]*endpoint
	// connections is the number of open client connections.
	connections func() int64
	// subscriptions is the number of subscriptions it holds.
	subscriptions func() int
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
	if b.connections == nil {
		time.Sleep(300 * time.Millisecond) // development harness only
		return
	}
	loomtest.Eventually(t, fmt.Sprintf("the broker's open connections to be %d", n), func() bool { return b.connections() == n })
}

// subscriptionCount is the number of subscriptions the broker holds.
func (b *broker) subscriptionCount() int {
	if b.subscriptions == nil {
		return 0
	}
	return b.subscriptions()
}

// waitSubscribed waits until the broker holds more than before
// subscriptions, or gaveUp says the client that was to subscribe has
// ended.
func (b *broker) waitSubscribed(t testing.TB, before int, gaveUp func() bool) {
	t.Helper()
	if b.subscriptions == nil {
		time.Sleep(500 * time.Millisecond) // development harness only
		return
	}
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
