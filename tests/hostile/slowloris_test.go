package hostile_test

import (
	"context"
	"crypto/tls"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
)

// closedByPeer reports, without waiting, whether the broker has closed nc
// (the end of the stream, or a reset, is pending); false while it is open
// with nothing to read.
func closedByPeer(t *testing.T, nc net.Conn) bool {
	t.Helper()
	rc, err := nc.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var rerr error
	buf := make([]byte, 1)
	if err := rc.Control(func(fd uintptr) {
		n, _, rerr = syscall.Recvfrom(int(fd), buf, syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	}); err != nil {
		t.Fatal(err)
	}
	switch {
	case rerr == syscall.EAGAIN:
		return false
	case rerr != nil:
		return true // a reset
	}
	return n == 0
}

// TestTLSStalledHandshakesDoNotBlockOthers: clients that send half a
// ClientHello and then nothing (a slowloris on the TLS handshake) must not
// keep a well-behaved client from connecting over TLS while they stall.
// There are more of them than handshakes may run at once, whether the cap
// is the one set here or the default (64 per CPU). The order is what is
// checked, not time: the good client must complete CONNECT while every
// staller is still open, i.e. before any of them timed out.
func TestTLSStalledHandshakesDoNotBlockOthers(t *testing.T) {
	stallers := 64*runtime.GOMAXPROCS(0) + 64
	needFiles(t, uint64(2*stallers+200))
	pki := loomtest.NewPKI(t)
	srv, addr := loomtest.Start(t, loom.Options{
		Listeners:        []loom.Listener{{Address: "tls://127.0.0.1:0", TLS: &loom.TLS{CertFile: pki.CertFile, KeyFile: pki.KeyFile}}},
		Handshakes:       4,
		HandshakeTimeout: time.Minute,
		Limits:           loom.Limits{ConnectTimeout: time.Minute},
	})
	hello := clientHello(t, pki)
	stalled := make([]net.Conn, stallers)
	for i := range stalled {
		stalled[i] = dialRaw(t, addr)
		write(t, stalled[i], hello[:len(hello)/2])
	}
	loomtest.WaitConnections(t, srv, int64(stallers))

	// The good client, with a bound far past any handshake's own time.
	nc := dialRaw(t, addr)
	tc := tls.Client(nc, pki.ClientTLS())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		t.Fatalf("a good client's TLS handshake behind %d stalled ones: %v", stallers, err)
	}
	c := loomtest.Over(t, tc, proto.V5)
	c.Connect("good", nil)
	closed := 0
	for _, s := range stalled {
		if closedByPeer(t, s) {
			closed++
		}
	}
	if closed > 0 {
		t.Fatalf("the good client got in only after %d of the %d stalled handshakes were closed: stalled handshakes hold every handshake slot until they time out", closed, stallers)
	}
	c.Ping()
}
