package loomtest

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/loom-mqtt/loom/proto"
)

// Client is a Conn for a test: each method fails the test where the Conn's
// would return an error, and waits at most Wait. Conn's other methods
// (ReadFrame, Queue, Flush, NetConn...) stay at hand.
type Client struct {
	*Conn
	t testing.TB
}

// Dial opens a raw connection to addr that speaks version v, closed when
// the test ends. It sends nothing yet.
func Dial(t testing.TB, addr string, v proto.Version) *Client {
	t.Helper()
	return DialWith(t, addr, Dialer{Version: v})
}

// DialWith is Dial with the Dialer's options (a small receive buffer, a
// local address).
func DialWith(t testing.TB, addr string, d Dialer) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	c, err := d.Dial(ctx, addr)
	if err != nil {
		t.Fatalf("loomtest: dialing %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &Client{Conn: c, t: t}
}

// Over drives a connection the test opened some other way.
func Over(t testing.TB, nc net.Conn, v proto.Version) *Client {
	return &Client{Conn: NewConn(nc, v), t: t}
}

// Connect dials addr in version v and sends cp; the CONNACK must accept it.
func Connect(t testing.TB, addr string, v proto.Version, cp proto.Connect) (*Client, *proto.Connack) {
	t.Helper()
	c := Dial(t, addr, v)
	return c, c.ConnectWith(cp)
}

// T is the test the client fails.
func (c *Client) T() testing.TB { return c.t }

func (c *Client) check(err error) {
	c.t.Helper()
	if err != nil {
		c.t.Fatalf("loomtest: %v", err)
	}
}

func deadline() time.Time { return time.Now().Add(Wait) }

// Write sends b as it is, well-formed or not.
func (c *Client) Write(b []byte) {
	c.t.Helper()
	_ = c.nc.SetWriteDeadline(deadline())
	c.check(c.Conn.Write(b))
}

// Send encodes p in the connection's version and writes it.
func (c *Client) Send(p proto.Packet) {
	c.t.Helper()
	_ = c.nc.SetWriteDeadline(deadline())
	c.check(c.Conn.Send(p))
}

// Connect sends a Clean Start CONNECT for id (edit may change it) and
// requires a successful CONNACK.
func (c *Client) Connect(id string, edit func(*proto.Connect)) *proto.Connack {
	c.t.Helper()
	p := proto.Connect{CleanStart: true, ClientID: []byte(id)}
	if edit != nil {
		edit(&p)
	}
	return c.ConnectWith(p)
}

// ConnectWith sends cp and requires a successful CONNACK.
func (c *Client) ConnectWith(cp proto.Connect) *proto.Connack {
	c.t.Helper()
	ack, err := c.Conn.Connect(cp, deadline())
	c.check(err)
	return ack
}

// Next returns the next packet, or io.EOF once the broker closed the
// connection, or another error (a timeout) if it did neither within Wait.
func (c *Client) Next() (proto.Packet, error) { return c.Conn.Next(deadline()) }

// Expect requires the next packet to be a T.
func Expect[T proto.Packet](c *Client) T {
	c.t.Helper()
	v, err := expect[T](c.Conn, deadline())
	c.check(err)
	return v
}

// ReadPublish requires the next packet to be a PUBLISH.
func (c *Client) ReadPublish() *proto.Publish {
	c.t.Helper()
	return Expect[*proto.Publish](c)
}

// ReadAck requires the next packet to be an acknowledgement of type typ.
func (c *Client) ReadAck(typ proto.Type) *proto.Ack {
	c.t.Helper()
	a := Expect[*proto.Ack](c)
	if a.Type != typ {
		c.t.Fatalf("loomtest: want %v, got %v", typ, a.Type)
	}
	return a
}

// Ack sends a PUBACK, PUBREC, PUBREL or PUBCOMP with reason Success.
func (c *Client) Ack(typ proto.Type, id uint16) {
	c.t.Helper()
	c.Send(&proto.Ack{Type: typ, PacketID: id})
}

// Subscribe sends one SUBSCRIBE (packet id 1) and requires its SUBACK to
// grant qos.
func (c *Client) Subscribe(filter string, qos byte) {
	c.t.Helper()
	ack, err := c.Conn.Subscribe(filter, qos, deadline())
	c.check(err)
	if ack.Reasons[0] != proto.ReasonCode(qos) {
		c.t.Fatalf("loomtest: SUBACK granted %v, want QoS %d", ack.Reasons, qos)
	}
}

// Rest reads packets until the broker closes the connection, which it must
// do within Wait.
func (c *Client) Rest() []proto.Packet {
	c.t.Helper()
	out, err := c.Conn.Rest(deadline())
	c.check(err)
	return out
}

// ExpectClosed requires the broker to close the connection with nothing
// more sent.
func (c *Client) ExpectClosed() {
	c.t.Helper()
	if rest := c.Rest(); len(rest) > 0 {
		c.t.Fatalf("loomtest: packets arrived where the connection should close: %v", rest)
	}
}

// RestBytes reads raw bytes until the broker closes the connection, which
// it must do within Wait.
func (c *Client) RestBytes() []byte {
	c.t.Helper()
	b, err := c.Conn.RestBytes(deadline())
	c.check(err)
	return b
}

// Frame returns the bytes of the next whole packet, undecoded.
func (c *Client) Frame() []byte {
	c.t.Helper()
	b, err := c.Conn.Frame(deadline())
	c.check(err)
	return b
}

// Quiet requires that nothing arrives for d.
func (c *Client) Quiet(d time.Duration) {
	c.t.Helper()
	c.check(c.Conn.Quiet(d))
}

// Ping sends PINGREQ and requires PINGRESP as the next packet: with nothing
// else owed, a barrier that shows the broker sent nothing before it.
func (c *Client) Ping() {
	c.t.Helper()
	c.Send(&proto.Ping{Type: proto.PINGREQ})
	if p := Expect[*proto.Ping](c); p.Type != proto.PINGRESP {
		c.t.Fatalf("loomtest: got %v where PINGRESP was due", p.Type)
	}
}

// Publish sends a PUBLISH and completes its QoS flow as the publisher:
// the broker's PUBACK, or PUBREC, PUBREL and PUBCOMP, must each carry id
// and succeed. At QoS 0 id is ignored.
func (c *Client) Publish(topic, payload string, qos byte, id uint16) {
	c.t.Helper()
	if qos == 0 {
		id = 0
	}
	c.Send(&proto.Publish{Topic: []byte(topic), Payload: []byte(payload), QoS: qos, PacketID: id})
	want := func(typ proto.Type) {
		c.t.Helper()
		if a := c.ReadAck(typ); a.PacketID != id || a.Reason >= 0x80 {
			c.t.Fatalf("loomtest: %v for packet id %d, reason 0x%02X; want id %d", typ, a.PacketID, byte(a.Reason), id)
		}
	}
	switch qos {
	case 1:
		want(proto.PUBACK)
	case 2:
		want(proto.PUBREC)
		c.Ack(proto.PUBREL, id)
		want(proto.PUBCOMP)
	}
}

// For is the same connection failing another test (a subtest's).
func (c *Client) For(t testing.TB) *Client { return &Client{Conn: c.Conn, t: t} }
