package limits_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/tests/internal/pahotest"
)

// Publish rates (Limits.PublishRate, PublishByteRate; session/pubrate.go):
// a client past its rate is slowed — the broker leaves its packets unread
// and TCP holds its writes — not disconnected, and loses nothing, while
// the other clients, on its event loop too (one loop here), go on.
//
// Times are measured at the subscriber, from the first message to the
// last, against what the rate allows after the burst; the bounds are
// loose (the machine is shared), but a broker that did not slow the
// publisher would take a few milliseconds, far under the lower bound.

// arrivals receives n messages on topic and returns their payloads and
// the time from the first to the last. Messages on other topics are
// returned apart.
func arrivals(t *testing.T, sub *pahotest.V5Client, topic string, n int) (got []string, took time.Duration, others []*paho.Publish) {
	t.Helper()
	var first time.Time
	for len(got) < n {
		m := sub.Recv(t)
		if m.Topic != topic {
			others = append(others, m)
			continue
		}
		if len(got) == 0 {
			first = time.Now()
		}
		got = append(got, string(m.Payload))
	}
	return got, time.Since(first), others
}

// requireAboutRate requires that took is no less than what the rate
// allows (with 10% off for the clocks' steps) and not far above it.
func requireAboutRate(t *testing.T, took, want time.Duration) {
	t.Helper()
	t.Logf("took %v; the rate allows %v", took.Round(time.Millisecond), want)
	require.GreaterOrEqual(t, took, want*9/10, "faster than the rate allows")
	require.Less(t, took, 3*want+2*time.Second, "far slower than the rate")
}

// TestPublishRateMessages: 5 messages a second in bursts of 5; a v5
// client sending 25 QoS 0 messages at once gets the first 5 through at
// once and the other 20 over about 4 s, in order, none lost; a 3.1.1
// client on the same loop, within its own rate, is answered at once
// meanwhile.
func TestPublishRateMessages(t *testing.T) {
	const n, rate, burst = 25, 5, 5
	srv, addr := loomtest.Start(t, loom.Options{Loops: 1, Limits: loom.Limits{PublishRate: rate, PublishBurst: burst}})
	sub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "sub"})
	sub.Sub(t, pahotest.V5Opt("rate/#", 1))
	pub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "fast"})
	other, _ := pahotest.V3Connect(t, pahotest.V3Options(addr, "other"))

	want := make([]string, n)
	for i := range n {
		want[i] = fmt.Sprint(i)
		pub.Say(t, "rate/fast", 0, false, want[i])
	}
	done := make(chan struct{})
	var otherTook time.Duration
	go func() {
		defer close(done)
		time.Sleep(500 * time.Millisecond) // the fast one is held back by then
		start := time.Now()
		for i := range burst {
			if tok := other.Publish("rate/other", 1, false, fmt.Sprint(i)); !tok.WaitTimeout(loomtest.Wait) || tok.Error() != nil {
				return
			}
		}
		otherTook = time.Since(start)
	}()
	got, took, others := arrivals(t, sub, "rate/fast", n)
	<-done
	require.Equal(t, want, got, "every message, in order")
	requireAboutRate(t, took, (n-burst)*time.Second/rate)
	require.Len(t, others, burst, "the other client's messages came among them")
	require.NotZero(t, otherTook, "the other client's QoS 1 publishes did not complete")
	require.Less(t, otherTook, time.Second, "the other client was slowed")

	st := srv.Stats()
	require.Zero(t, st.Dropped)
	require.Positive(t, st.PublishRatePauses)
	require.EqualValues(t, n+burst, st.MessagesIn)
	require.EqualValues(t, n+burst, st.MessagesOut)
}

// TestPublishRateBytes: 20,000 bytes a second in bursts of 5,000; a 3.1.1
// client sending 50 QoS 1 messages of 1,000 bytes without waiting for
// their acknowledgements gets them through at about that rate, every one
// acknowledged and delivered in order; a v5 client publishing meanwhile
// is not slowed.
func TestPublishRateBytes(t *testing.T) {
	const n, size, rate, burst = 50, 1000, 20000, 5000
	_, addr := loomtest.Start(t, loom.Options{Loops: 1, Limits: loom.Limits{PublishByteRate: rate, PublishByteBurst: burst}})
	sub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "sub"})
	sub.Sub(t, pahotest.V5Opt("bytes/#", 1))
	pub, _ := pahotest.V3Connect(t, pahotest.V3Options(addr, "fast"))
	other, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "other"})

	payload := bytes.Repeat([]byte("x"), size)
	packet := len((&proto.Publish{QoS: 1, PacketID: 1, Topic: []byte("bytes/fast"), Payload: payload}).Append(nil, proto.V311))
	var toks []interface{ WaitTimeout(time.Duration) bool }
	for i := range n {
		p := append([]byte(fmt.Sprintf("%02d", i)), payload[2:]...)
		toks = append(toks, pub.Publish("bytes/fast", 1, false, p))
	}
	var got []string
	var first time.Time
	var otherTook time.Duration
	for len(got) < n {
		m := sub.Recv(t)
		if m.Topic != "bytes/fast" {
			continue
		}
		require.Len(t, m.Payload, size)
		got = append(got, string(m.Payload[:2]))
		if len(got) == 1 {
			first = time.Now()
			time.Sleep(300 * time.Millisecond) // the fast one is held back by then
			start := time.Now()
			other.Say(t, "bytes/other", 1, false, "not slowed")
			otherTook = time.Since(start)
		}
	}
	took := time.Since(first)
	for i, tok := range toks {
		require.True(t, tok.WaitTimeout(loomtest.Wait), "message %d not acknowledged", i)
		require.Equal(t, fmt.Sprintf("%02d", i), got[i], "in order")
	}
	requireAboutRate(t, took, time.Duration(n*packet-burst)*time.Second/rate)
	require.Less(t, otherTook, time.Second, "the other client was slowed")
}

// TestPublishRateKeepAlive: a client held back for longer than one and a
// half times its keepalive is not disconnected for it [MQTT-3.1.2-24 v3.1.1]: its
// packets came, it is the broker that left them unread. One message a
// second, keepalive 1 s: four QoS 1 PUBLISH packets written at once are
// acknowledged over about 3 s, and the connection is still up after.
func TestPublishRateKeepAlive(t *testing.T) {
	_, addr := loomtest.Start(t, loom.Options{Limits: loom.Limits{PublishRate: 1, PublishBurst: 1}})
	c := loomtest.Dial(t, addr, proto.V311)
	c.Connect("slow", func(p *proto.Connect) { p.KeepAlive = 1 })
	var wire []byte
	for i := range 4 {
		wire = (&proto.Publish{QoS: 1, PacketID: uint16(i + 1), Topic: []byte("ka"), Payload: []byte("x")}).Append(wire, proto.V311)
	}
	start := time.Now()
	c.Write(wire)
	for i := range 4 {
		require.EqualValues(t, i+1, c.ReadAck(proto.PUBACK).PacketID)
	}
	requireAboutRate(t, time.Since(start), 3*time.Second)
	c.Ping() // still connected
}

// TestPublishRateNoDisconnect: a v5 client far past its rate is slowed,
// not told to go: no DISCONNECT (0x96 Message rate too high) reaches it,
// and each of its QoS 1 messages is acknowledged.
func TestPublishRateNoDisconnect(t *testing.T) {
	_, addr := loomtest.Start(t, loom.Options{Limits: loom.Limits{PublishRate: 20, PublishBurst: 1}})
	pub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "p"})
	for i := range 20 {
		pub.Say(t, "x", 1, false, fmt.Sprint(i)) // each waits for its PUBACK
	}
	select {
	case d := <-pub.Disconnects:
		t.Fatalf("DISCONNECT 0x%02X", d.ReasonCode)
	default:
	}
}
