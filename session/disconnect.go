package session

import (
	"sync"
	"time"

	"github.com/loom-mqtt/loom/proto"
)

// DisconnectAll ends every connected client's connection from the server
// side: v5 clients first get DISCONNECT with rc (0x8B on shutdown, or
// 0x9C/0x9D with serverReference to send them elsewhere), then each
// connection is closed on its own loop. Only clients past their CONNACK
// are told [MQTT-3.14.0-1]. It waits up to wait for
// the loops to have done it.
func (b *Broker) DisconnectAll(rc proto.ReasonCode, serverReference string, wait time.Duration) {
	b.mu.Lock()
	var clients []*Client
	b.sessions.each(func(s *Session) {
		s.mu.Lock()
		if c := s.client.Load(); c != nil {
			clients = append(clients, c)
		}
		s.mu.Unlock()
	})
	b.mu.Unlock()

	var wg sync.WaitGroup
	wg.Add(len(clients))
	for _, c := range clients {
		c.loop.run(func() {
			defer wg.Done()
			c.disconnect(rc, serverReference)
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(wait):
	}
}

// disconnect runs on c's loop: the server's DISCONNECT, then the close.
func (c *Client) disconnect(rc proto.ReasonCode, serverReference string) {
	if c.state != stateConnected {
		return
	}
	if c.version == proto.V5 {
		d := proto.Disconnect{Reason: rc}
		if serverReference != "" {
			d.Props.ServerReference = []byte(serverReference)
			d.Props.Set(proto.PropServerReference)
		}
		c.buf().B = d.Append(c.out.B, proto.V5)
		c.linger() // the drain's Flush sends it and shuts the write side
		return
	}
	c.hangUp()
}
