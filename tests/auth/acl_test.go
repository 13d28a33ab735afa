package auth_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/tests/internal/pahotest"
)

// noSubscribe is the ACL the Eclipse Paho interoperability suites expect
// of a broker: no one may subscribe to test/nosubscribe, and here no one
// may publish under test/nopublish.
type noSubscribe struct{ loom.HookBase }

func (noSubscribe) ID() string                 { return "nosubscribe" }
func (noSubscribe) Provides(e loom.Event) bool { return e == loom.OnACLCheck }
func (noSubscribe) OnACLCheck(_ loom.ClientInfo, topic string, write bool, _ loom.Answer) loom.Verdict {
	if (!write && topic == "test/nosubscribe") || (write && strings.HasPrefix(topic, "test/nopublish")) {
		return loom.Refuse
	}
	return loom.Allow
}

// A refused subscription gets SUBACK 0x80 in 3.1.1 (its one failure
// code [MQTT-3.9.3-2 v3.1.1]) and 0x87 Not authorized in v5, beside the granted
// filters of the same SUBSCRIBE, in their order [MQTT-3.9.3-1].
func TestRefusedSubscriptionCodes(t *testing.T) {
	srv, addr := loomtest.Start(t, loom.Options{}, noSubscribe{})

	v3, _ := pahotest.V3Connect(t, pahotest.V3Options(addr, "v3"))
	tok := v3.SubscribeMultiple(map[string]byte{"test/nosubscribe": 1, "test/ok": 1}, nil)
	pahotest.V3Done(t, tok)
	res := tok.(*mqtt3.SubscribeToken).Result()
	require.Equal(t, byte(0x80), res["test/nosubscribe"])
	require.Equal(t, byte(1), res["test/ok"])

	v5, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "v5"})
	ctx, cancel := context.WithTimeout(context.Background(), loomtest.Wait)
	defer cancel()
	ack, err := v5.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
		{Topic: "test/nosubscribe", QoS: 1}, {Topic: "test/ok", QoS: 2}}})
	// paho.golang reports a SUBACK with a failure code as an error too.
	require.NotNil(t, ack, "%v", err)
	require.Equal(t, []byte{0x87, 2}, ack.Reasons)
	require.Equal(t, int64(2), srv.Stats().ACLDenied)
}

// A refused PUBLISH: v5 QoS 1 gets PUBACK 0x87 and QoS 2 PUBREC 0x87; a
// 3.1.1 client, which has no code for it, gets its acknowledgement as if
// delivered [MQTT-3.3.5-2 v3.1.1]; QoS 0 is dropped. Subscribers see none of them.
func TestRefusedPublish(t *testing.T) {
	srv, addr := loomtest.Start(t, loom.Options{}, noSubscribe{})
	sub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "sub"})
	sub.Sub(t, pahotest.V5Opt("test/#", 2))

	raw := loomtest.Dial(t, addr, proto.V5)
	raw.Connect("pub5", nil)
	raw.Send(&proto.Publish{Topic: []byte("test/nopublish"), Payload: []byte("1"), QoS: 1, PacketID: 1})
	require.Equal(t, proto.NotAuthorized, raw.ReadAck(proto.PUBACK).Reason)
	raw.Send(&proto.Publish{Topic: []byte("test/nopublish/2"), Payload: []byte("2"), QoS: 2, PacketID: 2})
	require.Equal(t, proto.NotAuthorized, raw.ReadAck(proto.PUBREC).Reason)
	// The failed PUBREC ended the flow: the id is free again [MQTT-4.3.3-9].
	raw.Send(&proto.Publish{Topic: []byte("test/ok"), Payload: []byte("3"), QoS: 2, PacketID: 2})
	require.Equal(t, proto.Success, raw.ReadAck(proto.PUBREC).Reason)
	raw.Send(&proto.Publish{Topic: []byte("test/nopublish"), Payload: []byte("0")})

	v3, _ := pahotest.V3Connect(t, pahotest.V3Options(addr, "pub3"))
	pahotest.V3Publish(t, v3, "test/nopublish", 1, false, "3.1.1") // PUBACK as usual

	require.Equal(t, "3", string(sub.Recv(t).Payload))
	sub.Quiet(t, 200*time.Millisecond)
	require.Equal(t, int64(4), srv.Stats().ACLDenied)
}
