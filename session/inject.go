package session

import (
	"errors"
	"fmt"

	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/router"
)

// Errors of InjectPacket.
var (
	ErrNoClient   = errors.New("loom: no client connected with that id")
	ErrInjectType = errors.New("loom: the inline client takes only PUBLISH")
)

// InjectPacket processes pk as if the client connected with clientID had
// sent it: on that client's event loop, through the same checks, hooks
// and replies (a SUBSCRIBE is answered with a SUBACK on the client's
// connection, a QoS 1 PUBLISH with a PUBACK). It returns once the packet
// is queued for the loop; its effects follow. A packet that breaks the
// protocol ends the client's connection as it would have from the client.
// A packet that waits for an asynchronous ACL answer is processed when the
// answer comes.
//
// The inline client (clientID InlineClientID) takes PUBLISH only: it is
// published as the inline client's Publish does, bypassing ACLs, and may
// write under $SYS.
func (b *Broker) InjectPacket(clientID string, pk proto.Packet) error {
	if pk == nil {
		return errors.New("loom: InjectPacket of a nil packet")
	}
	if clientID == InlineClientID {
		p, ok := pk.(*proto.Publish)
		if !ok {
			return ErrInjectType
		}
		m := &router.Message{Topic: string(p.Topic), Payload: append([]byte(nil), p.Payload...), QoS: p.QoS, Retain: p.Retain}
		if !proto.ValidTopicName(p.Topic) {
			return fmt.Errorf("%w: %q", ErrInlineTopic, p.Topic)
		}
		if p.Props.Present != 0 {
			m.Props = forwardProps(&p.Props)
		}
		return b.publishInline(m, fromInline)
	}
	b.mu.Lock()
	s := b.sessions.get(clientID)
	b.mu.Unlock()
	if s == nil {
		return ErrNoClient
	}
	c := s.client.Load()
	if c == nil {
		return ErrNoClient
	}
	// Encoded here, in the client's version, and decoded on its loop as
	// bytes from its socket are: one way in for every packet.
	// c.version was set before c was attached to s, and never changes.
	raw := pk.Append(nil, c.version)
	h, n, err := proto.ParseFixedHeader(raw)
	if err != nil {
		return err
	}
	c.loop.run(func() { c.inject(h, raw[n:]) })
	return nil
}

// inject handles an injected packet on c's loop.
func (c *Client) inject(h proto.FixedHeader, body []byte) {
	if c.state != stateConnected || c.sess == nil || c.sess.client.Load() != c {
		return // gone, or taken over, since
	}
	if c.ReadStopped() {
		// Behind the packet that waits for an answer, or for its publish
		// rate's tokens (whose wait is the client's wheel deadline, which
		// handling a packet would move): handled after it (packetDone).
		c.x().injected = append(c.ext.injected, injectedPacket{h, body})
		return
	}
	err := c.Handle(h, body)
	switch {
	case err == ErrWaiting:
		// Handled again when the answer comes (answered), before the
		// others queued since.
		c.ext.decision.injected = true
		c.ext.injected = append([]injectedPacket{{h, body}}, c.ext.injected...)
	case err != nil && !c.Lingering():
		c.hangUp()
	}
}

// injectedPacket is an injected packet waiting for a hook's answer.
type injectedPacket struct {
	h    proto.FixedHeader
	body []byte
}

// retryInjected handles again the injected packets that waited for an
// answer; it runs on the loop once one came.
func (c *Client) retryInjected() {
	for c.ext != nil && len(c.ext.injected) > 0 && !c.ReadStopped() {
		p := c.ext.injected[0]
		c.ext.injected = c.ext.injected[1:]
		c.inject(p.h, p.body)
	}
	if c.ext != nil && len(c.ext.injected) == 0 {
		c.ext.injected = nil
	}
}
