package reactor_test

import (
	"crypto/tls"
	"net"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/reactor"
)

// The fields tlsinternal.go drops are where it looks for them: a Go
// upgrade that moves them fails here instead of quietly keeping every
// idle connection's buffers.
func TestTLSInternalsFound(t *testing.T) {
	require.True(t, reactor.TLSFieldsFound, "crypto/tls.Conn's rawInput, input or hand field moved: tlsinternal.go must follow")
}

// After a handshake with a client that sends a large ClientHello (Go's
// default offers a post-quantum key share, ~1.5 KiB), and a large record,
// the server's read buffers are dropped once empty, and what was sent
// after is still read whole.
func TestTLSBuffersReleased(t *testing.T) {
	p := loomtest.NewPKI(t)
	conf, err := p.ServerTLS(false)
	require.NoError(t, err)
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	srv := tls.Server(a, conf)
	cc := p.ClientTLS()
	cc.DynamicRecordSizingDisabled = true // one 12 KiB record
	cli := tls.Client(b, cc)
	big := make([]byte, 12<<10)
	go func() {
		if cli.Handshake() == nil {
			_, _ = cli.Write(big)
			_, _ = cli.Write([]byte("after"))
		}
	}()
	require.NoError(t, srv.Handshake())
	got := make([]byte, len(big))
	_, err = readFull(srv, got)
	require.NoError(t, err)
	require.Greater(t, reactor.TLSBuffered(srv), len(big), "the buffers did grow")
	reactor.ReleaseTLSBuffers(srv)
	require.LessOrEqual(t, reactor.TLSBuffered(srv), 2*reactor.TLSKeep, "emptied buffers kept")
	rest := make([]byte, 5)
	_, err = readFull(srv, rest)
	require.NoError(t, err)
	require.Equal(t, "after", string(rest))
}

func readFull(c *tls.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		k, err := c.Read(b[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
