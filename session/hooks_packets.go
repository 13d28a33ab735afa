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

// handleHooked is Handle's dispatch with OnPacketRead and
// OnPacketProcessed.
func (c *Client) handleHooked(h proto.FixedHeader, body []byte) error {
	b := c.loop.broker
	raw := proto.AppendFixedHeader(nil, h.Type, h.Flags, len(body))
	raw = append(raw, body...)
	pk, _, derr := proto.Decode(raw, c.version)
	if derr != nil {
		return c.dispatch(h, body) // malformed: the handler says why
	}
	// A packet handed over again after a hook's answer (decide.go) was
	// read already.
	again := c.handledAgain()
	if b.has(OnPacketRead) && !again {
		cl := c.info()
		for _, e := range b.hooks.load().by[OnPacketRead] {
			in := pk
			var err error
			if b.callOne(e, OnPacketRead, func(hk Hook) { pk, err = hk.OnPacketRead(cl, in) }) {
				pk, err = in, nil
			}
			if errors.Is(err, ErrRejectPacket) {
				return nil
			}
			if err != nil {
				return c.fail(err)
			}
			if pk == nil {
				pk = in
			}
		}
		if pk.PacketType() != h.Type {
			return c.fail(proto.Errorf(proto.ImplementationSpecificError, "a hook turned %v into %v", h.Type, pk.PacketType()))
		}
		raw = pk.Append(raw[:0], c.version)
		nh, n, err := proto.ParseFixedHeader(raw)
		if err != nil {
			return c.fail(err)
		}
		h, body = nh, raw[n:]
	}
	err := c.dispatch(h, body)
	if err != ErrWaiting && b.has(OnPacketProcessed) {
		cl := c.info()
		b.call(OnPacketProcessed, func(hk Hook) { hk.OnPacketProcessed(cl, pk, err) })
	}
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
	var changed []byte
	for rest := out; len(rest) > 0; {
		pk, n, err := proto.Decode(rest, c.version)
		if n == 0 {
			break
		}
		orig := rest[:n]
		rest = rest[n:]
		if err != nil {
			changed = append(changed, orig...)
			continue
		}
		in := pk
		for _, e := range b.hooks.load().by[OnPacketEncode] {
			before := pk
			if b.callOne(e, OnPacketEncode, func(h Hook) { pk = h.OnPacketEncode(cl, before) }) || pk == nil {
				pk = before
			}
		}
		if pk != in || changed != nil {
			if changed == nil {
				changed = append([]byte(nil), out[:len(out)-len(rest)-n]...)
			}
			if pk != in {
				changed = pk.Append(changed, c.version)
			} else {
				changed = append(changed, orig...)
			}
		}
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
