package session

import (
	"context"
	"log/slog"
	"net"

	"github.com/loom-mqtt/loom/proto"
)

// The debug log of connections: who connected, who was refused and why, who
// went and why. An operator turns it on to follow one device (the level can
// change while the broker runs); with debug off each costs one Enabled call
// per connect or close, never anything per message.

func (b *Broker) debugOn() bool {
	return b.opts.Logger.Enabled(context.Background(), slog.LevelDebug)
}

// remote is the peer's address, or "" when the connection has none (the
// inline client, tests' fakes).
func (c *Client) remote() string {
	if a, ok := c.conn.(interface{ RemoteAddr() net.Addr }); ok {
		if r := a.RemoteAddr(); r != nil {
			return r.String()
		}
	}
	return ""
}

func (c *Client) logConnected(id, username string, present bool) {
	if b := c.loop.broker; b.debugOn() {
		b.opts.Logger.Debug("client connected", "client", id, "username", username, "remote", c.remote(),
			"version", c.version.String(), "keepalive", c.keepAlive, "session_present", present)
	}
}

func (c *Client) logRefused(v proto.Version, code proto.ReasonCode, err error) {
	if b := c.loop.broker; b.debugOn() {
		b.opts.Logger.Debug("connection refused", "remote", c.remote(), "version", v.String(),
			"reason_code", byte(code), "err", err)
	}
}

func (c *Client) logClosed(id string, err error) {
	if b := c.loop.broker; b.debugOn() {
		b.opts.Logger.Debug("client disconnected", "client", id, "remote", c.remote(), "err", err)
	}
}
