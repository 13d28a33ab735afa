package loomtest_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
)

// A client subscribes and gets its own QoS 1 message back, in both
// versions; a broken packet ends the connection.
func TestClientRoundTrip(t *testing.T) {
	srv, addr := loomtest.Start(t, loom.Options{})
	for _, v := range []proto.Version{proto.V311, proto.V5} {
		c := loomtest.Dial(t, addr, v)
		ack := c.Connect("rt", nil)
		require.Equal(t, proto.Success, ack.Reason)
		c.Subscribe("rt/#", 1)
		c.Send(&proto.Publish{Topic: []byte("rt/a"), Payload: []byte("hi"), QoS: 1, PacketID: 7})
		// The PUBACK and the delivery may come in either order.
		var got *proto.Publish
		for got == nil {
			p, err := c.Next()
			require.NoError(t, err)
			switch p := p.(type) {
			case *proto.Ack:
				require.Equal(t, proto.PUBACK, p.Type)
				require.EqualValues(t, 7, p.PacketID)
			case *proto.Publish:
				got = p
			}
		}
		require.Equal(t, "hi", string(got.Payload))
		c.Ack(proto.PUBACK, got.PacketID)
		c.Send(&proto.Ping{Type: proto.PINGREQ})
		require.Equal(t, []byte{0xD0, 0}, c.Frame(), "PINGRESP as sent")
		c.Quiet(50 * time.Millisecond)
		c.Write([]byte{0xF0, 0}) // type 15 is AUTH, which 3.1.1 does not have
		if v == proto.V5 {
			c.Rest()
		} else {
			c.ExpectClosed()
		}
	}
	loomtest.WaitConnections(t, srv, 0)
}

// Conn works without a test: errors come back as values.
func TestConnWithoutTest(t *testing.T) {
	_, addr := loomtest.Start(t, loom.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), loomtest.Wait)
	defer cancel()
	c, err := loomtest.Dialer{Version: proto.V5, BufferSize: 256, ReceiveBuffer: 4096}.Dial(ctx, addr)
	require.NoError(t, err)
	deadline := time.Now().Add(loomtest.Wait)
	_, err = c.Connect(proto.Connect{CleanStart: true, ClientID: []byte("plain")}, deadline)
	require.NoError(t, err)
	_, err = c.Subscribe("$share/g", 0, deadline)
	require.Error(t, err, "a malformed shared filter is refused")
	_, err = c.Next(time.Now().Add(50 * time.Millisecond))
	require.True(t, loomtest.TimedOut(err), "%v", err)
	c.Disconnect(time.Second)

	d, err := loomtest.Dialer{Version: proto.V5}.Dial(ctx, addr)
	require.NoError(t, err)
	defer d.Close()
	ack, err := d.Connect(proto.Connect{ClientID: []byte("plain"), Props: proto.Properties{}}, deadline)
	require.NoError(t, err)
	require.False(t, ack.SessionPresent)
	require.NoError(t, d.Send(&proto.Disconnect{}))
	_, err = d.Next(deadline)
	require.ErrorIs(t, err, io.EOF)
}
