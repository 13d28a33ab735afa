package loom_test

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/proto"
)

// v5Wait bounds every wait on the broker. It is generous on purpose: the
// tests assert what arrives, never how fast.
const v5Wait = 10 * time.Second

// v5Conf is what a test controls of a paho.golang CONNECT.
type v5Conf struct {
	id        string
	keep      bool   // Clean Start 0 (resume); the zero value starts clean
	expiry    uint32 // Session Expiry Interval; 0 leaves the property out
	will      *paho.WillMessage
	willProps *paho.WillProperties
}

// v5Client is a paho.golang client over a TCP connection the test holds, so
// the test can cut it from under the client to stand for a lost network.
type v5Client struct {
	*paho.Client
	conn    net.Conn
	msgs    chan *paho.Publish    // every PUBLISH received, in order
	srvDisc chan *paho.Disconnect // DISCONNECT packets sent by the broker
}

// connectV5 dials addr and connects a v5 client as o asks; the CONNECT
// must succeed. The client is disconnected when the test ends.
func connectV5(t testing.TB, addr string, o v5Conf) (*v5Client, *paho.Connack) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	c := &v5Client{
		conn:    conn,
		msgs:    make(chan *paho.Publish, 4096),
		srvDisc: make(chan *paho.Disconnect, 4),
	}
	c.Client = paho.NewClient(paho.ClientConfig{
		ClientID: o.id,
		Conn:     conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){
			func(r paho.PublishReceived) (bool, error) {
				c.msgs <- r.Packet
				return true, nil
			},
		},
		OnServerDisconnect: func(d *paho.Disconnect) { c.srvDisc <- d },
	})
	cp := &paho.Connect{ClientID: o.id, KeepAlive: 30, CleanStart: !o.keep,
		WillMessage: o.will, WillProperties: o.willProps}
	if o.expiry != 0 {
		e := o.expiry
		cp.Properties = &paho.ConnectProperties{SessionExpiryInterval: &e}
	}
	ctx, cancel := context.WithTimeout(context.Background(), v5Wait)
	defer cancel()
	ack, err := c.Connect(ctx, cp)
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = c.Disconnect(&paho.Disconnect{ReasonCode: 0})
		_ = conn.Close()
	})
	return c, ack
}

// cut closes the TCP connection under the client without a DISCONNECT.
func (c *v5Client) cut() { _ = c.conn.Close() }

// sub subscribes and requires every filter to be granted the QoS it asked
// for.
func (c *v5Client) sub(t testing.TB, opts ...paho.SubscribeOptions) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), v5Wait)
	defer cancel()
	ack, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: opts})
	require.NoError(t, err)
	require.Len(t, ack.Reasons, len(opts))
	for i, o := range opts {
		require.Equal(t, o.QoS, ack.Reasons[i], "SUBACK code for %q", o.Topic)
	}
}

// pub publishes p and, for QoS 1 and 2, requires a successful PUBACK or
// PUBCOMP.
func (c *v5Client) pub(t testing.TB, p *paho.Publish) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), v5Wait)
	defer cancel()
	r, err := c.Publish(ctx, p)
	require.NoError(t, err)
	if p.QoS > 0 {
		require.NotNil(t, r)
		require.Less(t, r.ReasonCode, byte(0x80), "publish of %q refused", p.Topic)
	}
}

// say publishes a payload without properties.
func (c *v5Client) say(t testing.TB, topic string, qos byte, retain bool, payload string) {
	t.Helper()
	c.pub(t, &paho.Publish{Topic: topic, QoS: qos, Retain: retain, Payload: []byte(payload)})
}

// recv returns the next PUBLISH the client received.
func (c *v5Client) recv(t testing.TB) *paho.Publish {
	t.Helper()
	select {
	case p := <-c.msgs:
		return p
	case <-time.After(v5Wait):
		t.Fatalf("client %s: no PUBLISH within %v", c.ClientID(), v5Wait)
		return nil
	}
}

// recvN returns the next n PUBLISH packets.
func (c *v5Client) recvN(t testing.TB, n int) []*paho.Publish {
	t.Helper()
	out := make([]*paho.Publish, 0, n)
	for range n {
		out = append(out, c.recv(t))
	}
	return out
}

// markerSeq makes every marker unique within the test binary.
var markerSeq atomic.Uint64

// until publishes a fresh marker from p at QoS 1 on each of topics and
// returns what c received that is not a marker, up to the last marker. The
// broker keeps one publisher's messages on one topic in order, and topics
// with the same first level on one router shard, so anything the broker
// meant to send c through those shards before the markers shows up here: a
// deterministic "nothing else came" without a sleep. c must be subscribed
// to every topic, outside any shared group.
func (c *v5Client) until(t testing.TB, p *v5Client, topics ...string) []*paho.Publish {
	t.Helper()
	marker := fmt.Sprintf("marker-%d", markerSeq.Add(1))
	waiting := make(map[string]bool, len(topics))
	for _, topic := range topics {
		p.say(t, topic, 1, false, marker)
		waiting[topic] = true
	}
	var before []*paho.Publish
	for range 100000 {
		m := c.recv(t)
		if waiting[m.Topic] && string(m.Payload) == marker {
			delete(waiting, m.Topic)
			if len(waiting) == 0 {
				return before
			}
			continue
		}
		before = append(before, m)
	}
	t.Fatal("markers never came")
	return nil
}

// upTo returns what c received before the message with this topic and
// payload, which it consumes.
func (c *v5Client) upTo(t testing.TB, topic, payload string) []*paho.Publish {
	t.Helper()
	var before []*paho.Publish
	for range 100000 {
		m := c.recv(t)
		if m.Topic == topic && string(m.Payload) == payload {
			return before
		}
		before = append(before, m)
	}
	t.Fatalf("%q on %q never came", payload, topic)
	return nil
}

// quiet requires that nothing arrives for d. It is for the few cases no
// marker can order (timers, connection close), and only ever makes a test
// pass more easily on a slow machine, never fail.
func (c *v5Client) quiet(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case p := <-c.msgs:
		t.Fatalf("unexpected PUBLISH on %q: %q", p.Topic, p.Payload)
	case <-time.After(d):
	}
}

// payloads lists the payloads of ps as strings.
func v5Payloads(ps []*paho.Publish) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = string(p.Payload)
	}
	return out
}

// opt is a subscription with default options.
func v5Opt(filter string, qos byte) paho.SubscribeOptions {
	return paho.SubscribeOptions{Topic: filter, QoS: qos}
}

// v5Expiry returns props carrying a Session Expiry Interval.
func v5Expiry(sec uint32) proto.Properties {
	var p proto.Properties
	p.SessionExpiry = sec
	p.Set(proto.PropSessionExpiry)
	return p
}
