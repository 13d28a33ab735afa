package limits_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/tests/internal/pahotest"
)

// TestV5ClientMaximumPacketSize: the broker never sends a client a packet
// above the Maximum Packet Size it gave in CONNECT [MQTT-3.1.2-24]; such a
// message is dropped as if sent [MQTT-3.1.2-25], and later ones still come.
func TestV5ClientMaximumPacketSize(t *testing.T) {
	_, addr := loomtest.Start(t, loom.Options{})
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	got := make(chan *paho.Publish, 8)
	sub := paho.NewClient(paho.ClientConfig{Conn: conn, OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(r paho.PublishReceived) (bool, error) { got <- r.Packet; return true, nil }}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	limit := uint32(256)
	_, err = sub.Connect(ctx, &paho.Connect{ClientID: "small", CleanStart: true, KeepAlive: 30,
		Properties: &paho.ConnectProperties{MaximumPacketSize: &limit}})
	require.NoError(t, err)
	_, err = sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "size/#", QoS: 1}}})
	require.NoError(t, err)

	pub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "sizer"})
	pub.Pub(t, &paho.Publish{Topic: "size/big", QoS: 1, Payload: []byte(strings.Repeat("x", 1000))})
	pub.Pub(t, &paho.Publish{Topic: "size/small", QoS: 1, Payload: []byte("fits")})

	select {
	case p := <-got:
		require.Equal(t, "size/small", p.Topic, "the oversized message is skipped, the next one delivered")
	case <-time.After(10 * time.Second):
		t.Fatal("nothing delivered")
	}
}

// TestV5QueueFullQuotaExceeded: with DisconnectOnQueueFull, a subscriber
// that does not keep up is told DISCONNECT 0x97 (Quota exceeded) and
// disconnected, and the publisher is not held back.
func TestV5QueueFullQuotaExceeded(t *testing.T) {
	_, addr := loomtest.Start(t, loom.Options{Limits: loom.Limits{MaxQueued: 3, DisconnectOnQueueFull: true}})
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	disc := make(chan *paho.Disconnect, 1)
	one := uint16(1)
	sub := paho.NewClient(paho.ClientConfig{Conn: conn, EnableManualAcknowledgment: true,
		OnServerDisconnect: func(d *paho.Disconnect) { disc <- d }})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = sub.Connect(ctx, &paho.Connect{ClientID: "laggard", CleanStart: true, KeepAlive: 30,
		Properties: &paho.ConnectProperties{ReceiveMaximum: &one}})
	require.NoError(t, err)
	_, err = sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "quota", QoS: 1}}})
	require.NoError(t, err)

	pub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "flood"})
	// One in flight (never acknowledged), three queued, the fifth overflows.
	for range 5 {
		pub.Pub(t, &paho.Publish{Topic: "quota", QoS: 1, Payload: []byte("m")})
	}
	select {
	case d := <-disc:
		require.EqualValues(t, proto.QuotaExceeded, d.ReasonCode)
	case <-time.After(10 * time.Second):
		t.Fatal("no DISCONNECT 0x97")
	}
}
