package auth_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/eclipse/paho.golang/paho"
	mqtt3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/hooks/ledger"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/tests/internal/pahotest"
)

// A Mochi MQTT ledger file, as a Mochi user has it, that denies
// subscriptions to test/nosubscribe (access 0): the Eclipse Paho
// interoperability suites expect SUBACK 0x80 from a 3.1.1 broker and 0x87
// from a v5 one [MQTT-3.9.3-2 v3.1.1]. Reloaded with a file that allows
// it, the next SUBSCRIBE of the same connected clients is granted.
func TestLedgerDeniesNoSubscribe(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "ledger.yaml")
	write := func(access int) {
		data := "auth:\n  - allow: true\nacl:\n  - filters:\n      test/nosubscribe: " + string(rune('0'+access)) + "\n      test/#: 3\n"
		require.NoError(t, os.WriteFile(file, []byte(data), 0o600))
	}
	write(0)
	l, err := ledger.LoadFile(file)
	require.NoError(t, err)
	h := ledger.New(l)
	_, addr := loomtest.Start(t, loom.Options{}, h)

	v3, _ := pahotest.V3Connect(t, pahotest.V3Options(addr, "v3"))
	sub3 := func() byte {
		tok := v3.Subscribe("test/nosubscribe", 1, nil)
		pahotest.V3Done(t, tok)
		return tok.(*mqtt3.SubscribeToken).Result()["test/nosubscribe"]
	}
	v5, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "v5"})
	sub5 := func() byte {
		ctx, cancel := context.WithTimeout(context.Background(), loomtest.Wait)
		defer cancel()
		ack, err := v5.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "test/nosubscribe", QoS: 1}}})
		require.NotNil(t, ack, "%v", err)
		return ack.Reasons[0]
	}
	require.Equal(t, byte(0x80), sub3())
	require.Equal(t, byte(0x87), sub5())

	write(3)
	l, err = ledger.LoadFile(file)
	require.NoError(t, err)
	h.Reload(l) // no connection dropped; the next packet sees the new rules
	require.Equal(t, byte(1), sub3())
	require.Equal(t, byte(1), sub5())
}
