package session

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/router"
)

// publishAck sends a QoS 1 PUBLISH of size bytes and returns the reason code
// of its PUBACK.
func (tc *tclient) publishAck(topic string, size int, pid uint16) proto.ReasonCode {
	tc.t.Helper()
	tc.mustSend(&proto.Publish{Topic: []byte(topic), Payload: []byte(strings.Repeat("x", size)), QoS: 1, PacketID: pid})
	tc.h.settle()
	a, ok := tc.recvOne().(*proto.Ack)
	require.True(tc.t, ok)
	require.Equal(tc.t, proto.PUBACK, a.Type)
	require.Equal(tc.t, pid, a.PacketID)
	return a.Reason
}

// requireNothingHeld checks that every reservation was given back.
func requireNothingHeld(t *testing.T, h *harness) {
	t.Helper()
	h.settle()
	require.Zero(t, h.b.held.Load(), "bytes still counted as held for subscribers")
}

// A subscriber that never acknowledges holds at most MaxSessionBytes: the
// rest is dropped and counted by cause, and the count goes back to zero once
// the messages leave.
func TestSessionBytesBound(t *testing.T) {
	const size = 1000
	opts := Options{MaxSessionBytes: 10 * size, MaxInflight: 2}
	ps := newPubsub(t, opts, 2, connectPacket(proto.V5, "hog", true, 0, 0), "big/#", 1)
	for i := 1; i <= 30; i++ {
		ps.pub.publishAck("big/t", size, uint16(i))
	}
	b := ps.h.b
	got := publishes(t, ps.sub.recv())
	require.Len(t, got, 2, "the window")
	held := b.held.Load()
	require.LessOrEqual(t, held, opts.MaxSessionBytes)
	require.Greater(t, held, opts.MaxSessionBytes-2*size, "filled to its bound")
	dropped := b.Stats.Drops[DropSessionBytes].Load()
	require.Positive(t, dropped)
	require.Equal(t, dropped, b.Stats.Dropped.Load(), "no other cause")
	require.EqualValues(t, 30, dropped+int64(ps.sub.c.sess.queueLen())+2, "every message held or dropped, once")

	// Acknowledging what was sent lets the queue move and the count fall.
	for _, p := range got {
		ps.sub.ack(proto.PUBACK, p.PacketID, proto.Success)
	}
	ps.h.settle()
	require.Less(t, b.held.Load(), held)
	ps.sub.disconnect(proto.Success) // the session ends with its connection
	requireNothingHeld(t, ps.h)
}

// [MQTT-3.4.2-1] While bounds drop messages, a v5 publisher whose QoS 1
// message reached no subscriber for that is told so with PUBACK 0x97, and
// one whose message did reach a subscriber gets 0x00.
func TestPubackQuotaExceeded(t *testing.T) {
	opts := Options{MaxSessionBytes: 4000, MaxInflight: 1}
	ps := newPubsub(t, opts, 1, connectPacket(proto.V5, "hog", true, 0, 0), "big/#", 1)
	healthy := ps.h.online(0, connectPacket(proto.V5, "healthy", true, 0, 0))
	healthy.subscribe("ok/#", 1)

	var codes []proto.ReasonCode
	for i := 1; i <= 8; i++ {
		codes = append(codes, ps.pub.publishAck("big/t", 1000, uint16(i)))
	}
	require.Equal(t, proto.Success, codes[0])
	require.Contains(t, codes, proto.QuotaExceeded)
	require.Equal(t, proto.QuotaExceeded, codes[len(codes)-1])

	// The healthy subscriber's messages still go, acknowledged 0x00.
	require.Equal(t, proto.Success, ps.pub.publishAck("ok/t", 10, 100))
	got := publishes(t, healthy.recv())
	require.Equal(t, []string{"x" + strings.Repeat("x", 9)}, payloads(got))

	// A 3.1.1 publisher gets a plain PUBACK: it has no reason code.
	old := ps.h.online(0, connectPacket(proto.V311, "old", true, 0, 0))
	old.mustSend(&proto.Publish{Topic: []byte("big/t"), Payload: []byte("x"), QoS: 1, PacketID: 7})
	ps.h.settle()
	requireAck(t, old.recvOne(), proto.PUBACK, 7, proto.Success)
}

// Past the broker's budget the largest holder is shed, oldest first, and a
// session holding little still gets its messages.
func TestBudgetShedsLargestHolder(t *testing.T) {
	const size = 8 << 10
	opts := Options{MaxSessionBytes: -1, MemoryBudget: 512 << 10}
	h := newHarness(t, opts, 1)
	offline := func(id, filter string) {
		c := h.online(0, connectPacket(proto.V5, id, false, 0, ExpiryNever))
		c.subscribe(filter, 1)
		c.drop()
	}
	offline("hog", "big/#")
	offline("small", "small/#")
	pub := h.online(0, connectPacket(proto.V5, "pub", true, 0, 0))

	for i := 1; i <= 100; i++ {
		pub.publishAck("big/t", size, uint16(i))
	}
	b := h.b
	require.Positive(t, b.Stats.Drops[DropBudget].Load(), "the hog was refused past the budget")
	require.LessOrEqual(t, b.HeldBytes(), opts.MemoryBudget+opts.MemoryBudget/8)

	for i := 1; i <= 5; i++ {
		require.Equal(t, proto.Success, pub.publishAck("small/t", size, uint16(200+i)))
	}
	require.Eventually(t, func() bool { return !b.shedding.Load() && b.HeldBytes() <= opts.MemoryBudget },
		5*time.Second, time.Millisecond, "the shedder brings the total under the budget")

	// The small session got all five; the hog keeps its newest messages.
	small := h.dial(0)
	small.connect(connectPacket(proto.V5, "small", false, 0, ExpiryNever))
	h.settle()
	require.Len(t, publishes(t, small.recv()), 5)
	hog := h.dial(0)
	hog.connect(connectPacket(proto.V5, "hog", false, 0, ExpiryNever))
	h.settle()
	got := publishes(t, hog.recv())
	require.NotEmpty(t, got)
	require.Less(t, len(got), 100)

	for id, c := range map[string]*tclient{"small": small, "hog": hog} {
		c.disconnect(proto.Success)
		again := h.dial(0)
		again.connect(connectPacket(proto.V5, id, true, 0, 0)) // Clean Start ends the stored session
		again.disconnect(proto.Success)
	}
	requireNothingHeld(t, h)
}

// A message queued for many sessions counts once against the budget, plus
// a little for each holder.
func TestFanOutCountedOnce(t *testing.T) {
	h := newHarness(t, Options{}, 1)
	for i := range 50 {
		c := h.online(0, connectPacket(proto.V5, fmt.Sprintf("s%d", i), false, 0, ExpiryNever))
		c.subscribe("fw/#", 1)
		c.drop()
	}
	pub := h.online(0, connectPacket(proto.V5, "pub", true, 0, 0))
	require.Equal(t, proto.Success, pub.publishAck("fw/image", 100<<10, 1))
	held := h.b.held.Load()
	require.Greater(t, held, int64(100<<10))
	require.Less(t, held, int64(100<<10)+50*1024, "one copy and 50 holders")
	for i := range 50 {
		c := h.dial(0)
		c.connect(connectPacket(proto.V5, fmt.Sprintf("s%d", i), true, 0, 0)) // Clean Start ends the stored session
		c.disconnect(proto.Success)
	}
	requireNothingHeld(t, h)
}

// [MQTT-3.5.2-1] [MQTT-4.3.3-9] The same for QoS 2: PUBREC 0x97 ends the
// flow, so the packet id is free at once and a PUBLISH that reuses it is a
// new message, not a repeat.
func TestPubrecQuotaExceeded(t *testing.T) {
	opts := Options{MaxSessionBytes: 4000, MaxInflight: 1}
	ps := newPubsub(t, opts, 1, connectPacket(proto.V5, "hog", true, 0, 0), "big/#", 2)
	payload := []byte(strings.Repeat("x", 1000))
	var last proto.ReasonCode
	for i := 1; i <= 8; i++ {
		ps.pub.mustSend(&proto.Publish{Topic: []byte("big/t"), Payload: payload, QoS: 2, PacketID: uint16(i)})
		ps.h.settle()
		a := ps.pub.recvOne().(*proto.Ack)
		require.Equal(t, proto.PUBREC, a.Type)
		if last = a.Reason; last == proto.Success {
			ps.pub.ack(proto.PUBREL, uint16(i), proto.Success)
			ps.h.settle()
			requireAck(t, ps.pub.recvOne(), proto.PUBCOMP, uint16(i), proto.Success)
		}
	}
	require.Equal(t, proto.QuotaExceeded, last)
	s := ps.pub.c.sess
	s.mu.Lock()
	require.Empty(t, s.inQoS2, "no id waits for a PUBREL after a failed PUBREC")
	s.mu.Unlock()

	// The id of the refused message (8) is new again: a healthy subscriber
	// gets the message sent with it.
	ok := ps.h.online(0, connectPacket(proto.V5, "ok", true, 0, 0))
	ok.subscribe("ok/#", 2)
	ps.pub.mustSend(&proto.Publish{Topic: []byte("ok/t"), Payload: []byte("fresh"), QoS: 2, PacketID: 8})
	ps.h.settle()
	requireAck(t, ps.pub.recvOne(), proto.PUBREC, 8, proto.Success)
	require.Equal(t, []string{"fresh"}, payloads(publishes(t, ok.recv())))
}

// A message larger than MaxSessionBytes still reaches a session that holds
// nothing else: the bound limits what piles up, not what may be sent.
func TestLargeMessagePassesEmptySession(t *testing.T) {
	ps := newPubsub(t, Options{MaxSessionBytes: 1000}, 1, connectPacket(proto.V5, "sub", true, 0, 0), "big/#", 1)
	require.Equal(t, proto.Success, ps.pub.publishAck("big/t", 5000, 1))
	got := publishes(t, ps.sub.recv())
	require.Len(t, got, 1)
	require.Len(t, got[0].Payload, 5000)
	ps.sub.ack(proto.PUBACK, got[0].PacketID, proto.Success)
	ps.sub.disconnect(proto.Success)
	requireNothingHeld(t, ps.h)
}

// The budget bounds what slow readers' connections hold too: past it, a
// reader holding more than a small share gets no more QoS 0 messages
// (counted as budget drops), so the spools of many readers together stay
// near the budget though each stays under its own OutboundLimit.
func TestBudgetBoundsSpools(t *testing.T) {
	const budget = 2 << 20
	h := newHarness(t, Options{MemoryBudget: budget, Router: router.Options{Shards: 1}}, 1)
	var readers []*tclient
	for i := range 4 {
		c := h.online(0, connectPacket(proto.V5, fmt.Sprintf("slow%d", i), true, 0, 0))
		c.subscribe("t", 0)
		c.conn.setBuffered(spoolAt) // the socket takes nothing more
		readers = append(readers, c)
	}
	pub := h.online(0, connectPacket(proto.V5, "pub", true, 0, 0))
	payload := []byte(strings.Repeat("x", 1000))
	for range 2000 {
		pub.mustSend(&proto.Publish{Topic: []byte("t"), Payload: payload})
	}
	h.settle()
	spooled := 0
	for _, c := range readers {
		spooled += c.c.spooled()
		require.Less(t, c.c.held(), h.b.opts.OutboundLimit, "each under its own limit")
	}
	// Each reader may pass the mark by what one drain writes for it (up to
	// outChunk pending output) and one message.
	require.LessOrEqual(t, spooled, budget+4*(outChunk+1100), "together about the budget")
	require.Greater(t, spooled, budget/2)
	require.Positive(t, h.b.Stats.Drops[DropBudget].Load())
	for _, c := range readers {
		c.conn.setBuffered(0)
	}
	h.tick()
}
