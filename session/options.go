package session

import (
	"log/slog"
	"time"

	"github.com/loom-mqtt/loom/router"
)

// Options tune the broker's session layer. The zero value of each field
// means its default.
type Options struct {
	// ConnectTimeout closes a connection whose first packet is not a
	// complete CONNECT by then. Default 10s.
	ConnectTimeout time.Duration
	// MaxInflight caps outbound QoS 1/2 messages awaiting acknowledgement
	// per session; a v5 client's Receive Maximum lowers it. Default 256.
	MaxInflight uint16
	// ReceiveMaximum is the broker's own inbound QoS 2 window, advertised to
	// v5 clients. Default 1024.
	ReceiveMaximum uint16
	// MaxQueued bounds the messages a session holds beyond its inflight
	// window (offline, or waiting for the window); past it they are dropped
	// and counted. Default 10,000: publishers are acknowledged as soon as a
	// message is routed, so a fast subscriber whose window is full needs
	// room to catch up.
	MaxQueued int
	// QueueQoS0 keeps QoS 0 messages for offline persistent sessions too.
	QueueQoS0 bool
	// OutboundLimit is the byte count waiting on a connection past which QoS 0
	// deliveries to it are dropped and QoS 1/2 ones wait in the session's
	// queue, so a slow reader cannot grow memory without bound. Default 4 MiB.
	OutboundLimit int
	// MaxPacketSize is the largest packet accepted from a client (fixed
	// header included). Default 1 MiB; advertised to v5 clients.
	MaxPacketSize int
	// TopicAliasMaximum is the number of inbound topic aliases a v5 client may
	// use. Default 64.
	TopicAliasMaximum uint16
	// Router configures the subscription shards.
	Router router.Options
	// Logger receives connection-level events; default slog.Default().
	Logger *slog.Logger
}

func (o *Options) withDefaults() Options {
	d := *o
	if d.ConnectTimeout <= 0 {
		d.ConnectTimeout = 10 * time.Second
	}
	if d.MaxInflight == 0 {
		d.MaxInflight = 256
	}
	if d.ReceiveMaximum == 0 {
		d.ReceiveMaximum = 1024
	}
	if d.MaxQueued <= 0 {
		d.MaxQueued = 10000
	}
	if d.OutboundLimit <= 0 {
		d.OutboundLimit = 4 << 20
	}
	if d.MaxPacketSize <= 0 {
		d.MaxPacketSize = 1 << 20
	}
	if d.TopicAliasMaximum == 0 {
		d.TopicAliasMaximum = 64
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	return d
}
