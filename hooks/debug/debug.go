package debug

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/session"
)

// Defaults of Options.
const (
	DefaultPreviewBytes = 64
	DefaultQueue        = 1024
)

// Options configure the hook; AddHook(h, &debug.Options{...}) passes them
// to Init. The zero value (or nil) takes every default.
type Options struct {
	// Logger receives the records; nil: slog.Default() as it is when Init
	// runs.
	Logger *slog.Logger
	// Level is the level of every record; nil: slog.LevelDebug. A
	// *slog.LevelVar changes it while the broker runs.
	Level slog.Leveler
	// ShowPayload adds a preview of each PUBLISH payload: the first
	// PreviewBytes bytes, as text if they are UTF-8 ("payload"), else in
	// hex ("payload_hex"). Without it only the payload's size is logged.
	ShowPayload bool
	// PreviewBytes bounds the preview; 0: DefaultPreviewBytes.
	PreviewBytes int
	// ShowPings logs PINGREQ and PINGRESP, skipped otherwise: with many
	// clients they drown everything else.
	ShowPings bool
	// Queue is how many records may wait for the handler; 0: DefaultQueue.
	// Past it records are dropped rather than stall an event loop.
	Queue int
}

// Hook logs packets and client events. Add it with AddHook, which calls
// Init; before Init, and after Stop, it logs nothing.
type Hook struct {
	session.HookBase
	opts  Options // defaults filled in by Init
	level slog.Leveler
	w     *writer // nil before Init
	// brokerLog is the broker's logger, from SetOpts.
	brokerLog *slog.Logger
}

// ID implements session.Hook.
func (h *Hook) ID() string { return "debug" }

// Provides reports the events the hook logs.
func (h *Hook) Provides(e session.Event) bool {
	switch e {
	case session.OnPacketRead, session.OnPacketSent, session.OnConnect, session.OnDisconnect,
		session.OnSubscribe, session.OnUnsubscribe, session.OnPublishDropped,
		session.OnWillSent, session.OnClientExpired:
		return true
	}
	return false
}

// SetOpts is called by AddHook before Init: the broker's logger is the
// default for Options.Logger.
func (h *Hook) SetOpts(o session.HookOptions) { h.brokerLog = o.Logger }

// Init takes a *Options, or nil for the defaults, and starts the
// goroutine that writes the records. Any other configuration is an
// error, as is a second Init: the hook serves one broker.
func (h *Hook) Init(config any) error {
	var o Options
	switch c := config.(type) {
	case nil:
	case *Options:
		if c != nil {
			o = *c
		}
	default:
		return fmt.Errorf("debug: Init takes a *debug.Options or nil, not %T", config)
	}
	if h.w != nil {
		return errors.New("debug: Init called twice; a hook serves one broker")
	}
	if o.PreviewBytes < 0 || o.Queue < 0 {
		return fmt.Errorf("debug: PreviewBytes (%d) and Queue (%d) may not be negative", o.PreviewBytes, o.Queue)
	}
	if o.Logger == nil {
		o.Logger = h.brokerLog
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Level == nil {
		o.Level = slog.LevelDebug
	}
	if o.PreviewBytes == 0 {
		o.PreviewBytes = DefaultPreviewBytes
	}
	if o.Queue == 0 {
		o.Queue = DefaultQueue
	}
	h.opts, h.level = o, o.Level
	h.w = startWriter(o.Logger.Handler(), o.Queue)
	return nil
}

// Stop writes the records still queued, waiting for the handler, and
// ends the writer; the broker calls it when it closes. Events after it
// are not logged.
func (h *Hook) Stop() error {
	if h.w != nil {
		h.w.stop()
	}
	return nil
}

// Dropped is how many records were not written: the queue was full, or
// the handler panicked on them.
func (h *Hook) Dropped() int64 {
	if h.w == nil {
		return 0
	}
	return h.w.dropped.Load()
}

// OnPacketRead logs a packet from a client; it returns pk as given.
func (h *Hook) OnPacketRead(cl session.ClientInfo, pk proto.Packet) (proto.Packet, error) {
	if pk != nil && (h.opts.ShowPings || pk.PacketType() != proto.PINGREQ) {
		h.log("packet in", cl, func(r *slog.Record) { h.addPacket(r, pk) })
	}
	return pk, nil
}

// OnPacketSent logs a packet written to a client, with its size on the
// wire.
func (h *Hook) OnPacketSent(cl session.ClientInfo, pk proto.Packet, b []byte) {
	if pk != nil && (h.opts.ShowPings || pk.PacketType() != proto.PINGRESP) {
		h.log("packet out", cl, func(r *slog.Record) {
			h.addPacket(r, pk)
			r.AddAttrs(slog.Int("bytes", len(b)))
		})
	}
}

// OnConnect logs a CONNECT, before authentication; it refuses nothing.
func (h *Hook) OnConnect(cl session.ClientInfo, pk *proto.Connect) error {
	h.log("client connecting", cl, func(r *slog.Record) {
		r.AddAttrs(slog.String("username", cl.Username), slog.String("remote", cl.Remote),
			slog.String("listener", cl.Listener), slog.String("version", cl.Version.String()))
		if pk != nil {
			r.AddAttrs(slog.Bool("clean_start", pk.CleanStart), slog.Int("keepalive", int(pk.KeepAlive)),
				slog.Bool("will", pk.WillFlag))
			if pk.Props.Has(proto.PropAuthMethod) {
				r.AddAttrs(slog.String("auth_method", string(pk.Props.AuthMethod)))
			}
		}
	})
	return nil
}

// OnDisconnect logs a connection's end: why (err, absent after a normal
// DISCONNECT) and whether the session ended with it.
func (h *Hook) OnDisconnect(cl session.ClientInfo, err error, expire bool) {
	h.log("client disconnected", cl, func(r *slog.Record) {
		if err != nil {
			r.AddAttrs(slog.String("err", err.Error()))
		}
		r.AddAttrs(slog.Bool("session_ended", expire))
	})
}

// OnSubscribe logs a SUBSCRIBE before it is processed; it returns pk as
// given.
func (h *Hook) OnSubscribe(cl session.ClientInfo, pk *proto.Subscribe) *proto.Subscribe {
	if pk != nil {
		h.log("subscribe", cl, func(r *slog.Record) { addSubscribe(r, pk) })
	}
	return pk
}

// OnUnsubscribe logs an UNSUBSCRIBE before it is processed; it returns pk
// as given.
func (h *Hook) OnUnsubscribe(cl session.ClientInfo, pk *proto.Unsubscribe) *proto.Unsubscribe {
	if pk != nil {
		h.log("unsubscribe", cl, func(r *slog.Record) { addUnsubscribe(r, pk) })
	}
	return pk
}

// OnPublishDropped logs a message bound for cl that was dropped. The
// broker knows only the client's id here.
func (h *Hook) OnPublishDropped(cl session.ClientInfo, pk *proto.Publish) {
	if pk != nil {
		h.log("publish dropped", cl, func(r *slog.Record) { h.addPublish(r, pk) })
	}
}

// OnWillSent logs a will that was published.
func (h *Hook) OnWillSent(cl session.ClientInfo, pk *proto.Publish) {
	if pk != nil {
		h.log("will sent", cl, func(r *slog.Record) { h.addPublish(r, pk) })
	}
}

// OnClientExpired logs an offline session whose expiry passed.
func (h *Hook) OnClientExpired(cl session.ClientInfo) {
	h.log("client expired", cl, nil)
}
