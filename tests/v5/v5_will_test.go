package loom_test

import (
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
)

// v5Will is the Will Message these tests give their clients.
func v5Will(topic string, retain bool) *paho.WillMessage {
	return &paho.WillMessage{Topic: topic, QoS: 1, Retain: retain, Payload: []byte("gone:" + topic)}
}

// v5WillDelay is will properties with a Will Delay Interval.
func v5WillDelay(sec uint32) *paho.WillProperties {
	return &paho.WillProperties{WillDelayInterval: &sec}
}

// TestV5WillOnAbruptClose drops a connection without DISCONNECT: the broker
// publishes its will with the will properties, and stores it as retained
// when asked to.
// [MQTT-3.1.2-8] the will is published when the connection closes
// [MQTT-3.1.3-10] will User Properties keep their order
// [MQTT-3.1.2-15] Will Retain 1 publishes it as a retained message
func TestV5WillOnAbruptClose(t *testing.T) {
	_, addr := loomtest.Start(t, loom.Options{})
	watch, _ := connectV5(t, addr, v5Conf{id: "will-watch"})
	watch.sub(t, v5Opt("will/#", 2))

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

	got := watch.recv(t)
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

	late, _ := connectV5(t, addr, v5Conf{id: "will-late"})
	late.sub(t, v5Opt("will/dying", 1))
	kept := late.recv(t)
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
	watch, _ := connectV5(t, addr, v5Conf{id: "disc-watch"})
	watch.sub(t, v5Opt("disc/#", 1))
	pub, _ := connectV5(t, addr, v5Conf{id: "disc-pub"})

	normal, _ := connectV5(t, addr, v5Conf{id: "disc-normal", will: v5Will("disc/normal", false)})
	require.NoError(t, normal.Disconnect(&paho.Disconnect{ReasonCode: 0x00}))
	loomtest.WaitConnections(t, srv, 2)
	// The will would be routed as the connection closes, right after the
	// count drops; the marker and the pause both leave it time to show.
	require.Empty(t, watch.until(t, pub, "disc/normal"), "will published after DISCONNECT 0x00")
	watch.quiet(t, 300*time.Millisecond)

	withWill, _ := connectV5(t, addr, v5Conf{id: "disc-will", will: v5Will("disc/will", false)})
	require.NoError(t, withWill.Disconnect(&paho.Disconnect{ReasonCode: 0x04}))
	got := watch.recv(t)
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
		watch, _ := connectV5(t, addr, v5Conf{id: "wd-watch"})
		watch.sub(t, v5Opt("wd/#", 1))
		c, _ := connectV5(t, addr, v5Conf{id: "wd-late", keep: true, expiry: 60,
			will: v5Will("wd/late", false), willProps: v5WillDelay(1)})
		cut := time.Now()
		c.cut()
		got := watch.recv(t)
		require.Equal(t, "gone:wd/late", string(got.Payload))
		// The delay is counted from a close the broker sees after cut: it
		// can only make this longer.
		require.GreaterOrEqual(t, time.Since(cut), time.Second, "the will did not wait for its delay")
	})
	t.Run("reconnect within the delay cancels it", func(t *testing.T) {
		t.Parallel()
		srv, addr := loomtest.Start(t, loom.Options{})
		watch, _ := connectV5(t, addr, v5Conf{id: "wd-watch"})
		watch.sub(t, v5Opt("wd/#", 1))
		c, _ := connectV5(t, addr, v5Conf{id: "wd-back", keep: true, expiry: 60,
			will: v5Will("wd/back", false), willProps: v5WillDelay(3)})
		c.cut()
		loomtest.WaitConnections(t, srv, 1)
		back, ack := connectV5(t, addr, v5Conf{id: "wd-back", keep: true, expiry: 60})
		require.True(t, ack.SessionPresent)
		// Past the three-second delay, which left the reconnect ample time;
		// a timer can only fire late.
		watch.quiet(t, 4*time.Second)
		require.NoError(t, back.Disconnect(&paho.Disconnect{ReasonCode: 0}))
		watch.quiet(t, 300*time.Millisecond)
	})
	t.Run("session end comes first", func(t *testing.T) {
		t.Parallel()
		_, addr := loomtest.Start(t, loom.Options{})
		watch, _ := connectV5(t, addr, v5Conf{id: "wd-watch"})
		watch.sub(t, v5Opt("wd/#", 1))
		// Session Expiry 0: the session ends with the connection, long
		// before the hour of will delay.
		c, _ := connectV5(t, addr, v5Conf{id: "wd-end", will: v5Will("wd/end", false), willProps: v5WillDelay(3600)})
		c.cut()
		require.Equal(t, "gone:wd/end", string(watch.recv(t).Payload))
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
			watch, _ := connectV5(t, addr, v5Conf{id: "to-watch"})
			watch.sub(t, v5Opt("to/#", 1))
			old, _ := connectV5(t, addr, v5Conf{id: "to-id", keep: true, expiry: 60,
				will: v5Will("to/old", false), willProps: v5WillDelay(tc.delay)})
			_, _ = connectV5(t, addr, v5Conf{id: "to-id", keep: true, expiry: 60})
			select {
			case <-old.Done():
			case <-time.After(v5Wait):
				t.Fatal("the old connection was not closed")
			}
			if tc.published {
				require.Equal(t, "gone:to/old", string(watch.recv(t).Payload))
				return
			}
			watch.quiet(t, 2500*time.Millisecond)
		})
	}
}
