package transport_test

import (
	"context"
	"crypto/tls"
	"net"
	"testing"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/loomtest"
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
	c, ack, err := connectV5Over(conn, o)
	require.NoError(t, err, "connecting over %s", e.URL())
	t.Cleanup(func() {
		_ = c.Disconnect(&paho.Disconnect{ReasonCode: 0})
		_ = conn.Close()
	})
	return c, ack
}

// connectV5Over sends the CONNECT o describes over conn and waits for the
// CONNACK; an error if none comes or it refuses.
func connectV5Over(conn net.Conn, o pahotest.V5Conf) (*pahotest.V5Client, *paho.Connack, error) {
	c := &pahotest.V5Client{
		Conn:        conn,
		Msgs:        make(chan *paho.Publish, 4096),
		Disconnects: make(chan *paho.Disconnect, 4),
	}
	c.Client = paho.NewClient(paho.ClientConfig{
		ClientID: o.ID,
		Conn:     conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){
			func(r paho.PublishReceived) (bool, error) {
				c.Msgs <- r.Packet
				return true, nil
			},
		},
		OnServerDisconnect: func(d *paho.Disconnect) { c.Disconnects <- d },
	})
	cp := &paho.Connect{ClientID: o.ID, KeepAlive: 30, CleanStart: !o.Keep,
		WillMessage: o.Will, WillProperties: o.WillProps}
	if o.Expiry != 0 {
		e := o.Expiry
		cp.Properties = &paho.ConnectProperties{SessionExpiryInterval: &e}
	}
	ctx, cancel := context.WithTimeout(context.Background(), loomtest.Wait)
	defer cancel()
	ack, err := c.Connect(ctx, cp)
	if err != nil {
		_ = conn.Close()
	}
	return c, ack, err
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
	_, ack, err := connectV5Over(conn, pahotest.V5Conf{ID: id})
	require.Error(t, err, "an MQTT session over %s with CONNACK %+v", e.URL(), ack)
}
