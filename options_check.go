package loom

import (
	"fmt"
	"math"
	"strings"

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
	if len(o.Listeners) > maxListeners {
		return bad("Listeners", "%d listeners: at most %d", len(o.Listeners), maxListeners)
	}
	for i, l := range o.Listeners {
		if l.Address == "" {
			return bad(fmt.Sprintf("Listeners[%d].Address", i), "empty (say tcp://host:port, tls://host:port, ws://host:port/mqtt, wss://host:port/mqtt or unix:///path)")
		}
		if err := l.checkLimits(fmt.Sprintf("Listeners[%d].", i)); err != nil {
			return err
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
	if err := l.checkRates(); err != nil {
		return err
	}
	// The fixed header's Remaining Length reaches 268,435,455 bytes, and its
	// own 1 to 5 bytes come on top.
	if most := proto.MaxRemainingLength + 5; l.MaxPacketSize > most {
		return &fieldError{"Limits.MaxPacketSize", fmt.Sprintf("%d is larger than any MQTT packet (%d bytes)", l.MaxPacketSize, most)}
	}
	return nil
}

// maxListeners: each connection keeps its listener's number in one byte
// (session/gate.go).
const maxListeners = 255

// checkLimits refuses a listener's caps that mean nothing; at is the
// field path's prefix ("Listeners[2].").
func (l Listener) checkLimits(at string) error {
	if l.MaxClients < 0 {
		return &fieldError{at + "MaxClients", fmt.Sprintf("%d is negative (0 for no cap of the listener's own)", l.MaxClients)}
	}
	return checkRate(at+"ConnectRate", l.ConnectRate, at+"ConnectBurst", int64(l.ConnectBurst))
}

// checkRates refuses client caps and publish rates that mean nothing.
func (l Limits) checkRates() error {
	if l.MaxClients < 0 {
		return &fieldError{"Limits.MaxClients", fmt.Sprintf("%d is negative (0 for no cap)", l.MaxClients)}
	}
	if err := checkRate("Limits.PublishRate", l.PublishRate, "Limits.PublishBurst", int64(l.PublishBurst)); err != nil {
		return err
	}
	if l.PublishByteRate < 0 {
		return &fieldError{"Limits.PublishByteRate", fmt.Sprintf("%d is negative (0 for no cap)", l.PublishByteRate)}
	}
	return checkRate("Limits.PublishByteRate", float64(l.PublishByteRate), "Limits.PublishByteBurst", l.PublishByteBurst)
}

// checkRate refuses a rate per second that is not a finite number of at
// least 0, a negative burst, and a burst without its rate.
func checkRate(rateField string, rate float64, burstField string, burst int64) error {
	switch {
	case math.IsNaN(rate) || math.IsInf(rate, 0) || rate < 0:
		return &fieldError{rateField, fmt.Sprintf("%v is not a rate per second (a finite number above 0, or 0 for no cap)", rate)}
	case burst < 0:
		return &fieldError{burstField, fmt.Sprintf("%d is negative (0 for the default: one second's worth)", burst)}
	case burst > 0 && rate == 0:
		return &fieldError{burstField, "has no use without " + rateField[strings.LastIndexByte(rateField, '.')+1:]}
	}
	return nil
}
