package limits_test

import (
	"fmt"
	"net"
	"sync/atomic"
	"testing"

	"github.com/eclipse/paho.golang/paho"
	mqtt3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/tests/internal/pahotest"
)

// Client caps (Listener.MaxClients, Limits.MaxClients; session/gate.go):
// past a cap a v5 CONNECT gets CONNACK 0x97 Quota exceeded and a 3.1.1
// one return code 3 Server unavailable, then the connection closes, while
// the clients connected already go on.

// v5Refusal connects a paho.golang client to addr and returns the reason
// code of the CONNACK that refuses it.
func v5Refusal(t *testing.T, addr, id string) byte {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	_, ack, err := pahotest.ConnectV5Over(conn, pahotest.V5Conf{ID: id})
	require.Error(t, err, "%s was let in", id)
	require.NotNil(t, ack, "%s: no CONNACK: %v", id, err)
	return ack.ReasonCode
}

// v3Refusal connects a paho.mqtt.golang 3.1.1 client to addr and returns
// the return code of the CONNACK that refuses it.
func v3Refusal(t *testing.T, addr, id string) byte {
	t.Helper()
	c := mqtt3.NewClient(pahotest.V3Options(addr, id))
	tok := c.Connect()
	require.True(t, tok.WaitTimeout(loomtest.Wait))
	require.Error(t, tok.Error(), "%s was let in", id)
	return tok.(*mqtt3.ConnectToken).ReturnCode()
}

// rawRefusal sends a CONNECT in version v and requires one CONNACK with
// code and Session Present 0, then the end of the stream
// [MQTT-3.2.2-6] [MQTT-3.2.2-7] [MQTT-3.2.2-8] (3.1.1: [MQTT-3.2.2-4 v3.1.1]
// [MQTT-3.2.2-5 v3.1.1]).
func rawRefusal(t *testing.T, addr string, v proto.Version, id string, code proto.ReasonCode) {
	t.Helper()
	c := loomtest.Dial(t, addr, v)
	c.Send(&proto.Connect{Version: v, CleanStart: true, ClientID: []byte(id)})
	ps := c.Rest()
	require.Len(t, ps, 1, "one CONNACK, then the end of the stream")
	ack, ok := ps[0].(*proto.Connack)
	require.True(t, ok, "got %v", ps[0].PacketType())
	require.Equal(t, code, ack.Reason)
	require.False(t, ack.SessionPresent)
}

// listenerStats returns the stats of the listener with this id.
func listenerStats(t *testing.T, srv *loom.Server, id string) loom.ListenerStats {
	t.Helper()
	for _, l := range srv.ListenerStats() {
		if l.ID == id {
			return l
		}
	}
	t.Fatalf("no listener %q", id)
	return loom.ListenerStats{}
}

// TestListenerClientCap: a listener capped at 3 refuses the fourth
// client, v5 [MQTT-3.1.4-2] as well as 3.1.1 (return code 3,
// rawRefusal), while its three go on publishing and receiving; another listener of the same broker is not touched; a client
// that leaves frees its place; a takeover of one of its own clients is
// let in.
func TestListenerClientCap(t *testing.T) {
	srv, _ := loomtest.Start(t, loom.Options{Listeners: []loom.Listener{
		{ID: "capped", Address: "tcp://127.0.0.1:0", MaxClients: 3},
		{ID: "open", Address: "tcp://127.0.0.1:0"},
	}})
	capped, open := srv.Addrs()[0].String(), srv.Addrs()[1].String()

	sub, _ := pahotest.ConnectV5(t, capped, pahotest.V5Conf{ID: "sub"})
	sub.Sub(t, pahotest.V5Opt("caps/#", 1))
	pub5, _ := pahotest.ConnectV5(t, capped, pahotest.V5Conf{ID: "pub5"})
	pub3, _ := pahotest.V3Connect(t, pahotest.V3Options(capped, "pub3"))

	require.EqualValues(t, proto.QuotaExceeded, v5Refusal(t, capped, "fourth-5"))
	require.EqualValues(t, proto.V3ServerUnavailable, v3Refusal(t, capped, "fourth-3"))
	rawRefusal(t, capped, proto.V5, "fourth-raw5", proto.QuotaExceeded)
	rawRefusal(t, capped, proto.V311, "fourth-raw3", proto.V3ServerUnavailable)

	// The three go on.
	pub5.Say(t, "caps/a", 1, false, "from 5")
	pahotest.V3Publish(t, pub3, "caps/b", 1, false, "from 3")
	require.Equal(t, []string{"from 5", "from 3"}, pahotest.V5Payloads(sub.RecvN(t, 2)))

	// The other listener takes more than three, in both versions.
	in := pahotest.NewV3Inbox()
	o3, _ := pahotest.V3Connect(t, pahotest.V3Options(open, "open-3"))
	pahotest.V3Subscribe(t, o3, "caps/#", 1, in)
	var o5 *pahotest.V5Client
	for i := range 4 {
		o5, _ = pahotest.ConnectV5(t, open, pahotest.V5Conf{ID: fmt.Sprint("open-5-", i)})
	}
	o5.Say(t, "caps/c", 1, false, "open")
	require.Equal(t, "open", string(sub.Recv(t).Payload), "a client of the full listener still receives")
	in.Expect(t, pahotest.V3Message{Topic: "caps/c", Payload: "open", QoS: 1})

	st := listenerStats(t, srv, "capped")
	require.Equal(t, loom.ListenerStats{ID: "capped", Address: capped, MaxClients: 3,
		Connected: 3, ConnectedV5: 2, ConnectedV311: 1, RefusedAtCap: 4}, st)
	st = listenerStats(t, srv, "open")
	require.Equal(t, loom.ListenerStats{ID: "open", Address: open, Connected: 5, ConnectedV5: 4, ConnectedV311: 1}, st)
	require.EqualValues(t, 4, srv.Stats().RefusedAtCap)
	require.EqualValues(t, 0, srv.Stats().ProtocolFailures)

	// A CONNECT with the id of one of its clients takes that session over
	// [MQTT-3.1.4-3], freeing the place it takes: not refused.
	again, ack := pahotest.ConnectV5(t, capped, pahotest.V5Conf{ID: "pub5"})
	require.EqualValues(t, 0, ack.ReasonCode)
	select {
	case d := <-pub5.Disconnects:
		require.EqualValues(t, proto.SessionTakenOver, d.ReasonCode)
	case <-pub5.Done():
	}
	again.Say(t, "caps/a", 1, false, "again")
	require.Equal(t, "again", string(sub.Recv(t).Payload))
	loomtest.Eventually(t, "the old connection's place given back", func() bool {
		return listenerStats(t, srv, "capped").Connected == 3
	})
	require.EqualValues(t, proto.QuotaExceeded, v5Refusal(t, capped, "still-full"))

	// One leaves: its place is free for the next.
	pub3.Disconnect(50)
	loomtest.Eventually(t, "pub3's place given back", func() bool {
		return listenerStats(t, srv, "capped").Connected == 2
	})
	pahotest.V3Connect(t, pahotest.V3Options(capped, "next"))
	require.EqualValues(t, proto.QuotaExceeded, v5Refusal(t, capped, "full-again"))
}

// TestBrokerClientCap: Limits.MaxClients counts every listener together;
// a takeover is let in on any listener.
func TestBrokerClientCap(t *testing.T) {
	srv, _ := loomtest.Start(t, loom.Options{
		Listeners: []loom.Listener{{ID: "a", Address: "tcp://127.0.0.1:0"}, {ID: "b", Address: "tcp://127.0.0.1:0"}},
		Limits:    loom.Limits{MaxClients: 2},
	})
	a, b := srv.Addrs()[0].String(), srv.Addrs()[1].String()
	sub, _ := pahotest.ConnectV5(t, a, pahotest.V5Conf{ID: "sub"})
	sub.Sub(t, pahotest.V5Opt("all/#", 0))
	pub, _ := pahotest.V3Connect(t, pahotest.V3Options(b, "pub"))

	require.EqualValues(t, proto.QuotaExceeded, v5Refusal(t, a, "third-a"))
	require.EqualValues(t, proto.QuotaExceeded, v5Refusal(t, b, "third-b"))
	require.EqualValues(t, proto.V3ServerUnavailable, v3Refusal(t, b, "third-3"))
	pahotest.V3Publish(t, pub, "all/x", 0, false, "on")
	require.Equal(t, "on", string(sub.Recv(t).Payload))

	// "pub" connected through b comes back through a: a takeover.
	pub2, _ := pahotest.V3Connect(t, pahotest.V3Options(a, "pub"))
	pahotest.V3Publish(t, pub2, "all/x", 0, false, "moved")
	require.Equal(t, "moved", string(sub.Recv(t).Payload))
	loomtest.Eventually(t, "two clients", func() bool { return srv.Stats().Connected == 2 })
	require.EqualValues(t, 3, srv.Stats().RefusedAtCap)
	require.EqualValues(t, 1, listenerStats(t, srv, "a").RefusedAtCap)
	require.EqualValues(t, 2, listenerStats(t, srv, "b").RefusedAtCap)
}

// TestClientCapConcurrent: clients connecting at once, over the event
// loops, never pass the cap between them.
func TestClientCapConcurrent(t *testing.T) {
	const clients, most = 24, 5
	srv, addr := loomtest.Start(t, loom.Options{Loops: 2, Listeners: []loom.Listener{
		{ID: "l", Address: "tcp://127.0.0.1:0", MaxClients: most}}})
	var in, out atomic.Int32
	err := loomtest.Parallel(0, clients, clients, func(i int) error {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		c, ack, err := pahotest.ConnectV5Over(conn, pahotest.V5Conf{ID: fmt.Sprint("c", i)})
		switch {
		case err == nil:
			in.Add(1)
			t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
		case ack != nil && ack.ReasonCode == byte(proto.QuotaExceeded):
			out.Add(1)
		default:
			return fmt.Errorf("client %d: %v", i, err)
		}
		return nil
	})
	require.NoError(t, err)
	require.EqualValues(t, most, in.Load())
	require.EqualValues(t, clients-most, out.Load())
	st := listenerStats(t, srv, "l")
	require.EqualValues(t, most, st.Connected)
	require.EqualValues(t, clients-most, st.RefusedAtCap)
}
