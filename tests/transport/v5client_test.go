package transport_test

import (
	"crypto/tls"
	"testing"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/tests/internal/pahotest"
)

// connectV5 is pahotest.ConnectV5 over the endpoint: it dials with the
// endpoint's client TLS configuration and connects a paho.golang client as
// o asks; the CONNECT must succeed. The client is disconnected when the
// test ends, and its Cut closes the connection under it (for WebSocket,
// the TCP connection, without a close frame).
func connectV5(t testing.TB, e *endpoint, o pahotest.V5Conf) (*pahotest.V5Client, *paho.Connack) {
	t.Helper()
	conn, err := e.dial(e.TLS())
	require.NoError(t, err, "dialing %s", e.URL())
	c, ack, err := pahotest.ConnectV5Over(conn, o)
	require.NoError(t, err, "connecting over %s", e.URL())
	t.Cleanup(func() {
		_ = c.Disconnect(&paho.Disconnect{ReasonCode: 0})
		_ = conn.Close()
	})
	return c, ack
}

// refusedV5 requires that a client dialing the endpoint with tlsc cannot
// get an MQTT connection: the TLS handshake fails, or (TLS 1.3, where the
// client finishes its handshake before the server has checked its
// certificate) the server closes the connection instead of answering the
// CONNECT.
func refusedV5(t testing.TB, e *endpoint, tlsc *tls.Config, id string) {
	t.Helper()
	conn, err := e.dial(tlsc)
	if err != nil {
		return
	}
	defer conn.Close()
	_, ack, err := pahotest.ConnectV5Over(conn, pahotest.V5Conf{ID: id})
	require.Error(t, err, "an MQTT session over %s with CONNACK %+v", e.URL(), ack)
}
