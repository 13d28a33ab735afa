package v5_test

import (
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/tests/internal/pahotest"
)

// TestV5WillOnAbruptClose drops a connection without DISCONNECT: the broker
// publishes its will with the will properties, and stores it as retained
// when asked to.
// [MQTT-3.1.2-8] the will is published when the connection closes
// [MQTT-3.1.3-10] will User Properties keep their order
// [MQTT-3.1.2-15] Will Retain 1 publishes it as a retained message
func TestV5WillOnAbruptClose(t *testing.T) {
	_, addr := loomtest.Start(t, loom.Options{})
	watch, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "will-watch"})
	watch.Sub(t, pahotest.V5Opt("will/#", 2))

	// A raw CONNECT: paho.golang v0.23.0 encodes will properties with the
	// CONNECT property set and so drops the application ones.
	var wp proto.Properties
	wp.PayloadFormat = 1
	wp.ContentType = []byte("text/plain")
	wp.ResponseTopic = []byte("will/ack")
	wp.CorrelationData = []byte("c1")
	wp.User = []proto.UserProperty{{Key: []byte("k"), Value: []byte("2")},
		{Key: []byte("k"), Value: []byte("1")}, {Key: []byte("a"), Value: []byte("0")}}
	for _, id := range []proto.PropID{proto.PropPayloadFormat, proto.PropContentType,
		proto.PropResponseTopic, proto.PropCorrelationData, proto.PropUserProperty} {
		wp.Set(id)
	}
	dying, _ := loomtest.Connect(t, addr, proto.V5, proto.Connect{ClientID: []byte("dying"), CleanStart: true,
		WillFlag: true, WillQoS: 1, WillRetain: true, WillTopic: []byte("will/dying"),
		WillPayload: []byte("gone:will/dying"), WillProps: wp})
	_ = dying.Close()

	got := watch.Recv(t)
	require.Equal(t, "will/dying", got.Topic)
	require.Equal(t, "gone:will/dying", string(got.Payload))
	require.Equal(t, byte(1), got.QoS)
	require.False(t, got.Retain, "live forwarding clears RETAIN [MQTT-3.3.1-12]")
	require.NotNil(t, got.Properties)
	require.NotNil(t, got.Properties.PayloadFormat)
	require.Equal(t, byte(1), *got.Properties.PayloadFormat)
	require.Equal(t, "text/plain", got.Properties.ContentType)
	require.Equal(t, "will/ack", got.Properties.ResponseTopic)
	require.Equal(t, []byte("c1"), got.Properties.CorrelationData)
	require.Equal(t, paho.UserProperties{{Key: "k", Value: "2"}, {Key: "k", Value: "1"}, {Key: "a", Value: "0"}},
		got.Properties.User)

	late, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "will-late"})
	late.Sub(t, pahotest.V5Opt("will/dying", 1))
	kept := late.Recv(t)
	require.Equal(t, "gone:will/dying", string(kept.Payload))
	require.True(t, kept.Retain)
}

// TestV5WillAndDisconnect closes connections with a DISCONNECT: reason 0x00
// discards the will, reason 0x04 keeps it.
// [MQTT-3.14.4-3] DISCONNECT 0x00: the will is discarded, not published
// [MQTT-3.1.2-10] and removed from the session
// [MQTT-3.1.2-8] DISCONNECT 0x04 does not delete it: it is published
func TestV5WillAndDisconnect(t *testing.T) {
	srv, addr := loomtest.Start(t, loom.Options{})
	watch, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "disc-watch"})
	watch.Sub(t, pahotest.V5Opt("disc/#", 1))
	pub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "disc-pub"})

	normal, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "disc-normal", Will: pahotest.V5Will("disc/normal", false)})
	require.NoError(t, normal.Disconnect(&paho.Disconnect{ReasonCode: 0x00}))
	loomtest.WaitConnections(t, srv, 2)
	// The will would be routed as the connection closes, right after the
	// count drops; the marker and the pause both leave it time to show.
	require.Empty(t, watch.Until(t, pub, "disc/normal"), "will published after DISCONNECT 0x00")
	watch.Quiet(t, 300*time.Millisecond)

	withWill, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "disc-will", Will: pahotest.V5Will("disc/will", false)})
	require.NoError(t, withWill.Disconnect(&paho.Disconnect{ReasonCode: 0x04}))
	got := watch.Recv(t)
	require.Equal(t, "disc/will", got.Topic)
	require.Equal(t, "gone:disc/will", string(got.Payload))
}

// TestV5WillDelay covers the Will Delay Interval: the will waits for it, a
// reconnect within it cancels the will, and the end of the session cuts it
// short.
// [MQTT-3.1.2-8] published when the delay passes or the session ends,
// whichever is first
// [MQTT-3.1.3-9] not published if the session is resumed within the delay
func TestV5WillDelay(t *testing.T) {
	t.Run("published after the delay", func(t *testing.T) {
		t.Parallel()
		_, addr := loomtest.Start(t, loom.Options{})
		watch, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "wd-watch"})
		watch.Sub(t, pahotest.V5Opt("wd/#", 1))
		c, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "wd-late", Keep: true, Expiry: 60,
			Will: pahotest.V5Will("wd/late", false), WillProps: pahotest.V5WillDelay(1)})
		cut := time.Now()
		c.Cut()
		got := watch.Recv(t)
		require.Equal(t, "gone:wd/late", string(got.Payload))
		// The delay is counted from a close the broker sees after cut: it
		// can only make this longer.
		require.GreaterOrEqual(t, time.Since(cut), time.Second, "the will did not wait for its delay")
	})
	t.Run("reconnect within the delay cancels it", func(t *testing.T) {
		t.Parallel()
		srv, addr := loomtest.Start(t, loom.Options{})
		watch, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "wd-watch"})
		watch.Sub(t, pahotest.V5Opt("wd/#", 1))
		c, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "wd-back", Keep: true, Expiry: 60,
			Will: pahotest.V5Will("wd/back", false), WillProps: pahotest.V5WillDelay(3)})
		c.Cut()
		loomtest.WaitConnections(t, srv, 1)
		back, ack := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "wd-back", Keep: true, Expiry: 60})
		require.True(t, ack.SessionPresent)
		// Past the three-second delay, which left the reconnect ample time;
		// a timer can only fire late.
		watch.Quiet(t, 4*time.Second)
		require.NoError(t, back.Disconnect(&paho.Disconnect{ReasonCode: 0}))
		watch.Quiet(t, 300*time.Millisecond)
	})
	t.Run("session end comes first", func(t *testing.T) {
		t.Parallel()
		_, addr := loomtest.Start(t, loom.Options{})
		watch, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "wd-watch"})
		watch.Sub(t, pahotest.V5Opt("wd/#", 1))
		// Session Expiry 0: the session ends with the connection, long
		// before the hour of will delay.
		c, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "wd-end", Will: pahotest.V5Will("wd/end", false), WillProps: pahotest.V5WillDelay(3600)})
		c.Cut()
		require.Equal(t, "gone:wd/end", string(watch.Recv(t).Payload))
	})
}

// TestV5WillOnTakeover replaces a connection by a newer one with the same
// client id. The old connection's will is published when it has no delay,
// and cancelled by the takeover when it has one.
// [MQTT-3.1.4-3] the existing connection is closed
// [MQTT-3.1.2-8] its will is published on close
// [MQTT-3.1.3-9] unless the session resumed within the will delay
func TestV5WillOnTakeover(t *testing.T) {
	for _, tc := range []struct {
		name      string
		delay     uint32
		published bool
	}{
		{"no delay", 0, true},
		{"delayed", 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, addr := loomtest.Start(t, loom.Options{})
			watch, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "to-watch"})
			watch.Sub(t, pahotest.V5Opt("to/#", 1))
			old, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "to-id", Keep: true, Expiry: 60,
				Will: pahotest.V5Will("to/old", false), WillProps: pahotest.V5WillDelay(tc.delay)})
			_, _ = pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "to-id", Keep: true, Expiry: 60})
			select {
			case <-old.Done():
			case <-time.After(loomtest.Wait):
				t.Fatal("the old connection was not closed")
			}
			if tc.published {
				require.Equal(t, "gone:to/old", string(watch.Recv(t).Payload))
				return
			}
			watch.Quiet(t, 2500*time.Millisecond)
		})
	}
}
