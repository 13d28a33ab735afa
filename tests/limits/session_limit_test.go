package limits_test

import (
	"testing"

	mqtt3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/tests/internal/pahotest"
)

// TestSessionExpiryDefaultMaximum: a broker with default options keeps a
// session that asked for "never" (0xFFFFFFFF) 7 days, and tells the v5
// client so in CONNACK (section 3.2.2.3.2).
func TestSessionExpiryDefaultMaximum(t *testing.T) {
	_, addr := loomtest.Start(t, loom.Options{})
	_, ack := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "forever", Expiry: 0xFFFFFFFF})
	require.NotNil(t, ack.Properties)
	require.NotNil(t, ack.Properties.SessionExpiryInterval)
	require.EqualValues(t, 7*24*3600, *ack.Properties.SessionExpiryInterval)
}

func TestPersistentSessionLimit(t *testing.T) {
	srv, addr := loomtest.Start(t, loom.Options{Limits: loom.Limits{MaxPersistentSessions: 2}})
	_, ack := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "kept-5", Keep: true, Expiry: 3600})
	require.True(t, ack.Properties == nil || ack.Properties.SessionExpiryInterval == nil)
	v3, _ := pahotest.V3Connect(t, pahotest.V3Options(addr, "kept-3").SetCleanSession(false))
	v3.Disconnect(50) // offline, its session kept

	t.Run("v5 past the limit is given Session Expiry 0", func(t *testing.T) {
		c, ack := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "late-5", Keep: true, Expiry: 3600})
		require.NotNil(t, ack.Properties)
		require.NotNil(t, ack.Properties.SessionExpiryInterval, "section 3.2.2.3.2: the client is told")
		require.Zero(t, *ack.Properties.SessionExpiryInterval)
		sessions := srv.Stats().Sessions
		c.Cut()
		// Once the broker has ended the session with its connection (a
		// reconnect before that would take over the live session), nothing
		// was kept: back again, there is no session [MQTT-3.2.2-3].
		loomtest.Eventually(t, "the session ends with its connection", func() bool {
			return srv.Stats().Sessions == sessions-1
		})
		_, ack = pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "late-5", Keep: true, Expiry: 3600})
		require.False(t, ack.SessionPresent)
	})
	t.Run("v3.1.1 past the limit gets return code 3", func(t *testing.T) {
		c := mqtt3.NewClient(pahotest.V3Options(addr, "late-3").SetCleanSession(false))
		tok := c.Connect()
		require.True(t, tok.WaitTimeout(loomtest.Wait))
		require.Error(t, tok.Error())
		require.EqualValues(t, 3, tok.(*mqtt3.ConnectToken).ReturnCode(), "Server unavailable")
		// A clean session is not turned down.
		pahotest.V3Connect(t, pahotest.V3Options(addr, "late-3").SetCleanSession(true))
	})
	t.Run("existing sessions resume past the limit", func(t *testing.T) {
		_, present := pahotest.V3Connect(t, pahotest.V3Options(addr, "kept-3").SetCleanSession(false))
		require.True(t, present, "[MQTT-3.2.2-2]")
		_, ack := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "kept-5", Keep: true, Expiry: 3600})
		require.True(t, ack.SessionPresent, "[MQTT-3.2.2-2] taken over, still present")
		require.True(t, ack.Properties == nil || ack.Properties.SessionExpiryInterval == nil)
	})
}
