package loom_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/proto"
)

// rawWait bounds every wait of a raw client and of eventually: generous,
// since a loaded 2-core machine under -race can be slow, and never a
// measure of speed.
const rawWait = 10 * time.Second

// rawClient is a hand-driven MQTT connection, for what a library client
// will not send (malformed packets, an empty id with Clean Session 0, a
// re-sent QoS 2 PUBLISH) or does not show (CONNACK codes, the exact bytes,
// the moment the broker closes). Packets go out whole; packets come in
// decoded in the connection's version.
type rawClient struct {
	t    testing.TB
	conn net.Conn
	v    proto.Version
	buf  []byte // received bytes not yet decoded
}

// rawDial opens a raw connection to addr that speaks version v, closed
// with the test.
func rawDial(t testing.TB, addr string, v proto.Version) *rawClient {
	return rawOver(t, dial(t, addr), v)
}

// rawOver drives a connection the test opened some other way.
func rawOver(t testing.TB, c net.Conn, v proto.Version) *rawClient {
	return &rawClient{t: t, conn: c, v: v}
}

// rawConnect dials addr in version v and sends cp; the CONNACK must
// succeed.
func rawConnect(t testing.TB, addr string, v proto.Version, cp proto.Connect) (*rawClient, *proto.Connack) {
	t.Helper()
	r := rawDial(t, addr, v)
	return r, r.connectWith(cp)
}

// write sends b as it is, well-formed or not.
func (r *rawClient) write(b []byte) {
	r.t.Helper()
	require.NoError(r.t, r.conn.SetWriteDeadline(time.Now().Add(rawWait)))
	_, err := r.conn.Write(b)
	require.NoError(r.t, err)
}

// send encodes p in the connection's version and writes it.
func (r *rawClient) send(p proto.Packet) {
	r.t.Helper()
	r.write(p.Append(nil, r.v))
}

// connect sends a Clean Start CONNECT for id in r's version (edit may
// change it) and requires a successful CONNACK.
func (r *rawClient) connect(id string, edit func(*proto.Connect)) *proto.Connack {
	r.t.Helper()
	p := proto.Connect{CleanStart: true, ClientID: []byte(id)}
	if edit != nil {
		edit(&p)
	}
	return r.connectWith(p)
}

// connectWith sends cp in r's version and requires a successful CONNACK.
func (r *rawClient) connectWith(cp proto.Connect) *proto.Connack {
	r.t.Helper()
	cp.Version = r.v
	r.send(&cp)
	ack := expect[*proto.Connack](r)
	require.Equal(r.t, proto.Success, ack.Reason, "CONNACK refused %q", cp.ClientID)
	return ack
}

// isClosed reports whether err means the peer closed the connection.
func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}

// fill reads once into r.buf; io.EOF when the broker has closed.
func (r *rawClient) fill(deadline time.Time) error {
	_ = r.conn.SetReadDeadline(deadline)
	var tmp [4096]byte
	n, err := r.conn.Read(tmp[:])
	r.buf = append(r.buf, tmp[:n]...)
	switch {
	case n > 0:
		return nil
	case isClosed(err):
		return io.EOF
	}
	return err
}

// next returns the next packet from the broker, or io.EOF once it closed
// the connection, or another error (a timeout) if it did neither within
// rawWait.
func (r *rawClient) next() (proto.Packet, error) {
	deadline := time.Now().Add(rawWait)
	for {
		if len(r.buf) > 0 {
			p, n, err := proto.Decode(r.buf, r.v)
			if !errors.Is(err, proto.ErrIncomplete) {
				if err != nil {
					return nil, fmt.Errorf("broker sent undecodable bytes % x: %w", r.buf, err)
				}
				// A fresh slice for the rest: the packet keeps the old one.
				r.buf = append([]byte(nil), r.buf[n:]...)
				return p, nil
			}
		}
		if err := r.fill(deadline); err != nil {
			if err == io.EOF && len(r.buf) > 0 {
				return nil, fmt.Errorf("closed inside a packet: % x", r.buf)
			}
			return nil, err
		}
	}
}

// expect requires the next packet to be a T.
func expect[T proto.Packet](r *rawClient) T {
	r.t.Helper()
	p, err := r.next()
	require.NoError(r.t, err)
	v, ok := p.(T)
	require.True(r.t, ok, "got %T %+v, want %T", p, p, v)
	return v
}

// readPublish requires the next packet to be a PUBLISH.
func (r *rawClient) readPublish() *proto.Publish {
	r.t.Helper()
	return expect[*proto.Publish](r)
}

// readAck requires the next packet to be an acknowledgement of type typ.
func (r *rawClient) readAck(typ proto.Type) *proto.Ack {
	r.t.Helper()
	a := expect[*proto.Ack](r)
	require.Equal(r.t, typ, a.Type, "want %v, got %v", typ, a.Type)
	return a
}

// ack sends a PUBACK, PUBREC, PUBREL or PUBCOMP with reason Success.
func (r *rawClient) ack(typ proto.Type, pid uint16) {
	r.t.Helper()
	r.send(&proto.Ack{Type: typ, PacketID: pid})
}

// subscribe sends one SUBSCRIBE (packet id 1) and requires its SUBACK to
// grant qos.
func (r *rawClient) subscribe(filter string, qos byte) {
	r.t.Helper()
	r.send(&proto.Subscribe{PacketID: 1, Subscriptions: []proto.Subscription{{Filter: []byte(filter), QoS: qos}}})
	ack := expect[*proto.Suback](r)
	require.Equal(r.t, []proto.ReasonCode{proto.ReasonCode(qos)}, ack.Reasons)
}

// rest reads packets until the broker closes the connection, which it must
// do within rawWait of the last packet.
func (r *rawClient) rest() []proto.Packet {
	r.t.Helper()
	var out []proto.Packet
	for {
		p, err := r.next()
		if err == io.EOF {
			return out
		}
		require.NoError(r.t, err, "the broker did not close the connection (got so far: %v)", out)
		out = append(out, p)
	}
}

// expectClosed requires the broker to close the connection with nothing
// more sent.
func (r *rawClient) expectClosed() {
	r.t.Helper()
	require.Empty(r.t, r.rest(), "packets arrived where the connection should close")
}

// restBytes reads raw bytes until the broker closes the connection, which
// it must do within rawWait.
func (r *rawClient) restBytes() []byte {
	r.t.Helper()
	deadline := time.Now().Add(rawWait)
	for {
		if err := r.fill(deadline); err != nil {
			require.ErrorIs(r.t, err, io.EOF, "the broker did not close the connection (got % x)", r.buf)
			out := r.buf
			r.buf = nil
			return out
		}
	}
}

// eventually polls cond until it holds, failing the test after rawWait.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(rawWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitConnections waits until the broker holds n network connections.
func waitConnections(t testing.TB, srv *loom.Server, n int64) {
	t.Helper()
	eventually(t, fmt.Sprintf("%d connections", n), func() bool { return srv.Stats().OpenConnections == n })
}
