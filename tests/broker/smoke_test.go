package broker_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	mqtt3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
)

// TestSmokeV5ToV311 sends a QoS 1 message from a paho.golang v5 client to a
// paho.mqtt.golang 3.1.1 subscriber through the broker.
func TestSmokeV5ToV311(t *testing.T) {
	_, addr := loomtest.Start(t, loom.Options{})

	got := make(chan string, 1)
	sub := mqtt3.NewClient(mqtt3.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("smoke-sub").SetProtocolVersion(4))
	tok := sub.Connect()
	require.True(t, tok.WaitTimeout(5*time.Second))
	require.NoError(t, tok.Error())
	defer sub.Disconnect(100)
	tok = sub.Subscribe("smoke/+", 1, func(_ mqtt3.Client, m mqtt3.Message) { got <- string(m.Payload()) })
	require.True(t, tok.WaitTimeout(5*time.Second))
	require.NoError(t, tok.Error())

	u, _ := url.Parse("mqtt://" + addr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cm, err := autopaho.NewConnection(ctx, autopaho.ClientConfig{
		ServerUrls: []*url.URL{u}, KeepAlive: 30,
		ClientConfig: paho.ClientConfig{ClientID: "smoke-pub"},
	})
	require.NoError(t, err)
	require.NoError(t, cm.AwaitConnection(ctx))
	_, err = cm.Publish(ctx, &paho.Publish{Topic: "smoke/1", QoS: 1, Payload: []byte("hi")})
	require.NoError(t, err)

	select {
	case p := <-got:
		require.Equal(t, "hi", p)
	case <-time.After(5 * time.Second):
		t.Fatal("no delivery")
	}
	_ = cm.Disconnect(ctx)
}
