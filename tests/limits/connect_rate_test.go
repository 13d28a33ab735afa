package limits_test

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/tests/internal/pahotest"
)

// TestConnectRate: a listener taking one connection every 4 s, in bursts
// of 3, lets three in at once and refuses the next ones — v5 with CONNACK
// 0x9F Connection rate exceeded, 3.1.1 with return code 3 [MQTT-3.1.4-2]
// [MQTT-3.2.2-7] — while the three go on and another listener takes all
// comers; once a token has come back, one more is let in, and only one.
func TestConnectRate(t *testing.T) {
	srv, _ := loomtest.Start(t, loom.Options{Listeners: []loom.Listener{
		{ID: "slow", Address: "tcp://127.0.0.1:0", ConnectRate: 0.25, ConnectBurst: 3},
		{ID: "fast", Address: "tcp://127.0.0.1:0"},
	}})
	slow, fast := srv.Addrs()[0].String(), srv.Addrs()[1].String()
	start := time.Now()
	sub, _ := pahotest.ConnectV5(t, slow, pahotest.V5Conf{ID: "sub"})
	sub.Sub(t, pahotest.V5Opt("rate/#", 1))
	pub3, _ := pahotest.V3Connect(t, pahotest.V3Options(slow, "pub3"))
	pahotest.ConnectV5(t, slow, pahotest.V5Conf{ID: "third"})

	require.EqualValues(t, proto.ConnectionRateExceeded, v5Refusal(t, slow, "fourth"))
	require.EqualValues(t, proto.V3ServerUnavailable, v3Refusal(t, slow, "fifth"))
	rawRefusal(t, slow, proto.V5, "sixth", proto.ConnectionRateExceeded)
	require.Less(t, time.Since(start), 4*time.Second, "too slow a machine for this test's timing")

	pahotest.V3Publish(t, pub3, "rate/a", 1, false, "still here")
	require.Equal(t, "still here", string(sub.Recv(t).Payload))
	for i := range 5 {
		pahotest.V3Connect(t, pahotest.V3Options(fast, fmt.Sprint("fast-", i)))
	}

	// The bucket earns a token 4 s after the burst was taken.
	time.Sleep(time.Until(start.Add(4200 * time.Millisecond)))
	again, _ := pahotest.ConnectV5(t, slow, pahotest.V5Conf{ID: "again"})
	again.Say(t, "rate/b", 1, false, "in again")
	require.Equal(t, "in again", string(sub.Recv(t).Payload))
	require.EqualValues(t, proto.ConnectionRateExceeded, v5Refusal(t, slow, "one-too-many"))

	st := listenerStats(t, srv, "slow")
	require.EqualValues(t, 4, st.RefusedForRate)
	require.EqualValues(t, 4, st.Connected)
	require.Zero(t, listenerStats(t, srv, "fast").RefusedForRate)
	require.EqualValues(t, 4, srv.Stats().RefusedForRate)
	require.EqualValues(t, 0, srv.Stats().ProtocolFailures)
}

// TestConnectRateTLSHandshakesBusy: on a TLS listener whose handshake
// slots are all taken, a connection past the connect rate is closed at
// accept, without a handshake; with a slot free, it is answered with 0x9F
// after its handshake.
func TestConnectRateTLSHandshakesBusy(t *testing.T) {
	pki := loomtest.NewPKI(t)
	conf, err := pki.ServerTLS(false)
	require.NoError(t, err)
	srv, addr := loomtest.Start(t, loom.Options{Handshakes: 1, HandshakeTimeout: 20 * time.Second,
		Listeners: []loom.Listener{{ID: "tls", Address: "tls://127.0.0.1:0", TLS: &loom.TLS{Config: conf},
			ConnectRate: 0.01, ConnectBurst: 2}}})
	dialTLS := func() (*tls.Conn, error) {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: loomtest.Wait}, "tcp", addr, pki.ClientTLS())
		if err == nil {
			_ = c.SetDeadline(time.Now().Add(loomtest.Wait))
		}
		return c, err
	}
	first, err := dialTLS() // takes the first token
	require.NoError(t, err)
	defer first.Close()
	loomtest.Over(t, first, proto.V5).Connect("first", nil)

	// A handshake that never ends holds the one slot: a ClientHello, then
	// nothing (its token is the second).
	hello := clientHello(t, pki.ClientTLS())
	stuck, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer stuck.Close()
	_, err = stuck.Write(hello)
	require.NoError(t, err)
	_ = stuck.SetReadDeadline(time.Now().Add(loomtest.Wait))
	_, err = stuck.Read(make([]byte, 1)) // the ServerHello: the handshake runs
	require.NoError(t, err)

	// Past the rate, with the slot busy: closed before any TLS byte.
	late, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer late.Close()
	_, _ = late.Write(hello)
	_ = late.SetReadDeadline(time.Now().Add(loomtest.Wait))
	n, err := late.Read(make([]byte, 64))
	require.Zero(t, n, "a ServerHello came")
	require.True(t, err == io.EOF || loomtest.Closed(err), "%v", err)
	require.EqualValues(t, 1, srv.Stats().RefusedForRate)

	// The slot free again, a connection past the rate is told why.
	stuck.Close()
	loomtest.Eventually(t, "the stuck handshake to end", func() bool { return srv.Stats().OpenConnections == 1 })
	c, err := dialTLS()
	require.NoError(t, err)
	defer c.Close()
	r := loomtest.Over(t, c, proto.V5)
	r.Send(&proto.Connect{Version: proto.V5, CleanStart: true, ClientID: []byte("told")})
	ack := loomtest.Expect[*proto.Connack](r)
	require.Equal(t, proto.ConnectionRateExceeded, ack.Reason)
	require.EqualValues(t, 2, srv.Stats().RefusedForRate)
}

// clientHello is the first flight of a TLS handshake with conf, taken
// from a handshake over a pipe.
func clientHello(t *testing.T, conf *tls.Config) []byte {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	go func() { _ = tls.Client(b, conf).Handshake() }()
	defer b.Close()
	buf := make([]byte, 16<<10)
	_ = a.SetReadDeadline(time.Now().Add(loomtest.Wait))
	n, err := a.Read(buf)
	require.NoError(t, err)
	return buf[:n]
}
