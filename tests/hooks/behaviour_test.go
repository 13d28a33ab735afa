package hooks_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/tests/internal/pahotest"
)

// editor changes and refuses messages in OnPublish, and lowers granted
// QoS in OnSubscribe.
type editor struct{ loom.HookBase }

func (*editor) ID() string { return "editor" }
func (*editor) Provides(e loom.Event) bool {
	return e == loom.OnPublish || e == loom.OnSubscribe
}
func (*editor) OnPublish(_ loom.ClientInfo, pk *proto.Publish) (*proto.Publish, error) {
	switch string(pk.Topic) {
	case "in/rename":
		out := *pk
		out.Topic, out.Payload = []byte("out/renamed"), []byte("edited:"+string(pk.Payload))
		out.Props.ContentType = []byte("text/edited")
		out.Props.Set(proto.PropContentType)
		return &out, nil
	case "in/drop":
		return nil, loom.ErrRejectPacket
	case "in/refuse":
		return nil, proto.Errorf(proto.NotAuthorized, "not here")
	}
	return pk, nil
}
func (*editor) OnSubscribe(_ loom.ClientInfo, pk *proto.Subscribe) *proto.Subscribe {
	out := *pk
	out.Subscriptions = append([]proto.Subscription(nil), pk.Subscriptions...)
	for i := range out.Subscriptions {
		out.Subscriptions[i].QoS = 0 // everything at most once
	}
	return &out
}

// A hook changes a message's topic, payload and properties, drops one
// quietly and refuses one with a reason code the v5 publisher receives; it
// lowers a subscription's QoS, and the SUBACK says so.
func TestHookModifiesAndRejectsOverPaho(t *testing.T) {
	_, addr := loomtest.Start(t, loom.Options{}, &editor{})
	sub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "sub"})
	ctx, cancel := context.WithTimeout(context.Background(), loomtest.Wait)
	defer cancel()
	ack, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "out/#", QoS: 2}}})
	require.NoError(t, err)
	require.Equal(t, []byte{0}, ack.Reasons, "OnSubscribe lowered the QoS")

	pub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "pub"})
	pub.Say(t, "in/rename", 1, false, "x")
	got := sub.Recv(t)
	require.Equal(t, "out/renamed", got.Topic)
	require.Equal(t, "edited:x", string(got.Payload))
	require.Equal(t, "text/edited", got.Properties.ContentType)
	require.Equal(t, byte(0), got.QoS)

	pub.Say(t, "in/drop", 1, false, "gone") // acknowledged as if delivered
	r, err := pub.Publish(ctx, &paho.Publish{Topic: "in/refuse", QoS: 1, Payload: []byte("no")})
	// paho.golang returns a PUBACK with a failure code together with an error.
	require.NotNil(t, r, "%v", err)
	require.Equal(t, byte(proto.NotAuthorized), r.ReasonCode)
	sub.Quiet(t, 200*time.Millisecond)
}

// A hook panicking in every event: the broker goes on serving real
// clients, and a panicking authentication is a refusal.
func TestPanickingHookBrokerServes(t *testing.T) {
	log := &eventLog{}
	boom := &recorder{name: "boom", log: log, panic: true}
	boom.only = map[loom.Event]bool{}
	for _, e := range loom.Events() {
		if e != loom.OnConnectAuthenticate && e != loom.OnACLCheck {
			boom.only[e] = true
		}
	}
	srv, addr := loomtest.Start(t, loom.Options{SysInterval: 20 * time.Millisecond}, boom)
	sub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "sub"})
	sub.Sub(t, pahotest.V5Opt("t/#", 1))
	pub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "pub"})
	for i := range 3 {
		pub.Say(t, "t/x", 1, i == 0, fmt.Sprint(i))
		require.Equal(t, fmt.Sprint(i), string(sub.Recv(t).Payload))
	}
	in := pahotest.NewV3Inbox()
	v3, _ := pahotest.V3Connect(t, pahotest.V3Options(addr, "v3"))
	pahotest.V3Subscribe(t, v3, "t/#", 1, in)
	require.Equal(t, "0", string(in.Next(t).Payload()), "the retained message")
	pub.Say(t, "t/y", 1, false, "to both")
	require.Equal(t, "to both", string(in.Next(t).Payload()))
	require.Greater(t, srv.Stats().HookPanics, int64(20))

	// Authentication that panics refuses the client.
	_, addr2 := loomtest.Start(t, loom.Options{}, &recorder{name: "authboom", log: log, panic: true,
		only: map[loom.Event]bool{loom.OnConnectAuthenticate: true}})
	c := loomtest.Dial(t, addr2, proto.V5)
	c.Send(&proto.Connect{Version: proto.V5, ClientID: []byte("x"), CleanStart: true})
	require.Equal(t, proto.BadUserNameOrPassword, loomtest.Expect[*proto.Connack](c).Reason)

	// So is an ACL check that panics: SUBACK and PUBACK say 0x87.
	_, addr3 := loomtest.Start(t, loom.Options{}, &recorder{name: "aclboom", log: log, panic: true,
		only: map[loom.Event]bool{loom.OnACLCheck: true}})
	d := loomtest.Dial(t, addr3, proto.V5)
	d.Connect("y", nil)
	d.Send(&proto.Subscribe{PacketID: 1, Subscriptions: []proto.Subscription{{Filter: []byte("a"), QoS: 1}}})
	require.Equal(t, []proto.ReasonCode{proto.NotAuthorized}, loomtest.Expect[*proto.Suback](d).Reasons)
	d.Send(&proto.Publish{Topic: []byte("a"), QoS: 1, PacketID: 2, Payload: []byte("x")})
	require.Equal(t, proto.NotAuthorized, d.ReadAck(proto.PUBACK).Reason)
}

// laterAuth answers authentication for "slow" later, through the Answer it
// keeps; everyone else at once.
type laterAuth struct {
	loom.HookBase
	answer chan loom.Answer
}

func (*laterAuth) ID() string                 { return "later" }
func (*laterAuth) Provides(e loom.Event) bool { return e == loom.OnConnectAuthenticate }
func (h *laterAuth) OnConnectAuthenticate(cl loom.ClientInfo, _ *proto.Connect, a loom.Answer) loom.Verdict {
	if cl.ID != "slow" {
		return loom.Allow
	}
	h.answer <- a
	return loom.Later
}

// An authentication decided later (as an HTTP backend would) holds its
// client in CONNECT while another client on the same event loop goes on
// exchanging messages.
func TestAsyncAuthDoesNotStallTheLoop(t *testing.T) {
	auth := &laterAuth{answer: make(chan loom.Answer, 1)}
	_, addr := loomtest.Start(t, loom.Options{Loops: 1}, auth)
	busy, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "busy"})
	busy.Sub(t, pahotest.V5Opt("echo", 1))

	type result struct {
		ack *paho.Connack
		err error
	}
	done := make(chan result, 1)
	go func() {
		conn, err := (&loomtest.Dialer{}).Dial(context.Background(), addr)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer conn.Close()
		c := paho.NewClient(paho.ClientConfig{ClientID: "slow", Conn: conn.NetConn()})
		ctx, cancel := context.WithTimeout(context.Background(), loomtest.Wait)
		defer cancel()
		ack, err := c.Connect(ctx, &paho.Connect{ClientID: "slow", CleanStart: true, KeepAlive: 30})
		done <- result{ack, err}
	}()
	var answer loom.Answer
	select {
	case answer = <-auth.answer:
	case <-time.After(loomtest.Wait):
		t.Fatal("the hook was not asked")
	}
	for i := range 20 { // the one loop keeps serving
		busy.Say(t, "echo", 1, false, fmt.Sprint(i))
		require.Equal(t, fmt.Sprint(i), string(busy.Recv(t).Payload))
	}
	select {
	case <-done:
		t.Fatal("the waiting client got its CONNACK before the answer")
	default:
	}
	go answer(true)
	r := <-done
	require.NoError(t, r.err)
	require.Equal(t, byte(0), r.ack.ReasonCode)
}

// An inline QoS 1 subscription whose handler is slow: every message of
// network publishers reaches it, in order, and no loop waits for it (a
// network subscriber of the same topic is served meanwhile).
func TestInlineQoS1SlowHandlerOverNetwork(t *testing.T) {
	srv, addr := loomtest.Start(t, loom.Options{Loops: 1})
	release := make(chan struct{})
	var mu sync.Mutex
	var got []string
	require.NoError(t, srv.Subscribe("work/#", 1, func(m loom.InlineMessage) {
		<-release
		mu.Lock()
		got = append(got, string(m.Payload))
		mu.Unlock()
	}))
	net, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "net"})
	net.Sub(t, pahotest.V5Opt("work/#", 1))
	pub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "pub"})
	const n = 500
	for i := range n {
		pub.Say(t, "work/t", 1, false, fmt.Sprint(i))
	}
	require.Len(t, net.RecvN(t, n), n, "the network subscriber was served while the handler waited")
	close(release)
	loomtest.Eventually(t, "the inline handler got every message", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == n
	})
	for i := range n {
		require.Equal(t, fmt.Sprint(i), got[i])
	}
}

// A shared group whose members are an inline subscription and a network
// client: each message goes to one of them, round-robin.
func TestSharedGroupInlineAndNetwork(t *testing.T) {
	srv, addr := loomtest.Start(t, loom.Options{})
	var inline atomic.Int64
	require.NoError(t, srv.Subscribe("$share/workers/jobs", 1, func(loom.InlineMessage) { inline.Add(1) }))
	worker, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "worker"})
	worker.Sub(t, pahotest.V5Opt("$share/workers/jobs", 1))
	pub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "pub"})
	for i := range 20 {
		pub.Say(t, "jobs", 1, false, fmt.Sprint(i))
	}
	toNet := len(worker.RecvN(t, 10))
	loomtest.Eventually(t, "10 jobs inline", func() bool { return inline.Load() == 10 })
	worker.Quiet(t, 200*time.Millisecond)
	require.Equal(t, 10, toNet)
}

// InjectPacket: a SUBSCRIBE and a PUBLISH processed as if a live client
// had sent them.
func TestInjectPacketForALiveClient(t *testing.T) {
	srv, addr := loomtest.Start(t, loom.Options{})
	dev := loomtest.Dial(t, addr, proto.V5)
	dev.Connect("device", nil)
	watcher, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "watcher"})
	watcher.Sub(t, pahotest.V5Opt("from/device", 0))

	require.NoError(t, srv.InjectPacket("device", &proto.Subscribe{PacketID: 77,
		Subscriptions: []proto.Subscription{{Filter: []byte("to/device"), QoS: 1}}}))
	sa := loomtest.Expect[*proto.Suback](dev)
	require.Equal(t, uint16(77), sa.PacketID)
	require.Equal(t, []proto.ReasonCode{1}, sa.Reasons)
	require.NoError(t, srv.Publish("to/device", []byte("command"), false, 1))
	require.Equal(t, "command", string(dev.ReadPublish().Payload))

	require.NoError(t, srv.InjectPacket("device", &proto.Publish{Topic: []byte("from/device"), Payload: []byte("reading")}))
	require.Equal(t, "reading", string(watcher.Recv(t).Payload))
	require.ErrorIs(t, srv.InjectPacket("nobody", &proto.Publish{Topic: []byte("x")}), loom.ErrNoClient)
}

// watch records what OnPublish sees and what the retained store got.
type watch struct {
	loom.HookBase
	mu   sync.Mutex
	seen map[string]loom.ClientInfo
}

func (*watch) ID() string                 { return "watch" }
func (*watch) Provides(e loom.Event) bool { return e == loom.OnPublish }
func (w *watch) OnPublish(cl loom.ClientInfo, pk *proto.Publish) (*proto.Publish, error) {
	w.mu.Lock()
	w.seen[string(pk.Topic)] = cl
	w.mu.Unlock()
	return pk, nil
}
func (w *watch) saw(topic string) (loom.ClientInfo, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	cl, ok := w.seen[topic]
	return cl, ok
}

// Wills obey the rules client publishes do: OnPublish sees them as their
// client, their expiry interval runs from when they are published, a
// retained one is kept for later subscribers, and none may write $SYS.
func TestWillsTakeThePublishPath(t *testing.T) {
	w := &watch{seen: map[string]loom.ClientInfo{}}
	srv, addr := loomtest.Start(t, loom.Options{}, w)
	// An offline persistent subscriber, to see the expiry run.
	off, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "off", Expiry: 60})
	off.Sub(t, pahotest.V5Opt("wills/#", 1))
	require.NoError(t, off.Disconnect(&paho.Disconnect{}))
	// Offline for the broker too: a message in flight would be sent again
	// on its return even expired, its delivery having begun.
	loomtest.Eventually(t, "off offline", func() bool { return srv.Stats().Connected == 0 })

	// A raw client: paho.golang v0.23 leaves Will Properties out of its
	// CONNECT.
	dev := loomtest.Dial(t, addr, proto.V5)
	dev.Connect("dev", func(c *proto.Connect) {
		c.WillFlag, c.WillRetain, c.WillQoS = true, true, 1
		c.WillTopic, c.WillPayload = []byte("wills/dev"), []byte("lost")
		c.WillProps.MessageExpiry = 1
		c.WillProps.Set(proto.PropMessageExpiry)
	})
	require.NoError(t, dev.Conn.Close())
	loomtest.Eventually(t, "OnPublish sees the will", func() bool { _, ok := w.saw("wills/dev"); return ok })
	cl, _ := w.saw("wills/dev")
	require.Equal(t, "dev", cl.ID)

	// The retained will reaches a later subscriber at once...
	late, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "late"})
	late.Sub(t, pahotest.V5Opt("wills/#", 0))
	require.Equal(t, "lost", string(late.Recv(t).Payload))
	// ...and the queued copy expired for the subscriber that came back late.
	time.Sleep(1100 * time.Millisecond)
	back, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "off", Keep: true, Expiry: 60})
	back.Quiet(t, 300*time.Millisecond)

	// A will to $SYS is never published.
	bad, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "bad",
		Will: &paho.WillMessage{Topic: "$SYS/fake", Payload: []byte("x")}})
	sys, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "sys"})
	sys.Sub(t, pahotest.V5Opt("$SYS/fake", 0))
	bad.Cut()
	sys.Quiet(t, 300*time.Millisecond)
}

// $SYS values take the same path: OnPublish sees them (as the inline
// client), they are retained for a new subscriber.
func TestSysTakesThePublishPath(t *testing.T) {
	w := &watch{seen: map[string]loom.ClientInfo{}}
	_, addr := loomtest.Start(t, loom.Options{SysInterval: 20 * time.Millisecond}, w)
	// A value that changes once the hook is in: the first tick's may have
	// come before AddHook.
	sub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "s"})
	loomtest.Eventually(t, "OnPublish sees $SYS", func() bool { _, ok := w.saw("$SYS/broker/clients/connected"); return ok })
	cl, _ := w.saw("$SYS/broker/clients/connected")
	require.Equal(t, loom.InlineClientID, cl.ID)
	require.True(t, cl.Inline)
	sub.Sub(t, pahotest.V5Opt("$SYS/broker/version", 0))
	p := sub.Recv(t)
	require.True(t, p.Retain, "retained for a new subscriber")
}

// The inline client's publishes take the same path: OnPublish, retained,
// and a message expiry capped by the broker's maximum and counted down.
func TestInlinePublishTakesThePublishPath(t *testing.T) {
	w := &watch{seen: map[string]loom.ClientInfo{}}
	srv, addr := loomtest.Start(t, loom.Options{Limits: loom.Limits{MaxMessageExpiry: 2 * time.Second}}, w)
	props := &proto.Properties{MessageExpiry: 3600}
	props.Set(proto.PropMessageExpiry)
	require.NoError(t, srv.PublishMessage(loom.InlinePublish{Topic: "inline/r", Payload: []byte("v"), Retain: true, QoS: 1, Props: props}))
	_, ok := w.saw("inline/r")
	require.True(t, ok)
	sub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "s"})
	sub.Sub(t, pahotest.V5Opt("inline/#", 1))
	p := sub.Recv(t)
	require.True(t, p.Retain)
	require.NotNil(t, p.Properties.MessageExpiry)
	require.LessOrEqual(t, *p.Properties.MessageExpiry, uint32(2), "capped by MaxMessageExpiry")
	time.Sleep(2100 * time.Millisecond)
	late, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "l"})
	late.Sub(t, pahotest.V5Opt("inline/#", 1))
	late.Quiet(t, 300*time.Millisecond) // expired: no longer retained

	require.Error(t, srv.Publish("bad/+/topic", nil, false, 0))
	require.True(t, errors.Is(srv.Publish("ok", nil, false, 3), loom.ErrInlineQoS))
}
