package session

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/router"
)

// recorder is a hook that provides every event and records each call as
// "name:event detail"; its methods can be overridden per test.
type recorder struct {
	HookBase
	name string
	mu   sync.Mutex
	log  []string
	// provides, when set, limits the events provided.
	provides map[Event]bool
	publish  func(cl ClientInfo, pk *proto.Publish) (*proto.Publish, error)
	auth     func(cl ClientInfo, pk *proto.Connect, a Answer) Verdict
	acl      func(cl ClientInfo, topic string, write bool, a Answer) Verdict
	panics   bool
}

func (r *recorder) ID() string { return r.name }
func (r *recorder) Provides(e Event) bool {
	return r.provides == nil || r.provides[e]
}

func (r *recorder) add(e Event, detail string) {
	if r.panics {
		panic("hook " + r.name + " fails in " + e.String())
	}
	r.mu.Lock()
	r.log = append(r.log, r.name+":"+e.String()+" "+detail)
	r.mu.Unlock()
}

func (r *recorder) events() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.log...)
}

// has reports whether some recorded line starts with prefix.
func (r *recorder) has(prefix string) bool {
	for _, l := range r.events() {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

func (r *recorder) OnStarted() { r.add(OnStarted, "") }
func (r *recorder) OnStopped() { r.add(OnStopped, "") }
func (r *recorder) OnConnectAuthenticate(cl ClientInfo, pk *proto.Connect, a Answer) Verdict {
	r.add(OnConnectAuthenticate, cl.ID+" "+string(pk.Username))
	if r.auth != nil {
		return r.auth(cl, pk, a)
	}
	return Allow
}
func (r *recorder) OnACLCheck(cl ClientInfo, topic string, write bool, a Answer) Verdict {
	r.add(OnACLCheck, fmt.Sprintf("%s %s %v", cl.ID, topic, write))
	if r.acl != nil {
		return r.acl(cl, topic, write, a)
	}
	return Allow
}
func (r *recorder) OnSysInfoTick(SysInfo) { r.add(OnSysInfoTick, "") }
func (r *recorder) OnConnect(cl ClientInfo, pk *proto.Connect) error {
	r.add(OnConnect, cl.ID)
	return nil
}
func (r *recorder) OnSessionEstablish(cl ClientInfo, _ *proto.Connect) {
	r.add(OnSessionEstablish, cl.ID)
}
func (r *recorder) OnSessionEstablished(cl ClientInfo, _ *proto.Connect) {
	r.add(OnSessionEstablished, cl.ID)
}
func (r *recorder) OnDisconnect(cl ClientInfo, err error, expire bool) {
	r.add(OnDisconnect, fmt.Sprintf("%s %v %v", cl.ID, err, expire))
}
func (r *recorder) OnPacketRead(cl ClientInfo, pk proto.Packet) (proto.Packet, error) {
	r.add(OnPacketRead, pk.PacketType().String())
	return pk, nil
}
func (r *recorder) OnPacketEncode(cl ClientInfo, pk proto.Packet) proto.Packet {
	r.add(OnPacketEncode, pk.PacketType().String())
	return pk
}
func (r *recorder) OnPacketSent(cl ClientInfo, pk proto.Packet, b []byte) {
	r.add(OnPacketSent, fmt.Sprintf("%v %d", pk.PacketType(), len(b)))
}
func (r *recorder) OnPacketProcessed(cl ClientInfo, pk proto.Packet, err error) {
	r.add(OnPacketProcessed, fmt.Sprintf("%v %v", pk.PacketType(), err))
}
func (r *recorder) OnSubscribe(cl ClientInfo, pk *proto.Subscribe) *proto.Subscribe {
	r.add(OnSubscribe, string(pk.Subscriptions[0].Filter))
	return pk
}
func (r *recorder) OnSubscribed(cl ClientInfo, pk *proto.Subscribe, rc []proto.ReasonCode) {
	r.add(OnSubscribed, fmt.Sprint(rc))
}
func (r *recorder) OnSelectSubscribers(pk *proto.Publish, subs []Recipient) []Recipient {
	r.add(OnSelectSubscribers, fmt.Sprintf("%s %d", pk.Topic, len(subs)))
	return subs
}
func (r *recorder) OnUnsubscribe(cl ClientInfo, pk *proto.Unsubscribe) *proto.Unsubscribe {
	r.add(OnUnsubscribe, string(pk.Filters[0]))
	return pk
}
func (r *recorder) OnUnsubscribed(cl ClientInfo, pk *proto.Unsubscribe) {
	r.add(OnUnsubscribed, string(pk.Filters[0]))
}
func (r *recorder) OnPublish(cl ClientInfo, pk *proto.Publish) (*proto.Publish, error) {
	r.add(OnPublish, cl.ID+" "+string(pk.Topic))
	if r.publish != nil {
		return r.publish(cl, pk)
	}
	return pk, nil
}
func (r *recorder) OnPublished(cl ClientInfo, pk *proto.Publish) {
	r.add(OnPublished, cl.ID+" "+string(pk.Topic))
}
func (r *recorder) OnPublishDropped(cl ClientInfo, pk *proto.Publish) {
	r.add(OnPublishDropped, cl.ID+" "+string(pk.Topic))
}
func (r *recorder) OnRetainMessage(cl ClientInfo, pk *proto.Publish, n int64) {
	r.add(OnRetainMessage, fmt.Sprintf("%s %d", pk.Topic, n))
}
func (r *recorder) OnRetainPublished(cl ClientInfo, pk *proto.Publish) {
	r.add(OnRetainPublished, cl.ID+" "+string(pk.Topic))
}
func (r *recorder) OnQosPublish(cl ClientInfo, pk *proto.Publish, sent int64, resends int) {
	r.add(OnQosPublish, fmt.Sprintf("%s %s %d", cl.ID, pk.Topic, resends))
}
func (r *recorder) OnQosComplete(cl ClientInfo, pk *proto.Publish) {
	r.add(OnQosComplete, cl.ID+" "+string(pk.Topic))
}
func (r *recorder) OnQosDropped(cl ClientInfo, pk *proto.Publish) {
	r.add(OnQosDropped, cl.ID+" "+string(pk.Topic))
}
func (r *recorder) OnPacketIDExhausted(cl ClientInfo, pk *proto.Publish) {
	r.add(OnPacketIDExhausted, cl.ID)
}
func (r *recorder) OnWill(cl ClientInfo, w *proto.Publish) (*proto.Publish, error) {
	r.add(OnWill, cl.ID+" "+string(w.Topic))
	return w, nil
}
func (r *recorder) OnWillSent(cl ClientInfo, w *proto.Publish) {
	r.add(OnWillSent, cl.ID+" "+string(w.Topic))
}
func (r *recorder) OnClientExpired(cl ClientInfo)  { r.add(OnClientExpired, cl.ID) }
func (r *recorder) OnRetainedExpired(topic string) { r.add(OnRetainedExpired, topic) }

func TestHookEventsFireInOrderAcrossStackedHooks(t *testing.T) {
	h := newHarness(t, Options{}, 1)
	a, b := &recorder{name: "a"}, &recorder{name: "b"}
	require.NoError(t, h.b.AddHook(a, nil))
	require.NoError(t, h.b.AddHook(b, nil))

	sub := h.dial(0)
	cp := connectPacket(proto.V5, "sub", true, 0, 0)
	cp.Username, cp.UsernameFlag = []byte("ann"), true
	sub.connect(cp)
	sub.subscribe("t/#", 1)
	pub := h.online(0, connectPacket(proto.V5, "pub", true, 0, 0))
	pub.publish("t/1", "x", 1, 7)
	h.settle()
	p := publishes(t, sub.recv())
	require.Len(t, p, 1)
	sub.ack(proto.PUBACK, p[0].PacketID, proto.Success)
	sub.mustSend(&proto.Unsubscribe{PacketID: 2, Filters: [][]byte{[]byte("t/#")}})
	sub.disconnect(proto.Success)

	for _, want := range []string{
		"OnConnect sub", "OnConnectAuthenticate sub ann", "OnSessionEstablish sub", "OnSessionEstablished sub",
		"OnPacketRead SUBSCRIBE", "OnACLCheck sub t/# false", "OnSubscribe t/#", "OnSubscribed [1]",
		"OnPacketProcessed SUBSCRIBE <nil>", "OnACLCheck pub t/1 true", "OnPublish pub t/1",
		"OnPublished pub t/1", "OnSelectSubscribers t/1 1", "OnQosPublish sub t/1 0",
		"OnPacketEncode PUBLISH", "OnPacketSent PUBLISH", "OnQosComplete sub t/1",
		"OnUnsubscribe t/#", "OnUnsubscribed t/#", "OnDisconnect sub <nil> true",
	} {
		require.True(t, a.has("a:"+want), "a lacks %q in\n%s", want, strings.Join(a.events(), "\n"))
		if strings.HasPrefix(want, "OnConnectAuthenticate") || strings.HasPrefix(want, "OnACLCheck") {
			// The first hook's Allow decides: the next is not asked.
			require.False(t, b.has("b:"+want), "b asked %q after a allowed", want)
			continue
		}
		require.True(t, b.has("b:"+want), "b lacks %q", want)
	}
	// In order across the stack: each of a's calls comes before b's.
	var order orderLog
	ah, bh := &orderHook{name: "1", out: &order}, &orderHook{name: "2", out: &order}
	require.NoError(t, h.b.AddHook(ah, nil))
	require.NoError(t, h.b.AddHook(bh, nil))
	pub.publish("t/2", "y", 0, 0)
	h.settle()
	order.mu.Lock()
	defer order.mu.Unlock()
	require.Equal(t, []string{"1", "2"}, order.names)
}

type orderLog struct {
	mu    sync.Mutex
	names []string
}

// orderHook records its name at each OnPublish to t/2 (the $SYS publisher
// publishes from its own goroutine meanwhile).
type orderHook struct {
	HookBase
	name string
	out  *orderLog
}

func (o *orderHook) Provides(e Event) bool { return e == OnPublish }
func (o *orderHook) OnPublish(_ ClientInfo, pk *proto.Publish) (*proto.Publish, error) {
	if string(pk.Topic) == "t/2" {
		o.out.mu.Lock()
		o.out.names = append(o.out.names, o.name)
		o.out.mu.Unlock()
	}
	return pk, nil
}

func TestOnPublishModifiesAndRejects(t *testing.T) {
	h := newHarness(t, Options{}, 1)
	r := &recorder{name: "r", provides: map[Event]bool{OnPublish: true}}
	r.publish = func(cl ClientInfo, pk *proto.Publish) (*proto.Publish, error) {
		switch string(pk.Topic) {
		case "rename":
			out := *pk
			out.Topic, out.Payload = []byte("renamed"), []byte("changed")
			return &out, nil
		case "quiet":
			return nil, ErrRejectPacket
		case "refuse":
			return nil, proto.Errorf(proto.PayloadFormatInvalid, "no")
		}
		return pk, nil
	}
	require.NoError(t, h.b.AddHook(r, nil))
	sub := h.online(0, connectPacket(proto.V5, "sub", true, 0, 0))
	sub.subscribe("#", 1)
	pub := h.online(0, connectPacket(proto.V5, "pub", true, 0, 0))

	pub.publish("rename", "orig", 1, 1)
	h.settle()
	got := publishes(t, sub.recv())
	require.Len(t, got, 1)
	require.Equal(t, "renamed", string(got[0].Topic))
	require.Equal(t, "changed", string(got[0].Payload))

	pub.publish("quiet", "x", 1, 2) // acknowledged, not delivered
	h.settle()
	sub.recvNone()

	pub.mustSend(&proto.Publish{Topic: []byte("refuse"), Payload: []byte("x"), QoS: 1, PacketID: 3})
	h.settle()
	requireAck(t, pub.recvOne(), proto.PUBACK, 3, proto.PayloadFormatInvalid)
	sub.recvNone()
	require.Equal(t, int64(2), h.b.Stats.Drops[DropRejected].Load())
}

// A hook that panics in every event: the broker goes on serving, and
// authentication and ACL panics count as refusals.
func TestPanickingHookOnEveryEvent(t *testing.T) {
	h := newHarness(t, Options{}, 1)
	require.NoError(t, h.b.AddHook(&recorder{name: "boom", panics: true, provides: map[Event]bool{
		OnConnect: true, OnSessionEstablish: true, OnSessionEstablished: true, OnDisconnect: true,
		OnPacketRead: true, OnPacketEncode: true, OnPacketSent: true, OnPacketProcessed: true,
		OnSubscribe: true, OnSubscribed: true, OnSelectSubscribers: true, OnUnsubscribe: true,
		OnUnsubscribed: true, OnPublish: true, OnPublished: true, OnPublishDropped: true,
		OnRetainMessage: true, OnRetainPublished: true, OnQosPublish: true, OnQosComplete: true,
		OnQosDropped: true, OnWill: true, OnWillSent: true, OnSysInfoTick: true,
	}}, nil))
	sub := h.online(0, connectPacket(proto.V5, "sub", true, 0, 0))
	sub.subscribe("t/#", 1)
	pub := h.online(0, connectPacket(proto.V5, "pub", true, 0, 0))
	pub.publish("t/1", "x", 1, 1)
	pub.publish("t/r", "kept", 0, 0)
	h.settle()
	got := publishes(t, sub.recv())
	require.Len(t, got, 2)
	require.Equal(t, "x", string(got[0].Payload))
	require.Greater(t, h.b.Stats.HookPanics.Load(), int64(10))

	// Auth and ACL: a panic is a refusal.
	h2 := newHarness(t, Options{}, 1)
	require.NoError(t, h2.b.AddHook(&recorder{name: "boom", panics: true,
		provides: map[Event]bool{OnConnectAuthenticate: true}}, nil))
	tc := h2.dial(0)
	require.Error(t, tc.send(connectPacket(proto.V5, "x", true, 0, 0)))
	ack := tc.recvOne().(*proto.Connack)
	require.Equal(t, proto.BadUserNameOrPassword, ack.Reason)
}

// waiter hands a waiting client's packet back as the reactor does: it
// notes the wake, and the test sends the same packet again.
func wakeRecorder(h *harness, i int) *[]*Client {
	var woke []*Client
	h.loops[i].SetWaker(func(c *Client) { woke = append(woke, c) })
	return &woke
}

// An asynchronous authentication holds its client in the state machine
// while another client on the same loop goes on exchanging messages.
func TestAsyncAuthHoldsOneClientOnly(t *testing.T) {
	h := newHarness(t, Options{}, 1)
	woke := wakeRecorder(h, 0)
	var later Answer
	r := &recorder{name: "auth", provides: map[Event]bool{OnConnectAuthenticate: true}}
	r.auth = func(cl ClientInfo, pk *proto.Connect, a Answer) Verdict {
		if cl.ID == "slow" {
			later = a
			return Later
		}
		return Allow
	}
	require.NoError(t, h.b.AddHook(r, nil))
	busy := h.online(0, connectPacket(proto.V5, "busy", true, 0, 0))
	busy.subscribe("echo", 0)

	slow := h.dial(0)
	cp := connectPacket(proto.V5, "slow", true, 0, 0)
	require.ErrorIs(t, slow.send(cp), ErrWaiting)
	require.True(t, slow.c.Waiting())
	slow.recvNone()
	for i := range 5 {
		busy.publish("echo", fmt.Sprint(i), 0, 0)
		h.settle()
		require.Len(t, publishes(t, busy.recv()), 1)
	}
	require.NotNil(t, later)
	go later(true) // from another goroutine, as an HTTP call would
	require.Eventually(t, func() bool { return h.loops[0].pending() > 0 }, time.Second, time.Millisecond)
	h.settle()
	require.Equal(t, []*Client{slow.c}, *woke)
	require.False(t, slow.c.Waiting())
	slow.connect(cp) // the reactor hands the buffered CONNECT over again
	require.Equal(t, 1, strings.Count(strings.Join(r.events(), "\n"), "OnConnectAuthenticate slow"), "asked once")

	// A late no: CONNACK 0x86.
	var no Answer
	r.auth = func(cl ClientInfo, pk *proto.Connect, a Answer) Verdict { no = a; return Later }
	other := h.dial(0)
	require.ErrorIs(t, other.send(connectPacket(proto.V5, "other", true, 0, 0)), ErrWaiting)
	no(false)
	no(true) // a second answer is ignored
	h.settle()
	require.Error(t, other.send(connectPacket(proto.V5, "other", true, 0, 0)))
	require.Equal(t, proto.BadUserNameOrPassword, other.recvOne().(*proto.Connack).Reason)
}

// An ACL answer given later: the PUBLISH waits, then is routed or refused.
func TestAsyncACLOnPublishAndSubscribe(t *testing.T) {
	h := newHarness(t, Options{}, 1)
	wakeRecorder(h, 0)
	var answers []Answer
	r := &recorder{name: "acl", provides: map[Event]bool{OnACLCheck: true}}
	r.acl = func(cl ClientInfo, topic string, write bool, a Answer) Verdict {
		if cl.ID == "sub" && topic == "open" {
			return Allow
		}
		answers = append(answers, a)
		return Later
	}
	require.NoError(t, h.b.AddHook(r, nil))
	sub := h.online(0, connectPacket(proto.V5, "sub", true, 0, 0))
	sub.subscribe("open", 1)
	pub := h.online(0, connectPacket(proto.V5, "pub", true, 0, 0))

	p := &proto.Publish{Topic: []byte("open"), Payload: []byte("yes"), QoS: 1, PacketID: 1}
	require.ErrorIs(t, pub.send(p), ErrWaiting)
	answers[0](true)
	h.settle()
	pub.mustSend(p)
	h.settle()
	requireAck(t, pub.recvOne(), proto.PUBACK, 1, proto.Success)
	require.Len(t, publishes(t, sub.recv()), 1)

	p = &proto.Publish{Topic: []byte("open"), Payload: []byte("no"), QoS: 1, PacketID: 2}
	require.ErrorIs(t, pub.send(p), ErrWaiting)
	answers[1](false)
	h.settle()
	pub.mustSend(p)
	h.settle()
	requireAck(t, pub.recvOne(), proto.PUBACK, 2, proto.NotAuthorized)
	sub.recvNone()

	// A SUBSCRIBE of two filters asks for each; a refused one gets 0x87.
	s := &proto.Subscribe{PacketID: 9, Subscriptions: []proto.Subscription{{Filter: []byte("a"), QoS: 1}, {Filter: []byte("b"), QoS: 1}}}
	require.ErrorIs(t, sub.send(s), ErrWaiting)
	answers[2](true)
	h.settle()
	require.ErrorIs(t, sub.send(s), ErrWaiting) // the second filter's question
	answers[3](false)
	h.settle()
	sub.mustSend(s)
	sa := sub.recvOne().(*proto.Suback)
	require.Equal(t, []proto.ReasonCode{1, proto.NotAuthorized}, sa.Reasons)
	require.Equal(t, int64(2), h.b.Stats.ACLDenied.Load())
}

// The publish path's rules hold for every source: a will, $SYS and the
// inline client go through OnPublish, are stamped with an expiry, and a
// retained one is stored.
func TestWillSysAndInlineTakeThePublishPath(t *testing.T) {
	st := newMemStore()
	h := newHarness(t, Options{Store: st, SysInterval: time.Hour, MaxMessageExpiry: time.Minute}, 1)
	r := &recorder{name: "r", provides: map[Event]bool{OnPublish: true, OnWill: true, OnWillSent: true, OnRetainMessage: true}}
	require.NoError(t, h.b.AddHook(r, nil))
	h.online(0, connectPacket(proto.V5, "someone", true, 0, 0))
	h.b.sys.refresh()
	require.True(t, r.has("r:OnPublish inline $SYS/broker/clients/connected"), "$SYS goes through OnPublish")
	require.Nil(t, st.retainedOf("$SYS/broker/clients/connected"), "$SYS is not written to disk")

	// Will: retained, so stored, and stamped.
	cp := connectPacket(proto.V5, "w", true, 0, 0)
	cp.WillFlag, cp.WillTopic, cp.WillPayload, cp.WillRetain, cp.WillQoS = true, []byte("wills/w"), []byte("gone"), true, 1
	w := h.online(0, cp)
	w.drop()
	h.settle()
	require.True(t, r.has("r:OnWill w wills/w"))
	require.True(t, r.has("r:OnPublish w wills/w"))
	require.True(t, r.has("r:OnWillSent w wills/w"))
	require.True(t, r.has("r:OnRetainMessage wills/w 1"))
	require.NotNil(t, st.retainedOf("wills/w"))
	require.NotZero(t, st.retainedOf("wills/w").Expiry, "stamped as it was published")

	// Inline: retained and stamped with MaxMessageExpiry like a client's.
	props := &proto.Properties{MessageExpiry: 3600}
	props.Set(proto.PropMessageExpiry)
	before := h.b.wallNow()
	require.NoError(t, h.b.PublishMessage(InlinePublish{Topic: "inline/t", Payload: []byte("v"), Retain: true, QoS: 1, Props: props}))
	h.settle()
	require.True(t, r.has("r:OnPublish inline inline/t"))
	require.NotNil(t, st.retainedOf("inline/t"))
	ms := h.b.Router().Retained("inline/t")
	require.Len(t, ms, 1)
	require.InDelta(t, before+int64(time.Minute), ms[0].Expiry, float64(time.Second), "MaxMessageExpiry caps the inline client's interval too")

	// A will may not write under $SYS either.
	cp = connectPacket(proto.V5, "w2", true, 0, 0)
	cp.WillFlag, cp.WillTopic, cp.WillPayload = true, []byte("$SYS/fake"), []byte("x")
	w2 := h.online(0, cp)
	w2.drop()
	h.settle()
	require.False(t, r.has("r:OnWillSent w2"))
}

func TestInjectPacketForALiveClient(t *testing.T) {
	h := newHarness(t, Options{}, 1)
	c := h.online(0, connectPacket(proto.V5, "dev", true, 0, 0))
	other := h.online(0, connectPacket(proto.V5, "other", true, 0, 0))
	other.subscribe("from/dev", 0)
	require.NoError(t, h.b.InjectPacket("dev", &proto.Subscribe{PacketID: 5,
		Subscriptions: []proto.Subscription{{Filter: []byte("to/dev"), QoS: 1}}}))
	h.settle()
	sa, ok := c.recvOne().(*proto.Suback)
	require.True(t, ok)
	require.Equal(t, uint16(5), sa.PacketID)
	require.NoError(t, h.b.Publish("to/dev", []byte("hello"), false, 1))
	h.settle()
	got := publishes(t, c.recv())
	require.Len(t, got, 1)
	require.Equal(t, "hello", string(got[0].Payload))

	require.NoError(t, h.b.InjectPacket("dev", &proto.Publish{Topic: []byte("from/dev"), Payload: []byte("hi")}))
	h.settle()
	got = publishes(t, other.recv())
	require.Len(t, got, 1)
	require.Equal(t, "hi", string(got[0].Payload))

	require.ErrorIs(t, h.b.InjectPacket("nobody", &proto.Publish{Topic: []byte("x")}), ErrNoClient)
	require.ErrorIs(t, h.b.InjectPacket(InlineClientID, &proto.Subscribe{}), ErrInjectType)
	// The inline client may write under $SYS.
	require.NoError(t, h.b.InjectPacket(InlineClientID, &proto.Publish{Topic: []byte("$SYS/custom"), Payload: []byte("1"), Retain: true}))
	h.settle()
	require.Len(t, h.b.Router().Retained("$SYS/custom"), 1)
}

// An inline QoS 1 subscription with a slow handler loses nothing and
// blocks no loop.
func TestInlineQoS1SlowHandler(t *testing.T) {
	h := newHarness(t, Options{}, 1)
	release := make(chan struct{})
	var mu sync.Mutex
	var got []string
	require.NoError(t, h.b.Subscribe("slow/#", 1, func(m InlineMessage) {
		<-release
		mu.Lock()
		got = append(got, string(m.Payload))
		mu.Unlock()
	}))
	h.settle()
	pub := h.online(0, connectPacket(proto.V5, "pub", true, 0, 0))
	const n = 3000 // past InlineQueue: QoS 1 is bounded in bytes, not count
	for i := range n {
		pub.publish("slow/t", fmt.Sprint(i), 1, uint16(i%60000+1))
	}
	h.settle() // returns: no loop waits for the handler
	require.Positive(t, h.b.HeldBytes())
	close(release)
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == n }, 10*time.Second, time.Millisecond)
	for i := range n {
		require.Equal(t, fmt.Sprint(i), got[i])
	}
	require.Eventually(t, func() bool { return h.b.HeldBytes() == 0 }, time.Second, time.Millisecond)
	require.NoError(t, h.b.Unsubscribe("slow/#", 1))
	require.ErrorIs(t, h.b.Unsubscribe("slow/#", 1), ErrInlineUnknown)
}

// A shared group with an inline member and a network member: messages go
// round-robin across both.
func TestSharedGroupMixesInlineAndNetwork(t *testing.T) {
	h := newHarness(t, Options{}, 1)
	var mu sync.Mutex
	inline := 0
	require.NoError(t, h.b.Subscribe("$share/g/jobs", 7, func(m InlineMessage) {
		mu.Lock()
		inline++
		mu.Unlock()
	}))
	net := h.online(0, connectPacket(proto.V5, "worker", true, 0, 0))
	net.subscribe("$share/g/jobs", 0)
	pub := h.online(0, connectPacket(proto.V5, "pub", true, 0, 0))
	for i := range 10 {
		pub.publish("jobs", fmt.Sprint(i), 0, 0)
	}
	h.settle()
	toNet := len(publishes(t, net.recv()))
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return inline+toNet == 10 }, time.Second, time.Millisecond)
	require.Equal(t, 5, toNet, "round-robin across the inline and the network member")
}

func TestAddHookErrors(t *testing.T) {
	h := newHarness(t, Options{}, 1)
	require.Error(t, h.b.AddHook(nil, nil))
	require.ErrorContains(t, h.b.AddHook(&failingInit{}, nil), "no config")
	require.Empty(t, h.b.Hooks())
}

type failingInit struct{ HookBase }

func (failingInit) Init(any) error { return errors.New("no config") }

func (m *memStore) retainedOf(topic string) *router.Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.retained[topic]
}

// A hook rewriting a packet in OnPacketRead: the new packet is processed
// with its payload intact, also when it waited for an ACL answer first.
func TestOnPacketReadRewriteSurvivesAWait(t *testing.T) {
	h := newHarness(t, Options{}, 1)
	wakeRecorder(h, 0)
	rw := &rewriter{}
	require.NoError(t, h.b.AddHook(rw, nil))
	var answer Answer
	acl := &recorder{name: "acl", provides: map[Event]bool{OnACLCheck: true}}
	acl.acl = func(cl ClientInfo, topic string, write bool, a Answer) Verdict {
		if !write || cl.ID != "pub" {
			return Allow
		}
		answer = a
		return Later
	}
	require.NoError(t, h.b.AddHook(acl, nil))
	sub := h.online(0, connectPacket(proto.V5, "sub", true, 0, 0))
	sub.subscribe("much/longer/topic/name/here", 0)
	pub := h.online(0, connectPacket(proto.V5, "pub", true, 0, 0))
	p := &proto.Publish{Topic: []byte("short"), Payload: []byte("same length")}
	require.ErrorIs(t, pub.send(p), ErrWaiting)
	require.True(t, acl.has("acl:OnACLCheck pub much/longer/topic/name/here true"), "the rewritten topic is asked about")
	answer(true)
	h.settle()
	pub.mustSend(p) // the reactor hands the buffered packet over again
	h.settle()
	got := publishes(t, sub.recv())
	require.Len(t, got, 1)
	require.Equal(t, "same length", string(got[0].Payload))
	require.Equal(t, 1, rw.calls, "read once")

	// Refuse stops the chain even before a permissive hook.
	h2 := newHarness(t, Options{}, 1)
	ban := &recorder{name: "ban", provides: map[Event]bool{OnConnectAuthenticate: true}}
	ban.auth = func(cl ClientInfo, _ *proto.Connect, _ Answer) Verdict {
		if cl.ID == "banned" {
			return Refuse
		}
		return Deny
	}
	require.NoError(t, h2.b.AddHook(ban, nil))
	require.NoError(t, h2.b.AddHook(&recorder{name: "all", provides: map[Event]bool{OnConnectAuthenticate: true}}, nil))
	h2.online(0, connectPacket(proto.V5, "ok", true, 0, 0))
	tc := h2.dial(0)
	require.Error(t, tc.send(connectPacket(proto.V5, "banned", true, 0, 0)))
	require.Equal(t, proto.BadUserNameOrPassword, tc.recvOne().(*proto.Connack).Reason)
}

// rewriter moves publishes to "short" onto a longer topic.
type rewriter struct {
	HookBase
	calls int
}

func (r *rewriter) Provides(e Event) bool { return e == OnPacketRead }
func (r *rewriter) OnPacketRead(_ ClientInfo, pk proto.Packet) (proto.Packet, error) {
	p, ok := pk.(*proto.Publish)
	if !ok || string(p.Topic) != "short" {
		return pk, nil
	}
	r.calls++
	out := *p
	out.Topic = []byte("much/longer/topic/name/here")
	return &out, nil
}

// denyTopics refuses reading or writing the topics listed, everything
// else allowed; with later set it answers about topics (not filters with
// wildcards, so a test's SUBSCRIBE goes through at once) through the
// Answer.
type denyTopics struct {
	HookBase
	deny  map[string]bool
	later bool
}

func (*denyTopics) Provides(e Event) bool { return e == OnACLCheck }
func (d *denyTopics) OnACLCheck(_ ClientInfo, topic string, _ bool, a Answer) Verdict {
	ok := !d.deny[topic]
	if d.later && !strings.ContainsAny(topic, "+#") {
		go a(ok)
		return Later
	}
	if ok {
		return Allow
	}
	return Refuse
}

// Retained messages sent for a new subscription are asked about one by
// one: the filter "a/#" is allowed, the message on "a/secret" is not.
// Also when the answer comes later.
func TestACLOnRetainedMessages(t *testing.T) {
	for _, later := range []bool{false, true} {
		t.Run(fmt.Sprint("later=", later), func(t *testing.T) {
			h := newHarness(t, Options{SysInterval: -1}, 1)
			require.NoError(t, h.b.AddHook(&denyTopics{deny: map[string]bool{"a/secret": true}, later: later}, nil))
			require.NoError(t, h.b.Publish("a/open", []byte("1"), true, 0))
			require.NoError(t, h.b.Publish("a/secret", []byte("2"), true, 0))
			h.settle()
			sub := h.dial(0)
			sub.connect(connectPacket(proto.V5, "sub", true, 0, 0))
			require.NoError(t, sub.send(&proto.Subscribe{PacketID: 1, Subscriptions: []proto.Subscription{{Filter: []byte("a/#")}}}))
			var got []string
			require.Eventually(t, func() bool {
				h.settle()
				for _, p := range sub.recv() {
					if pub, ok := p.(*proto.Publish); ok {
						got = append(got, string(pub.Topic))
					}
				}
				return len(got) >= 1
			}, 2*time.Second, 5*time.Millisecond)
			time.Sleep(20 * time.Millisecond)
			h.settle()
			for _, p := range sub.recv() {
				if pub, ok := p.(*proto.Publish); ok {
					got = append(got, string(pub.Topic))
				}
			}
			require.Equal(t, []string{"a/open"}, got)
			require.Equal(t, int64(1), h.b.Stats.ACLDenied.Load())
		})
	}
}

// A will to a topic its client may not write is never published.
func TestACLOnWills(t *testing.T) {
	for _, later := range []bool{false, true} {
		t.Run(fmt.Sprint("later=", later), func(t *testing.T) {
			h := newHarness(t, Options{SysInterval: -1}, 1)
			require.NoError(t, h.b.AddHook(&denyTopics{deny: map[string]bool{"wills/bad": true}, later: later}, nil))
			sub := h.online(0, connectPacket(proto.V5, "sub", true, 0, 0))
			sub.subscribe("wills/#", 0)
			for _, topic := range []string{"wills/bad", "wills/good"} {
				cp := connectPacket(proto.V5, topic, true, 0, 0)
				cp.WillFlag, cp.WillTopic, cp.WillPayload = true, []byte(topic), []byte("x")
				w := h.online(0, cp)
				w.drop()
			}
			var got []string
			require.Eventually(t, func() bool {
				h.settle()
				for _, p := range publishes(t, sub.recv()) {
					got = append(got, string(p.Topic))
				}
				return len(got) >= 1
			}, 2*time.Second, 5*time.Millisecond)
			require.Equal(t, []string{"wills/good"}, got)
			require.Eventually(t, func() bool { return h.b.Stats.ACLDenied.Load() == 1 }, time.Second, time.Millisecond)
		})
	}
}
