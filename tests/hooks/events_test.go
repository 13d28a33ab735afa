package hooks_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/tests/internal/pahotest"
)

// inOrder requires that each call of hook a for ev with detail sub comes
// before the matching call of hook b, and that there is one.
func inOrder(t *testing.T, log *eventLog, ev loom.Event, sub string) {
	t.Helper()
	var seen []string
	for _, s := range log.all() {
		if strings.Contains(s, " "+ev.String()+" ") && strings.Contains(s, sub) {
			seen = append(seen, s[:1])
		}
	}
	require.NotEmpty(t, seen, "no %s with %q in\n%s", ev, sub, strings.Join(log.all(), "\n"))
	require.Equal(t, "a", seen[0], "%s with %q: hook a first", ev, sub)
	require.Contains(t, seen, "b", "%s with %q reached hook b", ev, sub)
}

// Every event over real traffic from Paho's v5 and 3.1.1 clients, with two
// stacked hooks: each fires with the client's id, username, version,
// remote and listener, and hook a (added first) sees it before hook b.
func TestEveryEventOverPaho(t *testing.T) {
	log := &eventLog{}
	a, b := &recorder{name: "a", log: log}, &recorder{name: "b", log: log}
	srv, addr := loomtest.Start(t, loom.Options{SysInterval: 50 * time.Millisecond}, a, b)
	inOrder(t, log, loom.OnStarted, "")

	// v5: a subscriber, a publisher, QoS 1 both ways.
	sub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "sub5"})
	pub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "pub5"})
	pub.Say(t, "keep/r", 1, true, "retained") // stored before the subscription
	sub.Sub(t, pahotest.V5Opt("t/#", 1), pahotest.V5Opt("keep/#", 1))
	require.Equal(t, "retained", string(sub.Recv(t).Payload))
	pub.Say(t, "t/1", 1, false, "hello")
	require.Equal(t, "hello", string(sub.Recv(t).Payload))

	// 3.1.1, with a username and password.
	in := pahotest.NewV3Inbox()
	v3, _ := pahotest.V3Connect(t, pahotest.V3Options(addr, "sub3").SetUsername("bob").SetPassword("secret"))
	pahotest.V3Subscribe(t, v3, "t/#", 1, in)
	pahotest.V3Publish(t, v3, "t/3", 1, false, "from3")
	require.Equal(t, "from3", string(in.Next(t).Payload()))
	require.Equal(t, "from3", string(sub.Recv(t).Payload))
	tok := v3.Unsubscribe("t/#")
	pahotest.V3Done(t, tok)

	// A will, published when its client's connection is cut.
	w, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "willer", Will: &paho.WillMessage{Topic: "t/will", Payload: []byte("bye"), QoS: 0}})
	w.Cut()
	require.Equal(t, "bye", string(sub.Recv(t).Payload))

	ctx, cancel := context.WithTimeout(context.Background(), loomtest.Wait)
	defer cancel()
	_, err := sub.Unsubscribe(ctx, &paho.Unsubscribe{Topics: []string{"t/#"}})
	require.NoError(t, err)
	loomtest.Eventually(t, "a $SYS tick", func() bool { return len(log.find("b", loom.OnSysInfoTick, "")) > 0 })

	v5sub := "id=sub5 user= v=5 remote=true listener=true"
	v5pub := "id=pub5 user= v=5 remote=true listener=true"
	v3c := "id=sub3 user=bob v=4 remote=true listener=true"
	for _, c := range []struct {
		ev  loom.Event
		sub string
	}{
		{loom.OnConnect, v5sub + " clean=true"},
		{loom.OnConnect, v3c},
		{loom.OnSessionEstablish, v5sub},
		{loom.OnSessionEstablished, v3c},
		{loom.OnPacketRead, v5sub + " SUBSCRIBE"},
		{loom.OnPacketRead, v3c + " CONNECT"}, // its id and username from the packet
		{loom.OnPacketProcessed, v5pub + " PUBLISH err=<nil>"},
		{loom.OnPacketEncode, v5sub + " PUBLISH"},
		{loom.OnPacketSent, v3c + " SUBACK bytes=true"},
		{loom.OnSubscribe, v5sub + " filter=t/#"},
		{loom.OnSubscribed, v3c + " filter=t/# reasons=[1]"},
		{loom.OnUnsubscribe, v3c + " filter=t/#"},
		{loom.OnUnsubscribed, v5sub + " filter=t/#"},
		{loom.OnPublish, v5pub + " topic=t/1 payload=hello qos=1"},
		{loom.OnPublish, v3c + " topic=t/3 payload=from3 qos=1"},
		{loom.OnPublished, v5pub + " topic=t/1"},
		{loom.OnSelectSubscribers, "topic=t/3 subs="},
		{loom.OnRetainMessage, "id=pub5 topic=keep/r r=1"},
		{loom.OnRetainPublished, "id=sub5 topic=keep/r"},
		{loom.OnQosPublish, v5sub + " topic=t/1 sent=true resends=0"},
		{loom.OnQosComplete, v5sub + " topic=t/1"},
		{loom.OnQosComplete, v3c + " topic=t/3"},
		{loom.OnWill, "id=willer user= v=5 remote=true listener=true topic=t/will"},
		{loom.OnWillSent, "id=willer"},
		{loom.OnDisconnect, "id=willer"},
		{loom.OnSysInfoTick, "uptime="},
	} {
		inOrder(t, log, c.ev, c.sub)
	}
	// The first hook's Allow decides authentication and ACLs: the second
	// is not asked.
	require.NotEmpty(t, log.find("a", loom.OnConnectAuthenticate, v3c+" password=secret"))
	require.Empty(t, log.find("b", loom.OnConnectAuthenticate, ""))
	require.NotEmpty(t, log.find("a", loom.OnACLCheck, v5pub+" topic=t/1 write=true"))
	require.NotEmpty(t, log.find("a", loom.OnACLCheck, v5sub+" topic=t/# write=false"))
	require.Empty(t, log.find("b", loom.OnACLCheck, ""))

	ctx2, cancel2 := context.WithTimeout(context.Background(), loomtest.Wait)
	defer cancel2()
	require.NoError(t, srv.Close(ctx2))
	inOrder(t, log, loom.OnStopped, "")
}

// The events Paho's clients cannot bring about, with a raw client: a
// message dropped for a client (too large for it), a QoS 1 message the
// client refuses (OnQosDropped), enhanced authentication (OnAuthPacket),
// an expired session and an expired retained message.
func TestRarerEventsOverRawClients(t *testing.T) {
	log := &eventLog{}
	a := &recorder{name: "a", log: log}
	_, addr := loomtest.Start(t, loom.Options{}, a, &twoStepAuth{})

	// Maximum Packet Size 64: a larger message is dropped for it.
	small := loomtest.Dial(t, addr, proto.V5)
	cp := proto.Connect{Version: proto.V5, ClientID: []byte("small"), CleanStart: true}
	cp.Props.MaximumPacketSize = 64
	cp.Props.Set(proto.PropMaximumPacketSize)
	small.ConnectWith(cp)
	small.Subscribe("big/#", 1)
	pub := loomtest.Dial(t, addr, proto.V5)
	pub.Connect("rawpub", nil)
	pub.Publish("big/1", strings.Repeat("x", 200), 0, 0)
	loomtest.Eventually(t, "OnPublishDropped", func() bool { return len(log.find("a", loom.OnPublishDropped, "id=small topic=big/1")) > 0 })

	// A QoS 1 message the client answers with PUBACK 0x80.
	pub.Publish("big/2", "fits", 1, 1)
	p := small.ReadPublish()
	small.Send(&proto.Ack{Type: proto.PUBACK, PacketID: p.PacketID, Reason: proto.UnspecifiedError})
	loomtest.Eventually(t, "OnQosDropped", func() bool { return len(log.find("a", loom.OnQosDropped, "id=small")) > 0 })

	// Enhanced authentication: CONNECT, AUTH 0x18, CONNACK.
	au := loomtest.Dial(t, addr, proto.V5)
	acp := proto.Connect{Version: proto.V5, ClientID: []byte("authed"), CleanStart: true}
	acp.Props.AuthMethod = []byte("two-step")
	acp.Props.Set(proto.PropAuthMethod)
	au.Send(&acp)
	ch := loomtest.Expect[*proto.Auth](au)
	require.Equal(t, proto.ContinueAuthentication, ch.Reason)
	reply := proto.Auth{Reason: proto.ContinueAuthentication}
	reply.Props.AuthMethod = []byte("two-step")
	reply.Props.Set(proto.PropAuthMethod)
	au.Send(&reply)
	require.Equal(t, proto.Success, loomtest.Expect[*proto.Connack](au).Reason)
	require.NotEmpty(t, log.find("a", loom.OnAuthPacket, "id=authed"))

	// A session that expires one second after its client went.
	ex := loomtest.Dial(t, addr, proto.V5)
	ex.Connect("expiring", func(c *proto.Connect) {
		c.Props.SessionExpiry = 1
		c.Props.Set(proto.PropSessionExpiry)
	})
	ex.Send(&proto.Disconnect{})
	// A retained message that expires after one second, asked for after.
	rp := &proto.Publish{Topic: []byte("gone/r"), Payload: []byte("x"), Retain: true}
	rp.Props.MessageExpiry = 1
	rp.Props.Set(proto.PropMessageExpiry)
	pub.Send(rp)
	time.Sleep(1100 * time.Millisecond)
	late := loomtest.Dial(t, addr, proto.V5)
	late.Connect("late", nil)
	late.Subscribe("gone/#", 0)
	loomtest.Eventually(t, "OnClientExpired", func() bool { return len(log.find("a", loom.OnClientExpired, "id=expiring")) > 0 })
	loomtest.Eventually(t, "OnRetainedExpired", func() bool { return len(log.find("a", loom.OnRetainedExpired, "topic=gone/r")) > 0 })
}

// twoStepAuth is an enhanced-authentication method offered through
// AddHook: one challenge, then success.
type twoStepAuth struct{ loom.HookBase }

func (*twoStepAuth) ID() string     { return "two-step" }
func (*twoStepAuth) Method() string { return "two-step" }
func (*twoStepAuth) Begin(string, []byte) loom.AuthExchange {
	return &twoStep{}
}

type twoStep struct{ n int }

func (s *twoStep) Step([]byte) ([]byte, bool, error) {
	s.n++
	return []byte("challenge"), s.n == 2, nil
}
