package debug

import (
	"encoding/hex"
	"fmt"
	"log/slog"
	"unicode/utf8"

	"github.com/loom-mqtt/loom/proto"
)

// The attributes of packets. Everything taken from a packet is copied
// (string conversions, fresh slices): the record outlives the call, and
// the packet's bytes belong to buffers the broker reuses.

// addPacket adds the packet's type and what says most about it.
func (h *Hook) addPacket(r *slog.Record, pk proto.Packet) {
	r.AddAttrs(slog.String("type", pk.PacketType().String()))
	switch p := pk.(type) {
	case *proto.Publish:
		if p.QoS > 0 {
			r.AddAttrs(slog.Int("packet_id", int(p.PacketID)))
		}
		if p.Dup {
			r.AddAttrs(slog.Bool("dup", true))
		}
		h.addPublish(r, p)
	case *proto.Ack:
		r.AddAttrs(slog.Int("packet_id", int(p.PacketID)), reason(p.Reason))
	case *proto.Subscribe:
		addSubscribe(r, p)
	case *proto.Suback:
		r.AddAttrs(slog.Int("packet_id", int(p.PacketID)), reasons(p.Reasons))
	case *proto.Unsubscribe:
		addUnsubscribe(r, p)
	case *proto.Unsuback:
		r.AddAttrs(slog.Int("packet_id", int(p.PacketID)))
		if len(p.Reasons) > 0 {
			r.AddAttrs(reasons(p.Reasons))
		}
	case *proto.Connack:
		r.AddAttrs(reason(p.Reason), slog.Bool("session_present", p.SessionPresent))
	case *proto.Disconnect:
		r.AddAttrs(reason(p.Reason))
	case *proto.Auth:
		r.AddAttrs(reason(p.Reason))
	}
}

// addPublish adds a message's topic, QoS, retain flag, payload size and,
// when asked, a bounded preview of the payload.
func (h *Hook) addPublish(r *slog.Record, p *proto.Publish) {
	r.AddAttrs(slog.String("topic", string(p.Topic)), slog.Int("qos", int(p.QoS)),
		slog.Bool("retain", p.Retain), slog.Int("payload_bytes", len(p.Payload)))
	if h.opts.ShowPayload {
		r.AddAttrs(preview(p.Payload, h.opts.PreviewBytes))
	}
}

func addSubscribe(r *slog.Record, p *proto.Subscribe) {
	filters := make([]string, len(p.Subscriptions))
	qos := make([]int, len(p.Subscriptions))
	for i, s := range p.Subscriptions {
		filters[i], qos[i] = string(s.Filter), int(s.QoS)
	}
	r.AddAttrs(slog.Int("packet_id", int(p.PacketID)), slog.Any("filters", filters), slog.Any("qos", qos))
}

func addUnsubscribe(r *slog.Record, p *proto.Unsubscribe) {
	filters := make([]string, len(p.Filters))
	for i, f := range p.Filters {
		filters[i] = string(f)
	}
	r.AddAttrs(slog.Int("packet_id", int(p.PacketID)), slog.Any("filters", filters))
}

// preview is the first n bytes of payload: as text when they are UTF-8
// (a character cut by the bound is left out rather than shown broken),
// else in hex, so that a binary payload cannot garble the log.
func preview(payload []byte, n int) slog.Attr {
	cut := payload[:min(len(payload), n)]
	if len(cut) < len(payload) {
		// Back off to the start of the last character; drop it if the
		// bound cut it.
		for i := len(cut) - 1; i >= 0 && i >= len(cut)-utf8.UTFMax; i-- {
			if utf8.RuneStart(cut[i]) {
				if !utf8.FullRune(cut[i:]) {
					cut = cut[:i]
				}
				break
			}
		}
	}
	if utf8.Valid(cut) {
		return slog.String("payload", string(cut))
	}
	return slog.String("payload_hex", hex.EncodeToString(payload[:min(len(payload), n)]))
}

func reason(rc proto.ReasonCode) slog.Attr {
	return slog.String("reason", fmt.Sprintf("0x%02X", byte(rc)))
}

func reasons(rcs []proto.ReasonCode) slog.Attr {
	s := make([]string, len(rcs))
	for i, rc := range rcs {
		s[i] = fmt.Sprintf("0x%02X", byte(rc))
	}
	return slog.Any("reasons", s)
}
