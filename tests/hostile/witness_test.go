package hostile_test

import (
	"fmt"
	"net"
	"testing"

	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
)

// witnesses are well-behaved clients, one per transport, connected to the
// broker the hostile clients attack. Each is subscribed to witness/#; a
// round has each publish one QoS 1 message and requires every witness to
// get every message and each publisher its PUBACK: the broker still serves
// its good clients, over every transport, after (or while) a bad one does
// its worst.
type witnesses struct {
	names []string
	cs    []*loomtest.Client
	round int
}

// addWitness connects nc (a socket, a TLS or a WebSocket connection) as
// the witness called name.
func (w *witnesses) add(t *testing.T, name string, nc net.Conn) {
	t.Helper()
	t.Cleanup(func() { _ = nc.Close() })
	c := loomtest.Over(t, nc, proto.V5)
	c.Connect("witness-"+name, nil)
	c.Subscribe("witness/#", 0)
	w.names = append(w.names, name)
	w.cs = append(w.cs, c)
}

// check runs one round.
func (w *witnesses) check(t *testing.T) {
	t.Helper()
	w.round++
	id := uint16(w.round)
	payload := fmt.Sprint(w.round)
	for i, c := range w.cs {
		c.For(t).Send(&proto.Publish{Topic: []byte("witness/" + w.names[i]), Payload: []byte(payload), QoS: 1, PacketID: id})
	}
	for i, c := range w.cs {
		c := c.For(t)
		acked := false
		got := map[string]bool{}
		for range len(w.cs) + 1 {
			p, err := c.Next()
			if err != nil {
				t.Fatalf("witness %s, round %d: %v", w.names[i], w.round, err)
			}
			switch p := p.(type) {
			case *proto.Ack:
				if p.Type != proto.PUBACK || p.PacketID != id || acked {
					t.Fatalf("witness %s, round %d: unexpected %v id %d", w.names[i], w.round, p.Type, p.PacketID)
				}
				acked = true
			case *proto.Publish:
				if string(p.Payload) != payload {
					t.Fatalf("witness %s, round %d: message %q on %s from another round", w.names[i], w.round, p.Payload, p.Topic)
				}
				got[string(p.Topic)] = true
			default:
				t.Fatalf("witness %s, round %d: unexpected %T", w.names[i], w.round, p)
			}
		}
		if !acked || len(got) != len(w.cs) {
			t.Fatalf("witness %s, round %d: PUBACK %t, messages from %v", w.names[i], w.round, acked, got)
		}
	}
}
