package pahotest

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
)

// V5Conf is what a test controls of a paho.golang CONNECT.
type V5Conf struct {
	ID     string
	Keep   bool   // Clean Start 0 (resume); the zero value starts clean
	Expiry uint32 // Session Expiry Interval; 0 leaves the property out
	// Props are further CONNECT properties; Expiry, when set, is added to
	// a copy.
	Props     *paho.ConnectProperties
	Will      *paho.WillMessage
	WillProps *paho.WillProperties
}

// V5Client is a paho.golang client over a TCP connection the test holds, so
// the test can cut it from under the client to stand for a lost network.
type V5Client struct {
	*paho.Client
	Conn        net.Conn
	Msgs        chan *paho.Publish    // every PUBLISH received, in order
	Disconnects chan *paho.Disconnect // DISCONNECT packets sent by the broker
}

// ConnectV5 dials addr and connects a v5 client as o asks; the CONNECT
// must succeed. The client is disconnected when the test ends.
func ConnectV5(t testing.TB, addr string, o V5Conf) (*V5Client, *paho.Connack) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	c, ack, err := ConnectV5Over(conn, o)
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = c.Disconnect(&paho.Disconnect{ReasonCode: 0})
		_ = conn.Close()
	})
	return c, ack
}

// ConnectV5Over sends the CONNECT o describes over conn (TCP, TLS, a
// WebSocket wrapped as a net.Conn) and waits for the CONNACK: an error if
// none comes or it refuses; conn is closed then.
func ConnectV5Over(conn net.Conn, o V5Conf) (*V5Client, *paho.Connack, error) {
	c := &V5Client{
		Conn:        conn,
		Msgs:        make(chan *paho.Publish, 4096),
		Disconnects: make(chan *paho.Disconnect, 4),
	}
	c.Client = paho.NewClient(paho.ClientConfig{
		ClientID: o.ID,
		Conn:     conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){
			func(r paho.PublishReceived) (bool, error) {
				c.Msgs <- r.Packet
				return true, nil
			},
		},
		OnServerDisconnect: func(d *paho.Disconnect) { c.Disconnects <- d },
	})
	cp := &paho.Connect{ClientID: o.ID, KeepAlive: 30, CleanStart: !o.Keep,
		WillMessage: o.Will, WillProperties: o.WillProps}
	if o.Props != nil {
		p := *o.Props
		cp.Properties = &p
	}
	if o.Expiry != 0 {
		e := o.Expiry
		if cp.Properties == nil {
			cp.Properties = &paho.ConnectProperties{}
		}
		cp.Properties.SessionExpiryInterval = &e
	}
	ctx, cancel := context.WithTimeout(context.Background(), loomtest.Wait)
	defer cancel()
	ack, err := c.Connect(ctx, cp)
	if err != nil {
		_ = conn.Close()
	}
	return c, ack, err
}

// Cut closes the TCP connection under the client without a DISCONNECT.
func (c *V5Client) Cut() { _ = c.Conn.Close() }

// Sub subscribes and requires every filter to be granted the QoS it asked
// for.
func (c *V5Client) Sub(t testing.TB, opts ...paho.SubscribeOptions) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), loomtest.Wait)
	defer cancel()
	ack, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: opts})
	require.NoError(t, err)
	require.Len(t, ack.Reasons, len(opts))
	for i, o := range opts {
		require.Equal(t, o.QoS, ack.Reasons[i], "SUBACK code for %q", o.Topic)
	}
}

// Pub publishes p and, for QoS 1 and 2, requires a successful PUBACK or
// PUBCOMP.
func (c *V5Client) Pub(t testing.TB, p *paho.Publish) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), loomtest.Wait)
	defer cancel()
	r, err := c.Publish(ctx, p)
	require.NoError(t, err)
	if p.QoS > 0 {
		require.NotNil(t, r)
		require.Less(t, r.ReasonCode, byte(0x80), "publish of %q refused", p.Topic)
	}
}

// Say publishes a payload without properties.
func (c *V5Client) Say(t testing.TB, topic string, qos byte, retain bool, payload string) {
	t.Helper()
	c.Pub(t, &paho.Publish{Topic: topic, QoS: qos, Retain: retain, Payload: []byte(payload)})
}

// Recv returns the next PUBLISH the client received.
func (c *V5Client) Recv(t testing.TB) *paho.Publish {
	t.Helper()
	select {
	case p := <-c.Msgs:
		return p
	case <-time.After(loomtest.Wait):
		t.Fatalf("client %s: no PUBLISH within %v", c.ClientID(), loomtest.Wait)
		return nil
	}
}

// RecvN returns the next n PUBLISH packets.
func (c *V5Client) RecvN(t testing.TB, n int) []*paho.Publish {
	t.Helper()
	out := make([]*paho.Publish, 0, n)
	for range n {
		out = append(out, c.Recv(t))
	}
	return out
}

// markerSeq makes every marker unique within the test binary.
var markerSeq atomic.Uint64

// Until publishes a fresh marker from p at QoS 1 on each of topics and
// returns what c received that is not a marker, up to the last marker. The
// broker keeps one publisher's messages on one topic in order, and topics
// with the same first level on one router shard, so anything the broker
// meant to send c through those shards before the markers shows up here: a
// deterministic "nothing else came" without a sleep. c must be subscribed
// to every topic, outside any shared group.
func (c *V5Client) Until(t testing.TB, p *V5Client, topics ...string) []*paho.Publish {
	t.Helper()
	marker := fmt.Sprintf("marker-%d", markerSeq.Add(1))
	waiting := make(map[string]bool, len(topics))
	for _, topic := range topics {
		p.Say(t, topic, 1, false, marker)
		waiting[topic] = true
	}
	var before []*paho.Publish
	for range 100000 {
		m := c.Recv(t)
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

// UpTo returns what c received before the message with this topic and
// payload, which it consumes.
func (c *V5Client) UpTo(t testing.TB, topic, payload string) []*paho.Publish {
	t.Helper()
	var before []*paho.Publish
	for range 100000 {
		m := c.Recv(t)
		if m.Topic == topic && string(m.Payload) == payload {
			return before
		}
		before = append(before, m)
	}
	t.Fatalf("%q on %q never came", payload, topic)
	return nil
}

// Quiet requires that nothing arrives for d. It is for the few cases no
// marker can order (timers, connection close), and only ever makes a test
// pass more easily on a slow machine, never fail.
func (c *V5Client) Quiet(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case p := <-c.Msgs:
		t.Fatalf("unexpected PUBLISH on %q: %q", p.Topic, p.Payload)
	case <-time.After(d):
	}
}

// V5Payloads lists the payloads of ps as strings.
func V5Payloads(ps []*paho.Publish) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = string(p.Payload)
	}
	return out
}

// V5Opt is a subscription with default options.
func V5Opt(filter string, qos byte) paho.SubscribeOptions {
	return paho.SubscribeOptions{Topic: filter, QoS: qos}
}

// V5Expiry returns props carrying a Session Expiry Interval.
func V5Expiry(sec uint32) proto.Properties {
	var p proto.Properties
	p.SessionExpiry = sec
	p.Set(proto.PropSessionExpiry)
	return p
}
