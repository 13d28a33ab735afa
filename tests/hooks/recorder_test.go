package hooks_test

import (
	"fmt"
	"strings"
	"sync"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/proto"
)

// eventLog is the calls of several recorders, in the order they happened.
type eventLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *eventLog) add(s string) {
	l.mu.Lock()
	l.lines = append(l.lines, s)
	l.mu.Unlock()
}

func (l *eventLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// find returns the lines of hook name for event ev whose detail contains
// sub.
func (l *eventLog) find(name string, ev loom.Event, sub string) []string {
	var out []string
	for _, s := range l.all() {
		if strings.HasPrefix(s, name+" "+ev.String()+" ") && strings.Contains(s, sub) {
			out = append(out, s)
		}
	}
	return out
}

// recorder provides every event (or those in only) and logs each call as
// "name Event detail".
type recorder struct {
	loom.HookBase
	name  string
	log   *eventLog
	only  map[loom.Event]bool
	panic bool // panic in every event instead
}

func (r *recorder) ID() string { return "recorder-" + r.name }
func (r *recorder) Provides(e loom.Event) bool {
	return r.only == nil || r.only[e]
}

func (r *recorder) rec(e loom.Event, format string, args ...any) {
	if r.panic {
		panic(r.name + " fails in " + e.String())
	}
	r.log.add(r.name + " " + e.String() + " " + fmt.Sprintf(format, args...))
}

// who is how a client is written in the log.
func who(cl loom.ClientInfo) string {
	return fmt.Sprintf("id=%s user=%s v=%d remote=%t listener=%t", cl.ID, cl.Username, cl.Version,
		cl.Remote != "", cl.Listener != "")
}

func (r *recorder) OnStarted() { r.rec(loom.OnStarted, "") }
func (r *recorder) OnStopped() { r.rec(loom.OnStopped, "") }
func (r *recorder) OnConnectAuthenticate(cl loom.ClientInfo, pk *proto.Connect, _ loom.Answer) loom.Verdict {
	r.rec(loom.OnConnectAuthenticate, "%s password=%s", who(cl), pk.Password)
	return loom.Allow
}
func (r *recorder) OnACLCheck(cl loom.ClientInfo, topic string, write bool, _ loom.Answer) loom.Verdict {
	r.rec(loom.OnACLCheck, "%s topic=%s write=%t", who(cl), topic, write)
	return loom.Allow
}
func (r *recorder) OnSysInfoTick(i loom.SysInfo) { r.rec(loom.OnSysInfoTick, "uptime=%d", i.Uptime) }
func (r *recorder) OnConnect(cl loom.ClientInfo, pk *proto.Connect) error {
	r.rec(loom.OnConnect, "%s clean=%t", who(cl), pk.CleanStart)
	return nil
}
func (r *recorder) OnSessionEstablish(cl loom.ClientInfo, _ *proto.Connect) {
	r.rec(loom.OnSessionEstablish, "%s", who(cl))
}
func (r *recorder) OnSessionEstablished(cl loom.ClientInfo, _ *proto.Connect) {
	r.rec(loom.OnSessionEstablished, "%s", who(cl))
}
func (r *recorder) OnDisconnect(cl loom.ClientInfo, err error, expire bool) {
	r.rec(loom.OnDisconnect, "%s err=%v expire=%t", who(cl), err, expire)
}
func (r *recorder) OnAuthPacket(cl loom.ClientInfo, pk *proto.Auth) (*proto.Auth, error) {
	r.rec(loom.OnAuthPacket, "%s reason=%d", who(cl), pk.Reason)
	return pk, nil
}
func (r *recorder) OnPacketRead(cl loom.ClientInfo, pk proto.Packet) (proto.Packet, error) {
	r.rec(loom.OnPacketRead, "%s %v", who(cl), pk.PacketType())
	return pk, nil
}
func (r *recorder) OnPacketEncode(cl loom.ClientInfo, pk proto.Packet) proto.Packet {
	r.rec(loom.OnPacketEncode, "%s %v", who(cl), pk.PacketType())
	return pk
}
func (r *recorder) OnPacketSent(cl loom.ClientInfo, pk proto.Packet, b []byte) {
	r.rec(loom.OnPacketSent, "%s %v bytes=%t", who(cl), pk.PacketType(), len(b) > 0)
}
func (r *recorder) OnPacketProcessed(cl loom.ClientInfo, pk proto.Packet, err error) {
	r.rec(loom.OnPacketProcessed, "%s %v err=%v", who(cl), pk.PacketType(), err)
}
func (r *recorder) OnSubscribe(cl loom.ClientInfo, pk *proto.Subscribe) *proto.Subscribe {
	r.rec(loom.OnSubscribe, "%s filter=%s", who(cl), pk.Subscriptions[0].Filter)
	return pk
}
func (r *recorder) OnSubscribed(cl loom.ClientInfo, pk *proto.Subscribe, rc []proto.ReasonCode) {
	r.rec(loom.OnSubscribed, "%s filter=%s reasons=%v", who(cl), pk.Subscriptions[0].Filter, rc)
}
func (r *recorder) OnSelectSubscribers(pk *proto.Publish, subs []loom.Recipient) []loom.Recipient {
	ids := make([]string, len(subs))
	for i, s := range subs {
		ids[i] = s.ClientID
	}
	r.rec(loom.OnSelectSubscribers, "topic=%s subs=%v", pk.Topic, ids)
	return subs
}
func (r *recorder) OnUnsubscribe(cl loom.ClientInfo, pk *proto.Unsubscribe) *proto.Unsubscribe {
	r.rec(loom.OnUnsubscribe, "%s filter=%s", who(cl), pk.Filters[0])
	return pk
}
func (r *recorder) OnUnsubscribed(cl loom.ClientInfo, pk *proto.Unsubscribe) {
	r.rec(loom.OnUnsubscribed, "%s filter=%s", who(cl), pk.Filters[0])
}
func (r *recorder) OnPublish(cl loom.ClientInfo, pk *proto.Publish) (*proto.Publish, error) {
	r.rec(loom.OnPublish, "%s topic=%s payload=%s qos=%d", who(cl), pk.Topic, pk.Payload, pk.QoS)
	return pk, nil
}
func (r *recorder) OnPublished(cl loom.ClientInfo, pk *proto.Publish) {
	r.rec(loom.OnPublished, "%s topic=%s", who(cl), pk.Topic)
}
func (r *recorder) OnPublishDropped(cl loom.ClientInfo, pk *proto.Publish) {
	r.rec(loom.OnPublishDropped, "id=%s topic=%s", cl.ID, pk.Topic)
}
func (r *recorder) OnRetainMessage(cl loom.ClientInfo, pk *proto.Publish, n int64) {
	r.rec(loom.OnRetainMessage, "id=%s topic=%s r=%d", cl.ID, pk.Topic, n)
}
func (r *recorder) OnRetainPublished(cl loom.ClientInfo, pk *proto.Publish) {
	r.rec(loom.OnRetainPublished, "id=%s topic=%s", cl.ID, pk.Topic)
}
func (r *recorder) OnQosPublish(cl loom.ClientInfo, pk *proto.Publish, sent int64, resends int) {
	r.rec(loom.OnQosPublish, "%s topic=%s sent=%t resends=%d", who(cl), pk.Topic, sent > 0, resends)
}
func (r *recorder) OnQosComplete(cl loom.ClientInfo, pk *proto.Publish) {
	r.rec(loom.OnQosComplete, "%s topic=%s", who(cl), pk.Topic)
}
func (r *recorder) OnQosDropped(cl loom.ClientInfo, pk *proto.Publish) {
	r.rec(loom.OnQosDropped, "%s topic=%s", who(cl), pk.Topic)
}
func (r *recorder) OnPacketIDExhausted(cl loom.ClientInfo, _ *proto.Publish) {
	r.rec(loom.OnPacketIDExhausted, "%s", who(cl))
}
func (r *recorder) OnWill(cl loom.ClientInfo, w *proto.Publish) (*proto.Publish, error) {
	r.rec(loom.OnWill, "%s topic=%s", who(cl), w.Topic)
	return w, nil
}
func (r *recorder) OnWillSent(cl loom.ClientInfo, w *proto.Publish) {
	r.rec(loom.OnWillSent, "%s topic=%s", who(cl), w.Topic)
}
func (r *recorder) OnClientExpired(cl loom.ClientInfo) {
	r.rec(loom.OnClientExpired, "id=%s", cl.ID)
}
func (r *recorder) OnRetainedExpired(topic string) {
	r.rec(loom.OnRetainedExpired, "topic=%s", topic)
}
