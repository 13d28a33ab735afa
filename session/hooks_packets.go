package session

import (
	"errors"

	"github.com/loom-mqtt/loom/proto"
)

// The packet events: OnPacketRead and OnPacketProcessed around each packet
// of a connected client, OnPacketEncode and OnPacketSent around each
// packet written to one. The broker decodes into buffers its loop reuses
// and encodes straight into a connection's output, so with these hooks the
// packet is decoded once more for them (a fresh packet they may keep), and
// a packet a hook replaces is encoded again. Without them none of this
// runs: Handle and emit pay one length check each.

// handleHooked is Handle with OnPacketRead and OnPacketProcessed, for
// every packet of the connection, CONNECT included.
func (c *Client) handleHooked(h proto.FixedHeader, body []byte) error {
	if c.state == stateClosed || c.state == stateClosing {
		return nil
	}
	b := c.loop.broker
	if c.handledAgain() && c.ext.rewritten != nil {
		// Handed over again after a hook's answer (decide.go): the
		// hooks read it, and maybe rewrote it, the first time.
		raw := c.ext.rewritten
		nh, n, _ := proto.ParseFixedHeader(raw)
		return c.processed(nil, c.handle(nh, raw[n:]), raw)
	}
	raw := proto.AppendFixedHeader(make([]byte, 0, 5+len(body)), h.Type, h.Flags, len(body))
	raw = append(raw, body...)
	pk, _, derr := proto.Decode(raw, c.version)
	if derr != nil {
		return c.handle(h, body) // malformed: the handler says why
	}
	if b.has(OnPacketRead) && !c.handledAgain() {
		if cp, ok := pk.(*proto.Connect); ok && c.state == stateAwaitConnect {
			c.connectInfo(string(cp.ClientID), cp) // who it says it is
		}
		cl := c.info()
		in := pk
		pk, err := chain(b, OnPacketRead, pk, func(hk Hook, pk proto.Packet) (proto.Packet, error) {
			return hk.OnPacketRead(cl, pk)
		})
		switch {
		case errors.Is(err, ErrRejectPacket):
			return nil
		case err != nil:
			return c.fail(err)
		}
		if pk != in {
			if pk.PacketType() != h.Type {
				return c.fail(proto.Errorf(proto.ImplementationSpecificError, "a hook turned %v into %v", h.Type, pk.PacketType()))
			}
			// A fresh buffer: the packets' slices point into raw.
			out := pk.Append(nil, c.version)
			nh, n, err := proto.ParseFixedHeader(out)
			if err != nil {
				return c.fail(err)
			}
			err = c.handle(nh, out[n:])
			if err == ErrWaiting {
				c.x().rewritten = out
			}
			return c.processed(pk, err, nil)
		}
	}
	return c.processed(pk, c.handle(h, body), nil)
}

// processed fires OnPacketProcessed for pk (decoded from raw when nil)
// once it is handled, not while it waits.
func (c *Client) processed(pk proto.Packet, err error, raw []byte) error {
	b := c.loop.broker
	if err == ErrWaiting || !b.has(OnPacketProcessed) {
		return err
	}
	if pk == nil {
		var derr error
		if pk, _, derr = proto.Decode(raw, c.version); derr != nil {
			return err
		}
	}
	cl := c.info()
	b.call(OnPacketProcessed, func(hk Hook) { hk.OnPacketProcessed(cl, pk, err) })
	return err
}

// hookOutput runs OnPacketEncode over the packets in out, written for c,
// and returns the bytes to send: out itself unless a hook replaced a
// packet.
func (c *Client) hookOutput(out []byte) []byte {
	b := c.loop.broker
	if !b.has(OnPacketEncode) {
		return out
	}
	cl := c.info()
	var changed []byte // nil until a hook replaces a packet
	for at := 0; at < len(out); {
		in, n, err := proto.Decode(out[at:], c.version)
		if n == 0 {
			break
		}
		pk := in
		if err == nil {
			pk, _ = chain(b, OnPacketEncode, in, func(h Hook, pk proto.Packet) (proto.Packet, error) {
				return h.OnPacketEncode(cl, pk), nil
			})
		}
		switch {
		case pk != in:
			if changed == nil {
				changed = append([]byte(nil), out[:at]...) // the packets before, as they were
			}
			changed = pk.Append(changed, c.version)
		case changed != nil:
			changed = append(changed, out[at:at+n]...)
		}
		at += n
	}
	if changed == nil {
		return out
	}
	return changed
}

// hookSent runs OnPacketSent for each packet in b, written to c.
func (c *Client) hookSent(out []byte) {
	b := c.loop.broker
	cl := c.info()
	for rest := out; len(rest) > 0; {
		pk, n, err := proto.Decode(rest, c.version)
		if n == 0 {
			return
		}
		if err == nil {
			raw := rest[:n:n]
			b.call(OnPacketSent, func(h Hook) { h.OnPacketSent(cl, pk, raw) })
		}
		rest = rest[n:]
	}
}
