package loom

import (
	"fmt"

	"github.com/loom-mqtt/loom/proto"
)

// maxLoops is gnet's ceiling: it numbers its loops in one byte. The reactor
// lowers a larger count to it; the facade refuses one, as the embedder
// asked for something it will not get.
const maxLoops = 256

// fieldError is an option refused; field is its path in Options.
type fieldError struct{ field, msg string }

func (e *fieldError) Error() string { return "loom: Options." + e.field + ": " + e.msg }

// check refuses options the broker would misread or silently replace.
// Zero means the default everywhere, so only values no default explains
// are refused: negative counts and durations where negative means nothing,
// values past what the protocol or gnet can do, and settings that need a
// field that is not set.
func (o Options) check() error {
	bad := func(field, format string, args ...any) error {
		return &fieldError{field, fmt.Sprintf(format, args...)}
	}
	for i, l := range o.Listeners {
		if l.Address == "" {
			return bad(fmt.Sprintf("Listeners[%d].Address", i), "empty (say tcp://host:port, tls://host:port, ws://host:port/mqtt, wss://host:port/mqtt or unix:///path)")
		}
	}
	if o.Handshakes < 0 {
		return bad("Handshakes", "%d is negative (0 for 64 per CPU)", o.Handshakes)
	}
	if o.HandshakeTimeout < 0 {
		return bad("HandshakeTimeout", "%v is negative (0 for 10s)", o.HandshakeTimeout)
	}
	if o.Loops < 0 || o.Loops > maxLoops {
		return bad("Loops", "%d is not a number of event loops (1 to %d, 0 for one per CPU)", o.Loops, maxLoops)
	}
	if o.MaxConnections < 0 {
		return bad("MaxConnections", "%d is negative (0 takes the open-file limit)", o.MaxConnections)
	}
	if o.DataDir != "" && o.Store != nil {
		return bad("Store", "set together with DataDir: give one store or the other")
	}
	if o.DataDir == "" {
		switch {
		case o.Sync != SyncInterval:
			return bad("Sync", "has no use without DataDir")
		case o.SyncInterval != 0:
			return bad("SyncInterval", "has no use without DataDir")
		case o.RefuseDamagedLog:
			return bad("RefuseDamagedLog", "has no use without DataDir")
		case o.StoreCacheSize != 0:
			return bad("StoreCacheSize", "has no use without DataDir")
		case o.StoreMemTableSize != 0:
			return bad("StoreMemTableSize", "has no use without DataDir")
		}
	}
	if o.Sync != SyncInterval && o.Sync != SyncAlways && o.Sync != SyncNone {
		return bad("Sync", "%v is not a sync policy", o.Sync)
	}
	if o.SyncInterval < 0 {
		return bad("SyncInterval", "%v is negative", o.SyncInterval)
	}
	if o.StoreCacheSize < 0 {
		return bad("StoreCacheSize", "%d is negative (0 for 8 MiB)", o.StoreCacheSize)
	}
	if o.StoreMemTableSize < 0 {
		return bad("StoreMemTableSize", "%d is negative (0 for 4 MiB)", o.StoreMemTableSize)
	}
	if o.RouterShards < 0 {
		return bad("RouterShards", "%d is negative (0 for one per CPU)", o.RouterShards)
	}
	for i, a := range o.Authenticators {
		if a == nil {
			return bad(fmt.Sprintf("Authenticators[%d]", i), "is nil")
		}
	}
	if err := o.Limits.check(); err != nil {
		return err
	}
	if q := o.Capabilities.MaxQoS; q > MaxQoS0 {
		return bad("Capabilities.MaxQoS", "%d is not a QoS cap (MaxQoS2, MaxQoS1 or MaxQoS0)", q)
	}
	return nil
}

func (l Limits) check() error {
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"MaxPacketSize", int64(l.MaxPacketSize)},
		{"MaxConnectSize", int64(l.MaxConnectSize)},
		{"ConnectTimeout", int64(l.ConnectTimeout)},
		{"MaxQueued", int64(l.MaxQueued)},
		{"InlineQueue", int64(l.InlineQueue)},
		{"OutboundLimit", int64(l.OutboundLimit)},
		{"CloseLinger", int64(l.CloseLinger)},
	} {
		if f.v < 0 {
			return &fieldError{"Limits." + f.name, "is negative (0 takes the default; this limit cannot be turned off)"}
		}
	}
	// The fixed header's Remaining Length reaches 268,435,455 bytes, and its
	// own 1 to 5 bytes come on top.
	if most := proto.MaxRemainingLength + 5; l.MaxPacketSize > most {
		return &fieldError{"Limits.MaxPacketSize", fmt.Sprintf("%d is larger than any MQTT packet (%d bytes)", l.MaxPacketSize, most)}
	}
	return nil
}
