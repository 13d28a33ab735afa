package broker_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
)

// TestShutdownSendsServerShuttingDown: on Close a v5 client is told
// DISCONNECT 0x8B before its connection goes.
func TestShutdownSendsServerShuttingDown(t *testing.T) {
	srv, addr := loomtest.Start(t, loom.Options{})
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	got := make(chan *paho.Disconnect, 1)
	c := paho.NewClient(paho.ClientConfig{Conn: conn,
		OnServerDisconnect: func(d *paho.Disconnect) { got <- d }})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = c.Connect(ctx, &paho.Connect{ClientID: "bye", CleanStart: true, KeepAlive: 30})
	require.NoError(t, err)

	require.NoError(t, srv.Close(context.Background()))
	select {
	case d := <-got:
		require.EqualValues(t, proto.ServerShuttingDown, d.ReasonCode)
	case <-time.After(10 * time.Second):
		t.Fatal("no DISCONNECT from the server")
	}
}
