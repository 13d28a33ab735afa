package limits_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
)

// A subscriber that stops reading, over a real socket: what its socket and
// gnet's share of the buffer cannot hold is spooled by the broker (outside
// Go's heap); nothing is lost under the outbound limit, and once it reads
// again every message arrives, in order and intact, though the publisher
// has long finished — the pump moves the spool along without further
// traffic — and the spool's blocks are given back. [MQTT-4.6.0-6]: the
// order of one publisher's messages on a topic.
func TestStalledReaderIsSpooledAndCatchesUp(t *testing.T) {
	const n, size = 10000, 1000
	srv, addr := loomtest.Start(t, loom.Options{Loops: 2, Limits: loom.Limits{OutboundLimit: 64 << 20}})

	// A 4 KiB receive buffer: the kernel takes little off the broker while
	// the client does not read.
	sub := loomtest.DialWith(t, addr, loomtest.Dialer{Version: proto.V311, ReceiveBuffer: 4096})
	sub.Connect("stalled", nil)
	sub.Subscribe("spool/t", 0)

	pub := loomtest.Dial(t, addr, proto.V311)
	pub.Connect("pub", nil)
	var burst []byte
	for i := range n {
		p := proto.Publish{Topic: []byte("spool/t"), Payload: payloadOf(i, size)}
		burst = p.Append(burst, proto.V311)
		if len(burst) > 256<<10 || i == n-1 {
			pub.Write(burst)
			burst = burst[:0]
		}
	}
	loomtest.Eventually(t, "the stalled reader's bytes are spooled", func() bool { return srv.Stats().SpoolBytes > 0 })

	for i := range n {
		p := sub.ReadPublish()
		require.Equal(t, "spool/t", string(p.Topic))
		require.True(t, bytes.Equal(payloadOf(i, size), p.Payload), "message %d out of order or damaged", i)
	}
	require.Zero(t, srv.Stats().Dropped, "under the outbound limit nothing is dropped")
	loomtest.Eventually(t, "the spool's blocks are given back", func() bool { return srv.Stats().SpoolBytes <= 2*4*(64<<10) })
}

func payloadOf(i, size int) []byte {
	b := fmt.Appendf(nil, "message %06d ", i)
	return append(b, bytes.Repeat([]byte{byte('a' + i%26)}, size-len(b))...)
}
