package interop_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/config"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/tests/internal/pahotest"
)

// The Eclipse Paho interoperability suites (paho.mqtt.testing,
// interoperability/client_test.py and client_test5.py) run against a broker
// configured to cap keep alive at 60 s and to refuse subscriptions to
// test/nosubscribe. What they check of those two settings is checked here,
// with the broker built from such a configuration file as the binary and
// embedders build it (package config): Server Keep Alive 60 for a client
// asking for none; a client asking for 5 s still noticed gone within 15 s,
// its will sent (test_keepalive, test_will_message: a cap, not a
// replacement); test/nosubscribe refused in SUBACK, in both versions.

const pahoSuiteConfig = `
listeners:
  - {id: mqtt, type: tcp, address: 127.0.0.1:0}
mqtt:
  server_keep_alive: 60s
storage: {memory: true}
auth:
  ledger:
    auth_default: allow
    acl_default: allow
    acl:
      - filters:
          - {filter: test/nosubscribe, access: write}
`

// pahoSuiteBroker starts the broker pahoSuiteConfig describes, from a file.
func pahoSuiteBroker(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "loom.yaml")
	require.NoError(t, os.WriteFile(path, []byte(pahoSuiteConfig), 0o600))
	c, err := config.Load(path)
	require.NoError(t, err)
	c.Options.Logger = loomtest.Quiet
	srv, err := loom.New(c.Options)
	require.NoError(t, err)
	_, err = c.AddHooks(srv)
	require.NoError(t, err)
	require.NoError(t, srv.Start())
	t.Cleanup(func() { _ = srv.Close(context.Background()) })
	return srv.Addrs()[0].String()
}

func TestPahoSuiteServerKeepAlive(t *testing.T) {
	t.Parallel()
	addr := pahoSuiteBroker(t)

	// client_test5 test_server_keep_alive: a client asking for no keep
	// alive (the suite's default) is told 60 [MQTT-3.2.2-22]; so is one
	// asking for longer.
	for _, asked := range []uint16{0, 120} {
		c := loomtest.Dial(t, addr, proto.V5)
		ack := c.Connect("ska", func(p *proto.Connect) { p.KeepAlive = asked })
		require.True(t, ack.Props.Has(proto.PropServerKeepAlive), "asked %d", asked)
		require.EqualValues(t, 60, ack.Props.ServerKeepAlive, "asked %d", asked)
	}
	// One asking for less keeps its own: nothing to tell.
	c := loomtest.Dial(t, addr, proto.V5)
	ack := c.Connect("ska-short", func(p *proto.Connect) { p.KeepAlive = 30 })
	require.False(t, ack.Props.Has(proto.PropServerKeepAlive))

	// test_keepalive and test_will_message: a client that asked for a short
	// keep alive and goes silent is closed after 1.5 times it
	// [MQTT-3.1.2-22] (v5) [MQTT-3.1.2-24 v3.1.1], within the suite's
	// wait, and its will goes to a subscriber.
	for _, v := range []proto.Version{proto.V5, proto.V311} {
		watcher, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "watcher-" + v.String()})
		topic := "test/will/" + v.String()
		watcher.Sub(t, pahotest.V5Opt(topic, 1))
		silent := loomtest.Dial(t, addr, v)
		silent.Connect("silent-"+v.String(), func(p *proto.Connect) {
			p.KeepAlive = 1
			p.WillFlag, p.WillQoS, p.WillTopic, p.WillPayload = true, 1, []byte(topic), []byte("keepalive expiry")
		})
		start := time.Now()
		got := watcher.Recv(t)
		require.Equal(t, "keepalive expiry", string(got.Payload))
		require.Less(t, time.Since(start), 15*time.Second, "%s: the suite waits 15 s", v)
		require.GreaterOrEqual(t, time.Since(start), time.Second, "%s: closed before its keep alive ran out", v)
	}
}

func TestPahoSuiteSubscribeFailure(t *testing.T) {
	t.Parallel()
	addr := pahoSuiteBroker(t)

	// client_test5 test_subscribe_failure: a failure code for
	// test/nosubscribe, the other filter of the same SUBSCRIBE granted,
	// one code per filter in order [MQTT-3.9.3-1].
	c5, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "sub-failure-5"})
	ctx, cancel := context.WithTimeout(context.Background(), loomtest.Wait)
	defer cancel()
	ack, err := c5.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
		{Topic: "test/nosubscribe", QoS: 2}, {Topic: "test/ok", QoS: 2}}})
	if err != nil && ack == nil {
		require.NoError(t, err)
	}
	require.Equal(t, []byte{byte(proto.NotAuthorized), 2}, ack.Reasons)

	// client_test.py test_subscribe_failure: 0x80 in 3.1.1
	// [MQTT-3.9.3-1 v3.1.1].
	c3, _ := pahotest.V3Connect(t, pahotest.V3Options(addr, "sub-failure-3"))
	tok := c3.SubscribeMultiple(map[string]byte{"test/nosubscribe": 2, "test/ok": 2}, nil)
	pahotest.V3Done(t, tok)
	res := tok.(*mqtt3.SubscribeToken).Result()
	require.Equal(t, byte(0x80), res["test/nosubscribe"])
	require.Equal(t, byte(2), res["test/ok"])

	// Publishing to it is not refused (the suite's topic is for
	// subscriptions only).
	pahotest.V3Publish(t, c3, "test/nosubscribe", 1, false, "allowed")
}
