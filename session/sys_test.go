package session

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/proto"
)

// sysHarness is a harness without the broker's own $SYS goroutine, and a
// publisher the test ticks by hand, with uptime and heap pinned so that
// only what the test does moves the values.
func sysHarness(t *testing.T, opts Options, loops int) (*harness, *sysPublisher) {
	t.Helper()
	opts.SysInterval = -1
	h := newHarness(t, opts, loops)
	require.Nil(t, h.b.sys, "a negative SysInterval starts no publisher")
	p := newSysPublisher(h.b)
	p.uptime = func() time.Duration { return 42 * time.Second }
	p.heap = func() uint64 { return 1 << 20 }
	return h, p
}

// retainedSys returns the retained $SYS values, topic → payload.
func retainedSys(h *harness) map[string]string {
	h.t.Helper()
	h.settle()
	out := make(map[string]string)
	for _, m := range h.b.Router().Retained("$SYS/#") {
		require.True(h.t, m.Retain)
		require.Empty(h.t, m.Origin, "the server publishes $SYS")
		out[m.Topic] = string(m.Payload)
	}
	return out
}

func TestIsSysTopic(t *testing.T) {
	for topic, want := range map[string]bool{
		"$SYS": true, "$SYS/": true, "$SYS/broker/uptime": true,
		"$SYSTEM/x": false, "$sys/x": false, "a/$SYS": false, "SYS/x": false, "$": false, "": false,
	} {
		require.Equal(t, want, isSysTopic(topic), topic)
	}
}

func TestSysFirstTickPublishesEverything(t *testing.T) {
	h, p := sysHarness(t, Options{}, 1)
	tc := h.online(0, connectPacket(proto.V5, "a", true, 0, 0))
	tc.subscribe("x/#", 0)

	require.Equal(t, sysCount+1, p.tick())
	got := retainedSys(h)
	want := map[string]string{
		"$SYS/broker/version":                  "loom " + Version,
		"$SYS/broker/uptime":                   "42",
		"$SYS/broker/clients/connected":        "1",
		"$SYS/broker/clients/disconnected":     "0",
		"$SYS/broker/clients/total":            "1",
		"$SYS/broker/clients/maximum":          "1",
		"$SYS/broker/messages/received":        "0",
		"$SYS/broker/messages/sent":            "0",
		"$SYS/broker/bytes/received":           "0", // counted by the reactor, absent here
		"$SYS/broker/publish/messages/dropped": "0",
		"$SYS/broker/subscriptions/count":      "1",
		"$SYS/broker/retained messages/count":  "0", // read before this tick stored any
		"$SYS/broker/messages/inflight":        "0",
		"$SYS/broker/heap/current":             "1048576",
		"$SYS/broker/spool/bytes":              "0",
		"$SYS/broker/publish/reads/paused":     "0",
		"$SYS/broker/held/bytes":               "0",
		"$SYS/broker/acl/denied":               "0",
		"$SYS/broker/auth/failed":              "0",
	}
	for c := range dropCauses {
		want["$SYS/broker/publish/messages/dropped/"+c.String()] = "0"
	}
	sent := got["$SYS/broker/bytes/sent"]
	delete(got, "$SYS/broker/bytes/sent")
	require.Equal(t, want, got)
	n, err := strconv.Atoi(sent)
	require.NoError(t, err)
	require.Positive(t, n, "CONNACK and SUBACK were written")
}

// $SYS/broker/spool/bytes is what the spools have mapped, blocks kept for
// reuse included, and falls as blocks go back to the system;
// $SYS/broker/publish/reads/paused counts the reactor's pauses.
func TestSysSpoolAndReadPauses(t *testing.T) {
	h, p := sysHarness(t, Options{}, 1)
	l := h.loops[0].Loop
	p.tick()
	sys := func(topic string) string { return retainedSys(h)["$SYS/broker/"+topic] }
	require.Equal(t, "0", sys("spool/bytes"))

	var s spool
	chunk := make([]byte, 1000)
	for range 10*spoolBlock/len(chunk) + 1 {
		s.write(l, chunk)
	}
	p.tick()
	require.Equal(t, strconv.Itoa(11*spoolBlock), sys("spool/bytes"), "10 full blocks and a started one")

	s.release(l)
	p.tick()
	require.Equal(t, strconv.Itoa(spoolCache*spoolBlock), sys("spool/bytes"), "the loop keeps %d blocks", spoolCache)

	h.b.Stats.ReadPauses.Add(3) // counted by the reactor (reactor/pause.go)
	p.tick()
	require.Equal(t, "3", sys("publish/reads/paused"))
}

// After the first tick only changed values are published again: an idle
// broker with no $SYS subscriber publishes nothing.
func TestSysPublishesOnlyChanges(t *testing.T) {
	h, p := sysHarness(t, Options{}, 1)
	tc := h.online(0, connectPacket(proto.V5, "a", true, 0, 0))

	require.Equal(t, sysCount+1, p.tick())
	h.settle()
	require.Equal(t, 1, p.tick(), "only the retained count moved: the first tick stored %d", sysCount+1)
	require.Equal(t, strconv.Itoa(sysCount+1), retainedSys(h)["$SYS/broker/retained messages/count"])
	require.Zero(t, p.tick(), "nothing changed")
	require.Zero(t, p.tick(), "nothing changed")

	tc.publish("x", "hello", 0, 0)
	require.Equal(t, 1, p.tick(), "one message received")
	require.Equal(t, "1", retainedSys(h)["$SYS/broker/messages/received"])

	p.uptime = func() time.Duration { return 43*time.Second + 900*time.Millisecond }
	require.Equal(t, 1, p.tick(), "uptime moved a second")
	require.Equal(t, "43", retainedSys(h)["$SYS/broker/uptime"])
	require.Zero(t, p.tick())
}

// [MQTT-4.7.2-1] filters starting with a wildcard do not match $SYS topics;
// a filter that names $SYS does, and a new subscription gets the retained
// values at once [MQTT-3.3.1-9].
func TestSysSubscribers(t *testing.T) {
	h, p := sysHarness(t, Options{}, 2)
	type watcher struct {
		filter string
		want   int // $SYS messages received on the tick
	}
	watchers := []watcher{
		{"#", 0}, {"+/broker/#", 0}, {"+/+/uptime", 0}, {"+/#", 0},
		{"$SYS/#", sysCount + 1}, {"$SYS/broker/+", 2}, {"$SYS/broker/clients/+", 4},
	}
	clients := make([]*tclient, len(watchers))
	for i, w := range watchers {
		clients[i] = h.online(i%2, connectPacket(proto.V5, fmt.Sprint("w", i), true, 0, 0))
		clients[i].subscribe(w.filter, 0)
	}
	p.tick()
	h.settle()
	for i, w := range watchers {
		got := publishes(t, clients[i].recv())
		require.Len(t, got, w.want, "filter %q", w.filter)
		for _, m := range got {
			require.True(t, isSysTopic(string(m.Topic)))
		}
	}

	late := h.online(0, connectPacket(proto.V5, "late", true, 0, 0))
	late.mustSend(&proto.Subscribe{PacketID: 1, Subscriptions: []proto.Subscription{{Filter: []byte("$SYS/broker/clients/+")}}})
	h.settle()
	ps := late.recv()
	require.IsType(t, &proto.Suback{}, ps[0])
	got := publishes(t, ps[1:])
	require.Len(t, got, 4)
	for _, m := range got {
		require.True(t, m.Retain, "[MQTT-3.3.1-9] sent because of the subscription")
	}
}

func TestSysClientCounts(t *testing.T) {
	h, p := sysHarness(t, Options{}, 2)
	type counts struct{ connected, disconnected, total, maximum int64 }
	check := func(step string, want counts) {
		t.Helper()
		v := p.snapshot()
		require.Equal(t, want, counts{v[sysConnected], v[sysDisconnected], v[sysTotal], v[sysMaximum]}, step)
	}
	check("empty", counts{})
	a := h.online(0, connectPacket(proto.V5, "a", true, 0, 0))
	b := h.online(1, connectPacket(proto.V5, "b", true, 0, 60))
	h.online(0, connectPacket(proto.V311, "c", true, 0, 0))
	check("three connected", counts{3, 0, 3, 3})
	b.drop()
	check("b offline, its session kept", counts{2, 1, 3, 3})
	a.disconnect(proto.Success)
	check("a gone with its session", counts{1, 1, 2, 3})
	h.online(1, connectPacket(proto.V5, "b", false, 0, 60))
	check("b back", counts{2, 0, 2, 3})
	h.online(0, connectPacket(proto.V5, "d", true, 0, 0))
	h.online(1, connectPacket(proto.V5, "e", true, 0, 0))
	check("a new peak, not yet followed by a disconnect", counts{4, 0, 4, 4})
}

func TestSysInflight(t *testing.T) {
	inflight := func(h *harness) int64 { return h.b.Stats.Inflight.Load() }

	t.Run("qos 1 window and acks", func(t *testing.T) {
		ps := newPubsub(t, Options{MaxInflight: 3, SysInterval: -1}, 1,
			connectPacket(proto.V5, "sub", true, 0, 0), "w", 1)
		ps.send("w", 1, 1, 5)
		got := publishes(t, ps.sub.recv())
		require.Len(t, got, 3)
		require.EqualValues(t, 3, inflight(ps.h), "two more wait in the queue")
		ps.sub.ack(proto.PUBACK, got[0].PacketID, proto.Success)
		require.EqualValues(t, 3, inflight(ps.h), "the queue refilled the window")
		waiting := append(got[1:], publishes(t, ps.sub.recv())...)
		for len(waiting) > 0 {
			ps.sub.ack(proto.PUBACK, waiting[0].PacketID, proto.Success)
			waiting = append(waiting[1:], publishes(t, ps.sub.recv())...)
			require.EqualValues(t, len(waiting), inflight(ps.h))
		}
	})

	t.Run("qos 2 until PUBCOMP, or an error PUBREC", func(t *testing.T) {
		ps := newPubsub(t, Options{SysInterval: -1}, 1, connectPacket(proto.V5, "sub", true, 0, 0), "w", 2)
		ps.send("w", 2, 1, 2)
		got := publishes(t, ps.sub.recv())
		require.Len(t, got, 2)
		require.EqualValues(t, 2, inflight(ps.h))
		ps.sub.ack(proto.PUBREC, got[0].PacketID, proto.Success)
		require.EqualValues(t, 2, inflight(ps.h), "awaiting PUBCOMP")
		ps.sub.ack(proto.PUBCOMP, got[0].PacketID, proto.Success)
		require.EqualValues(t, 1, inflight(ps.h))
		ps.sub.ack(proto.PUBREC, got[1].PacketID, proto.UnspecifiedError)
		require.Zero(t, inflight(ps.h))
	})

	t.Run("kept offline, released when the session ends", func(t *testing.T) {
		ps := newPubsub(t, Options{SysInterval: -1}, 1, connectPacket(proto.V5, "sub", true, 0, 60), "w", 1)
		ps.send("w", 1, 1, 2)
		require.Len(t, ps.sub.recv(), 2)
		ps.sub.drop()
		require.EqualValues(t, 2, inflight(ps.h), "the offline session still holds them")
		back := ps.h.online(0, connectPacket(proto.V5, "sub", false, 0, 60))
		require.Len(t, back.recv(), 2, "re-sent on resume")
		require.EqualValues(t, 2, inflight(ps.h))
		back.drop()
		ps.h.online(0, connectPacket(proto.V5, "sub", true, 0, 0))
		require.Zero(t, inflight(ps.h), "Clean Start discarded the session")
	})
}

// BytesOut counts every byte written, once per flush.
func TestSysBytesOut(t *testing.T) {
	h, _ := sysHarness(t, Options{}, 2)
	sub, pub := h.dial(0), h.dial(1)
	sub.mustSend(connectPacket(proto.V5, "sub", true, 0, 0))
	sub.mustSend(&proto.Subscribe{PacketID: 1, Subscriptions: []proto.Subscription{{Filter: []byte("t"), QoS: 1}}})
	h.settle()
	pub.mustSend(connectPacket(proto.V311, "pub", true, 0, 0))
	for i := range 5 {
		pub.mustSend(&proto.Publish{Topic: []byte("t"), Payload: []byte("payload"), QoS: 1, PacketID: uint16(i + 1)})
	}
	h.settle()
	written := len(sub.conn.take()) + len(pub.conn.take())
	require.Greater(t, written, 5*len("payload"))
	require.EqualValues(t, written, h.b.Stats.BytesOut.Load())
}

// Clients may not publish under $SYS (section 4.7.2: $ topics are the
// server's). The message is dropped; QoS 1 and 2 are still acknowledged,
// in v5 with 0x87 Not authorized.
func TestSysPublishRefused(t *testing.T) {
	tests := []struct {
		topic   string
		refused bool
	}{
		{"$SYS/broker/version", true},
		{"$SYS", true},
		{"$SYS/x/y", true},
		{"$SYSTEM/x", false},
		{"a/$SYS", false},
	}
	for _, v := range []proto.Version{proto.V5, proto.V311} {
		for _, qos := range []byte{0, 1, 2} {
			for _, tt := range tests {
				t.Run(fmt.Sprintf("v%d qos %d %s", v, qos, tt.topic), func(t *testing.T) {
					h, _ := sysHarness(t, Options{}, 1)
					watch := h.online(0, connectPacket(proto.V5, "watch", true, 0, 0))
					watch.subscribe(tt.topic, 2)
					pub := h.online(0, connectPacket(v, "pub", true, 0, 0))

					pub.mustSend(&proto.Publish{Topic: []byte(tt.topic), Payload: []byte("fake"), QoS: qos, PacketID: 7, Retain: true})
					rc := proto.Success
					if tt.refused && v == proto.V5 {
						rc = proto.NotAuthorized
					}
					switch qos {
					case 1:
						requireAck(t, pub.recvOne(), proto.PUBACK, 7, rc)
					case 2:
						requireAck(t, pub.recvOne(), proto.PUBREC, 7, rc)
						if rc == proto.Success {
							pub.ack(proto.PUBREL, 7, proto.Success)
							a, ok := pub.recvOne().(*proto.Ack)
							require.True(t, ok)
							require.Equal(t, proto.PUBCOMP, a.Type)
						}
					default:
						pub.recvNone()
					}
					h.settle()
					if tt.refused {
						watch.recvNone()
						require.Empty(t, h.b.Router().Retained(tt.topic), "not stored either")
						require.EqualValues(t, 1, h.b.Stats.Dropped.Load())
					} else {
						require.Equal(t, []string{"fake"}, payloads(publishes(t, watch.recv())))
						require.Zero(t, h.b.Stats.Dropped.Load())
					}
				})
			}
		}
	}
}

// A topic alias cannot smuggle a PUBLISH into $SYS.
func TestSysPublishRefusedThroughAlias(t *testing.T) {
	h, _ := sysHarness(t, Options{}, 1)
	watch := h.online(0, connectPacket(proto.V5, "watch", true, 0, 0))
	watch.subscribe("$SYS/#", 0)
	pub := h.online(0, connectPacket(proto.V5, "pub", true, 0, 0))
	withAlias := func(topic string, pid uint16) *proto.Publish {
		p := &proto.Publish{Topic: []byte(topic), Payload: []byte("fake"), QoS: 1, PacketID: pid}
		p.Props.TopicAlias = 1
		p.Props.Set(proto.PropTopicAlias)
		return p
	}
	pub.mustSend(withAlias("$SYS/broker/uptime", 1))
	requireAck(t, pub.recvOne(), proto.PUBACK, 1, proto.NotAuthorized)
	pub.mustSend(withAlias("", 2))
	requireAck(t, pub.recvOne(), proto.PUBACK, 2, proto.NotAuthorized)
	h.settle()
	watch.recvNone()
}

// NewBroker starts the publisher unless SysInterval is negative; it
// publishes at once, and Close stops it before the router.
func TestSysPublisherLifecycle(t *testing.T) {
	tests := []struct {
		interval time.Duration
		running  bool
	}{
		{0, true}, // the 10s default
		{time.Hour, true},
		{-1, false},
	}
	for _, tt := range tests {
		t.Run(tt.interval.String(), func(t *testing.T) {
			b := NewBroker(Options{SysInterval: tt.interval, Logger: quietLogger()})
			if !tt.running {
				require.Nil(t, b.sys)
				b.Close()
				return
			}
			require.NotNil(t, b.sys)
			if tt.interval == 0 {
				require.Equal(t, 10*time.Second, b.Options().SysInterval)
			}
			found := false
			for range 2000 {
				if len(b.Router().Retained("$SYS/broker/version")) == 1 {
					found = true
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			require.True(t, found, "the first values are published at start, not after an interval")
			b.Close()
			select {
			case <-b.sys.done:
			default:
				t.Fatal("Close left the $SYS goroutine running")
			}
			b.Close() // a second Close neither panics nor hangs
		})
	}
}
