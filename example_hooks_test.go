package loom_test

import (
	"context"
	"fmt"
	"log"
	"sync/atomic"
	"time"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/proto"
)

// started runs a broker on a free loopback port for an example, without
// $SYS (whose updates would reach the examples' hooks and subscriptions).
func started(hooks ...loom.Hook) *loom.Server {
	srv, err := loom.New(loom.Options{Listeners: []loom.Listener{{Address: "tcp://127.0.0.1:0"}}, SysInterval: -1, Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	for _, h := range hooks {
		if err := srv.AddHook(h, nil); err != nil {
			log.Fatal(err)
		}
	}
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	return srv
}

// tagger stamps every message with a user property and keeps messages
// under "private/" away from everyone.
type tagger struct {
	loom.HookBase
	seen atomic.Int64
}

func (*tagger) ID() string                 { return "tagger" }
func (*tagger) Provides(e loom.Event) bool { return e == loom.OnPublish }
func (t *tagger) OnPublish(cl loom.ClientInfo, pk *proto.Publish) (*proto.Publish, error) {
	t.seen.Add(1)
	if len(pk.Topic) >= 8 && string(pk.Topic[:8]) == "private/" {
		return nil, loom.ErrRejectPacket // dropped quietly
	}
	out := *pk // replace, never modify what the broker gave
	out.Props.User = append(append([]proto.UserProperty(nil), pk.Props.User...),
		proto.UserProperty{Key: []byte("via"), Value: []byte("gateway")})
	out.Props.Set(proto.PropUserProperty)
	return &out, nil
}

func ExampleServer_AddHook() {
	tag := &tagger{}
	srv := started(tag) // hooks go in before Start, to see every event
	defer srv.Close(context.Background())

	got := make(chan loom.InlineMessage, 2)
	if err := srv.Subscribe("#", 1, func(m loom.InlineMessage) { got <- m }); err != nil {
		log.Fatal(err)
	}
	_ = srv.Publish("private/key", []byte("secret"), false, 0)
	_ = srv.Publish("status", []byte("up"), false, 0)
	m := <-got
	fmt.Println(m.Topic, string(m.Payload), string(m.Props.User[0].Key), string(m.Props.User[0].Value))
	fmt.Println("messages the hook saw:", tag.seen.Load())
	// Output:
	// status up via gateway
	// messages the hook saw: 2
}

func ExampleServer_Publish() {
	srv := started()
	defer srv.Close(context.Background())
	// Retained: a subscriber that comes later gets it at once.
	if err := srv.Publish("config/rate", []byte("10s"), true, 1); err != nil {
		log.Fatal(err)
	}
	got := make(chan loom.InlineMessage, 1)
	if err := srv.Subscribe("config/#", 1, func(m loom.InlineMessage) { got <- m }); err != nil {
		log.Fatal(err)
	}
	m := <-got
	fmt.Println(m.Topic, string(m.Payload), "retained:", m.Retain, "stored:", m.Stored)
	// A topic name with a wildcard is not one to publish to.
	fmt.Println(srv.Publish("config/+", nil, false, 0))
	// Output:
	// config/rate 10s retained: true stored: true
	// loom: not a valid topic name to publish to: "config/+"
}

func ExampleServer_Subscribe() {
	srv := started()
	defer srv.Close(context.Background())
	// The handler runs on the subscription's own goroutine, one message
	// at a time: it may take its time without holding up the broker.
	got := make(chan string, 3)
	err := srv.Subscribe("sensors/+/temp", 7, func(m loom.InlineMessage) {
		got <- fmt.Sprintf("%s=%s (qos %d, id %d)", m.Topic, m.Payload, m.QoS, m.SubscriptionID)
	})
	if err != nil {
		log.Fatal(err)
	}
	_ = srv.Publish("sensors/a/temp", []byte("21.5"), false, 1)
	_ = srv.Publish("sensors/b/temp", []byte("19.0"), false, 0)
	fmt.Println(<-got)
	fmt.Println(<-got)
	// Output:
	// sensors/a/temp=21.5 (qos 1, id 7)
	// sensors/b/temp=19.0 (qos 0, id 7)
}

func ExampleServer_Unsubscribe() {
	srv := started()
	defer srv.Close(context.Background())
	var n atomic.Int64
	_ = srv.Subscribe("jobs", 1, func(loom.InlineMessage) { n.Add(1) })
	fmt.Println(srv.Unsubscribe("jobs", 1))
	fmt.Println(srv.Unsubscribe("jobs", 1))
	_ = srv.Publish("jobs", []byte("x"), false, 0)
	time.Sleep(20 * time.Millisecond)
	fmt.Println("received after:", n.Load())
	// Output:
	// <nil>
	// loom: no inline subscription with this filter and id
	// received after: 0
}

func ExampleServer_InjectPacket() {
	srv := started()
	defer srv.Close(context.Background())
	c, err := mqttConnect(srv.Addrs()[0], "device-9", false)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	got := make(chan string, 1)
	_ = srv.Subscribe("telemetry/#", 1, func(m loom.InlineMessage) { got <- m.Topic + " " + string(m.Payload) })

	// As if device-9 had sent this PUBLISH itself: its hooks, ACLs and
	// counters apply.
	err = srv.InjectPacket("device-9", &proto.Publish{Topic: []byte("telemetry/9"), Payload: []byte("ok")})
	fmt.Println(err)
	fmt.Println(<-got)
	fmt.Println(srv.InjectPacket("device-10", &proto.Publish{Topic: []byte("x")}))
	// Output:
	// <nil>
	// telemetry/9 ok
	// loom: no client connected with that id
}

func ExampleServer_PublishMessage() {
	srv := started()
	defer srv.Close(context.Background())
	got := make(chan loom.InlineMessage, 1)
	_ = srv.Subscribe("rpc/reply", 1, func(m loom.InlineMessage) { got <- m })

	props := &proto.Properties{ContentType: []byte("application/json"), CorrelationData: []byte("req-42")}
	props.Set(proto.PropContentType)
	props.Set(proto.PropCorrelationData)
	err := srv.PublishMessage(loom.InlinePublish{Topic: "rpc/reply", Payload: []byte(`{"ok":true}`), QoS: 1, Props: props})
	fmt.Println(err)
	m := <-got
	fmt.Println(string(m.Payload), string(m.Props.ContentType), string(m.Props.CorrelationData))
	// Output:
	// <nil>
	// {"ok":true} application/json req-42
}

func ExampleEvents() {
	ev := loom.Events()
	fmt.Println(len(ev), "events, from", ev[0], "to", ev[len(ev)-1])
	// Output:
	// 32 events, from OnStarted to OnRetainedExpired
}
