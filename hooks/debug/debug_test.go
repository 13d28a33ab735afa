package debug_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/hooks/debug"
	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/session"
)

var _ session.Hook = (*debug.Hook)(nil)

// capture is a slog.Handler that keeps the records it is given. With
// block set, Handle waits until it is closed: a handler that cannot keep
// up.
type capture struct {
	min   slog.Level
	block chan struct{}
	panic bool
	mu    sync.Mutex
	recs  []slog.Record
}

func (c *capture) Enabled(_ context.Context, l slog.Level) bool { return l >= c.min }
func (c *capture) WithAttrs([]slog.Attr) slog.Handler           { return c }
func (c *capture) WithGroup(string) slog.Handler                { return c }

func (c *capture) Handle(_ context.Context, r slog.Record) error {
	if c.block != nil {
		<-c.block
	}
	if c.panic {
		panic("a broken handler")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recs = append(c.recs, r.Clone())
	return nil
}

// newCapture takes every record from Debug up.
func newCapture() *capture { return &capture{min: slog.LevelDebug} }

// rec is a record as the tests compare it.
type rec struct {
	level slog.Level
	msg   string
	attrs map[string]any
}

func (c *capture) records() []rec {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]rec, len(c.recs))
	for i, r := range c.recs {
		m := map[string]any{}
		r.Attrs(func(a slog.Attr) bool {
			m[a.Key] = a.Value.Any()
			return true
		})
		out[i] = rec{r.Level, r.Message, m}
	}
	return out
}

// started returns a hook initialised with o writing to a fresh capture;
// the test stops it (Stop writes what is queued) before reading records.
func started(t *testing.T, o debug.Options, c *capture) *debug.Hook {
	t.Helper()
	o.Logger = slog.New(c)
	h := new(debug.Hook)
	require.NoError(t, h.Init(&o))
	t.Cleanup(func() { _ = h.Stop() })
	return h
}

func TestProvides(t *testing.T) {
	want := map[session.Event]bool{
		session.OnPacketRead: true, session.OnPacketSent: true, session.OnConnect: true,
		session.OnDisconnect: true, session.OnSubscribe: true, session.OnUnsubscribe: true,
		session.OnPublishDropped: true, session.OnWillSent: true, session.OnClientExpired: true,
	}
	h := new(debug.Hook)
	for _, e := range session.Events() {
		require.Equal(t, want[e], h.Provides(e), "%v", e)
	}
	require.Equal(t, "debug", h.ID())
}

func TestInit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		config any
		ok     bool
	}{
		{"nil", nil, true},
		{"empty options", &debug.Options{}, true},
		{"a nil *Options", (*debug.Options)(nil), true},
		{"every option", &debug.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Level: slog.LevelWarn, ShowPayload: true, PreviewBytes: 8, ShowPings: true, Queue: 4}, true},
		{"options by value", debug.Options{}, false},
		{"another type", "debug", false},
		{"negative preview", &debug.Options{PreviewBytes: -1}, false},
		{"negative queue", &debug.Options{Queue: -1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := new(debug.Hook)
			err := h.Init(tc.config)
			if tc.ok {
				require.NoError(t, err)
				require.NoError(t, h.Stop())
			} else {
				require.Error(t, err)
			}
		})
	}
	t.Run("twice", func(t *testing.T) {
		h := new(debug.Hook)
		require.NoError(t, h.Init(nil))
		defer h.Stop()
		require.Error(t, h.Init(nil), "one hook serves one broker")
	})
}

var (
	c1   = session.ClientInfo{ID: "c1", Username: "u", Remote: "127.0.0.1:5000", Listener: "tcp://127.0.0.1:1883", Version: proto.V5}
	pub1 = &proto.Publish{QoS: 1, Retain: true, PacketID: 7, Topic: []byte("a/b"), Payload: []byte("hello")}
)

func TestRecords(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts debug.Options
		call func(h *debug.Hook)
		want []rec // at opts.Level
	}{
		{"publish read", debug.Options{}, func(h *debug.Hook) { h.OnPacketRead(c1, pub1) },
			[]rec{{msg: "packet in", attrs: map[string]any{"client": "c1", "type": "PUBLISH", "packet_id": int64(7),
				"topic": "a/b", "qos": int64(1), "retain": true, "payload_bytes": int64(5)}}}},
		{"publish read, payload shown", debug.Options{ShowPayload: true}, func(h *debug.Hook) {
			h.OnPacketRead(c1, &proto.Publish{Dup: true, QoS: 2, PacketID: 9, Topic: []byte("t"), Payload: []byte("hello")})
		}, []rec{{msg: "packet in", attrs: map[string]any{"client": "c1", "type": "PUBLISH", "packet_id": int64(9), "dup": true,
			"topic": "t", "qos": int64(2), "retain": false, "payload_bytes": int64(5), "payload": "hello"}}}},
		{"publish sent, preview bounded", debug.Options{ShowPayload: true, PreviewBytes: 3}, func(h *debug.Hook) {
			h.OnPacketSent(c1, &proto.Publish{Topic: []byte("t"), Payload: []byte("hello")}, make([]byte, 10))
		}, []rec{{msg: "packet out", attrs: map[string]any{"client": "c1", "type": "PUBLISH", "topic": "t", "qos": int64(0),
			"retain": false, "payload_bytes": int64(5), "payload": "hel", "bytes": int64(10)}}}},
		{"a character cut by the bound is left out", debug.Options{ShowPayload: true, PreviewBytes: 2}, func(h *debug.Hook) {
			h.OnPacketRead(c1, &proto.Publish{Topic: []byte("t"), Payload: []byte("héllo")})
		}, []rec{{msg: "packet in", attrs: map[string]any{"client": "c1", "type": "PUBLISH", "topic": "t", "qos": int64(0),
			"retain": false, "payload_bytes": int64(6), "payload": "h"}}}},
		{"a binary payload in hex", debug.Options{ShowPayload: true, PreviewBytes: 3}, func(h *debug.Hook) {
			h.OnPacketRead(c1, &proto.Publish{Topic: []byte("t"), Payload: []byte{0xff, 0x00, 0xfe, 0x01}})
		}, []rec{{msg: "packet in", attrs: map[string]any{"client": "c1", "type": "PUBLISH", "topic": "t", "qos": int64(0),
			"retain": false, "payload_bytes": int64(4), "payload_hex": "ff00fe"}}}},
		{"an empty payload shown", debug.Options{ShowPayload: true}, func(h *debug.Hook) {
			h.OnPacketRead(c1, &proto.Publish{Topic: []byte("t")})
		}, []rec{{msg: "packet in", attrs: map[string]any{"client": "c1", "type": "PUBLISH", "topic": "t", "qos": int64(0),
			"retain": false, "payload_bytes": int64(0), "payload": ""}}}},
		{"pings skipped", debug.Options{}, func(h *debug.Hook) {
			h.OnPacketRead(c1, &proto.Ping{Type: proto.PINGREQ})
			h.OnPacketSent(c1, &proto.Ping{Type: proto.PINGRESP}, []byte{0xd0, 0})
		}, nil},
		{"pings shown", debug.Options{ShowPings: true}, func(h *debug.Hook) {
			h.OnPacketRead(c1, &proto.Ping{Type: proto.PINGREQ})
			h.OnPacketSent(c1, &proto.Ping{Type: proto.PINGRESP}, []byte{0xd0, 0})
		}, []rec{
			{msg: "packet in", attrs: map[string]any{"client": "c1", "type": "PINGREQ"}},
			{msg: "packet out", attrs: map[string]any{"client": "c1", "type": "PINGRESP", "bytes": int64(2)}},
		}},
		{"acks", debug.Options{}, func(h *debug.Hook) {
			h.OnPacketSent(c1, &proto.Ack{Type: proto.PUBACK, PacketID: 7, Reason: proto.NotAuthorized}, make([]byte, 4))
			h.OnPacketRead(c1, &proto.Ack{Type: proto.PUBREL, PacketID: 8})
		}, []rec{
			{msg: "packet out", attrs: map[string]any{"client": "c1", "type": "PUBACK", "packet_id": int64(7), "reason": "0x87", "bytes": int64(4)}},
			{msg: "packet in", attrs: map[string]any{"client": "c1", "type": "PUBREL", "packet_id": int64(8), "reason": "0x00"}},
		}},
		{"subscribe and unsubscribe packets", debug.Options{}, func(h *debug.Hook) {
			h.OnPacketRead(c1, &proto.Subscribe{PacketID: 3, Subscriptions: []proto.Subscription{{Filter: []byte("a/#"), QoS: 1}, {Filter: []byte("b")}}})
			h.OnPacketSent(c1, &proto.Suback{PacketID: 3, Reasons: []proto.ReasonCode{1, 0x87}}, make([]byte, 6))
			h.OnPacketRead(c1, &proto.Unsubscribe{PacketID: 4, Filters: [][]byte{[]byte("a/#")}})
			h.OnPacketSent(c1, &proto.Unsuback{PacketID: 4}, make([]byte, 4))
		}, []rec{
			{msg: "packet in", attrs: map[string]any{"client": "c1", "type": "SUBSCRIBE", "packet_id": int64(3),
				"filters": []string{"a/#", "b"}, "qos": []int{1, 0}}},
			{msg: "packet out", attrs: map[string]any{"client": "c1", "type": "SUBACK", "packet_id": int64(3),
				"reasons": []string{"0x01", "0x87"}, "bytes": int64(6)}},
			{msg: "packet in", attrs: map[string]any{"client": "c1", "type": "UNSUBSCRIBE", "packet_id": int64(4), "filters": []string{"a/#"}}},
			{msg: "packet out", attrs: map[string]any{"client": "c1", "type": "UNSUBACK", "packet_id": int64(4), "bytes": int64(4)}},
		}},
		{"connack, disconnect, auth", debug.Options{}, func(h *debug.Hook) {
			h.OnPacketSent(c1, &proto.Connack{SessionPresent: true}, make([]byte, 5))
			h.OnPacketRead(c1, &proto.Disconnect{Reason: proto.DisconnectWithWill})
			h.OnPacketRead(c1, &proto.Auth{Reason: proto.ReAuthenticate})
		}, []rec{
			{msg: "packet out", attrs: map[string]any{"client": "c1", "type": "CONNACK", "reason": "0x00", "session_present": true, "bytes": int64(5)}},
			{msg: "packet in", attrs: map[string]any{"client": "c1", "type": "DISCONNECT", "reason": "0x04"}},
			{msg: "packet in", attrs: map[string]any{"client": "c1", "type": "AUTH", "reason": "0x19"}},
		}},
		{"connect", debug.Options{}, func(h *debug.Hook) {
			pk := &proto.Connect{Version: proto.V5, CleanStart: true, KeepAlive: 30, WillFlag: true}
			pk.Props.AuthMethod = []byte("SCRAM-SHA-256")
			pk.Props.Set(proto.PropAuthMethod)
			h.OnConnect(c1, pk)
			h.OnConnect(session.ClientInfo{ID: "old", Version: proto.V311}, &proto.Connect{Version: proto.V311, KeepAlive: 60})
		}, []rec{
			{msg: "client connecting", attrs: map[string]any{"client": "c1", "username": "u", "remote": "127.0.0.1:5000",
				"listener": "tcp://127.0.0.1:1883", "version": "5.0", "clean_start": true, "keepalive": int64(30), "will": true,
				"auth_method": "SCRAM-SHA-256"}},
			{msg: "client connecting", attrs: map[string]any{"client": "old", "username": "", "remote": "", "listener": "",
				"version": "3.1.1", "clean_start": false, "keepalive": int64(60), "will": false}},
		}},
		{"disconnect", debug.Options{}, func(h *debug.Hook) {
			h.OnDisconnect(c1, nil, false)
			h.OnDisconnect(c1, errors.New("keepalive passed"), true)
		}, []rec{
			{msg: "client disconnected", attrs: map[string]any{"client": "c1", "session_ended": false}},
			{msg: "client disconnected", attrs: map[string]any{"client": "c1", "err": "keepalive passed", "session_ended": true}},
		}},
		{"subscribe and unsubscribe events", debug.Options{}, func(h *debug.Hook) {
			h.OnSubscribe(c1, &proto.Subscribe{PacketID: 5, Subscriptions: []proto.Subscription{{Filter: []byte("$share/g/x"), QoS: 2}}})
			h.OnUnsubscribe(c1, &proto.Unsubscribe{PacketID: 6, Filters: [][]byte{[]byte("x"), []byte("y")}})
		}, []rec{
			{msg: "subscribe", attrs: map[string]any{"client": "c1", "packet_id": int64(5), "filters": []string{"$share/g/x"}, "qos": []int{2}}},
			{msg: "unsubscribe", attrs: map[string]any{"client": "c1", "packet_id": int64(6), "filters": []string{"x", "y"}}},
		}},
		{"messages dropped and wills sent", debug.Options{ShowPayload: true, PreviewBytes: 2}, func(h *debug.Hook) {
			h.OnPublishDropped(session.ClientInfo{ID: "slow"}, pub1)
			h.OnWillSent(c1, &proto.Publish{Topic: []byte("last/words"), Payload: []byte("bye")})
		}, []rec{
			{msg: "publish dropped", attrs: map[string]any{"client": "slow", "topic": "a/b", "qos": int64(1), "retain": true,
				"payload_bytes": int64(5), "payload": "he"}},
			{msg: "will sent", attrs: map[string]any{"client": "c1", "topic": "last/words", "qos": int64(0), "retain": false,
				"payload_bytes": int64(3), "payload": "by"}},
		}},
		{"client expired", debug.Options{}, func(h *debug.Hook) { h.OnClientExpired(session.ClientInfo{ID: "gone"}) },
			[]rec{{msg: "client expired", attrs: map[string]any{"client": "gone"}}}},
		{"at the level asked", debug.Options{Level: slog.LevelInfo}, func(h *debug.Hook) { h.OnClientExpired(c1) },
			[]rec{{msg: "client expired", attrs: map[string]any{"client": "c1"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCapture()
			h := started(t, tc.opts, c)
			tc.call(h)
			require.NoError(t, h.Stop())
			level := slog.LevelDebug
			if tc.opts.Level != nil {
				level = tc.opts.Level.Level()
			}
			want := tc.want
			for i := range want {
				want[i].level = level
			}
			if want == nil {
				want = []rec{}
			}
			require.Equal(t, want, c.records())
			require.Zero(t, h.Dropped())
		})
	}
}

// TestLevels: nothing is built for a handler that does not take the
// level, and a LevelVar changes the level while the hook runs.
func TestLevels(t *testing.T) {
	c := &capture{min: slog.LevelInfo}
	var lv slog.LevelVar // Info, which the handler takes
	lv.Set(slog.LevelDebug)
	h := started(t, debug.Options{Level: &lv}, c)
	h.OnClientExpired(session.ClientInfo{ID: "unseen"})
	lv.Set(slog.LevelWarn)
	h.OnClientExpired(session.ClientInfo{ID: "seen"})
	require.NoError(t, h.Stop())
	require.Equal(t, []rec{{slog.LevelWarn, "client expired", map[string]any{"client": "seen"}}}, c.records())

	// The defaults: Debug, which a handler at Info (slog's default) drops.
	c = &capture{min: slog.LevelInfo}
	h = started(t, debug.Options{}, c)
	h.OnClientExpired(c1)
	require.NoError(t, h.Stop())
	require.Empty(t, c.records())
}

// TestReturnsPacketsAsGiven: the very packet comes back, and its bytes
// encode as before.
func TestReturnsPacketsAsGiven(t *testing.T) {
	sub := &proto.Subscribe{PacketID: 1, Subscriptions: []proto.Subscription{{Filter: []byte("a/+"), QoS: 1}}}
	unsub := &proto.Unsubscribe{PacketID: 2, Filters: [][]byte{[]byte("a/+")}}
	for _, tc := range []struct {
		name string
		pk   proto.Packet
		call func(h *debug.Hook) (proto.Packet, error)
	}{
		{"OnPacketRead publish", pub1, func(h *debug.Hook) (proto.Packet, error) { return h.OnPacketRead(c1, pub1) }},
		{"OnPacketRead subscribe", sub, func(h *debug.Hook) (proto.Packet, error) { return h.OnPacketRead(c1, sub) }},
		{"OnPacketRead ping", &proto.Ping{Type: proto.PINGREQ}, nil},
		{"OnSubscribe", sub, func(h *debug.Hook) (proto.Packet, error) { return h.OnSubscribe(c1, sub), nil }},
		{"OnUnsubscribe", unsub, func(h *debug.Hook) (proto.Packet, error) { return h.OnUnsubscribe(c1, unsub), nil }},
		{"OnConnect", &proto.Connect{ProtocolName: []byte("MQTT"), Version: proto.V5, ClientID: []byte("c1")}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := started(t, debug.Options{ShowPayload: true, ShowPings: true}, newCapture())
			call := tc.call
			switch {
			case tc.name == "OnConnect":
				call = func(h *debug.Hook) (proto.Packet, error) {
					return tc.pk, h.OnConnect(c1, tc.pk.(*proto.Connect))
				}
			case call == nil:
				call = func(h *debug.Hook) (proto.Packet, error) { return h.OnPacketRead(c1, tc.pk) }
			}
			before := tc.pk.Append(nil, proto.V5)
			got, err := call(h)
			require.NoError(t, err)
			require.Same(t, tc.pk, got)
			require.Equal(t, before, tc.pk.Append(nil, proto.V5))
		})
	}
}

// TestNeverBlocks: with a handler stuck, events still return at once;
// what does not fit the queue is dropped, counted, and reported once the
// handler is free again.
func TestNeverBlocks(t *testing.T) {
	const events = 100
	c := newCapture()
	c.block = make(chan struct{})
	h := started(t, debug.Options{Queue: 2}, c)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range events {
			h.OnClientExpired(c1)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the hook blocked on a stuck handler")
	}
	dropped := h.Dropped()
	// The writer holds one record in the handler, the queue two more.
	require.GreaterOrEqual(t, dropped, int64(events-3))
	close(c.block)
	require.NoError(t, h.Stop())

	recs := c.records()
	var written, reported int64
	for _, r := range recs {
		if r.level == slog.LevelWarn {
			reported += r.attrs["dropped"].(int64)
		} else {
			written++
		}
	}
	require.Equal(t, int64(events), written+dropped)
	require.Equal(t, dropped, reported, "every drop is reported")
}

func TestHandlerPanicIsContained(t *testing.T) {
	c := newCapture()
	c.panic = true
	h := started(t, debug.Options{}, c)
	h.OnClientExpired(c1)
	require.NoError(t, h.Stop())
	require.EqualValues(t, 1, h.Dropped())
}

func TestStop(t *testing.T) {
	require.NoError(t, new(debug.Hook).Stop(), "before Init")
	h := new(debug.Hook)
	h.OnClientExpired(c1) // before Init: nothing, and no panic

	c := newCapture()
	h = started(t, debug.Options{}, c)
	h.OnClientExpired(session.ClientInfo{ID: "before"})
	require.NoError(t, h.Stop())
	require.NoError(t, h.Stop(), "twice")
	h.OnClientExpired(session.ClientInfo{ID: "after"})
	require.Len(t, c.records(), 1)
}

// TestConcurrentEvents: loops call the hook at once; every record is
// written or counted as dropped.
func TestConcurrentEvents(t *testing.T) {
	const loops, each = 8, 200
	c := newCapture()
	h := started(t, debug.Options{ShowPayload: true, Queue: 64}, c)
	var wg sync.WaitGroup
	for range loops {
		wg.Go(func() {
			for range each {
				h.OnPacketRead(c1, pub1)
			}
		})
	}
	wg.Wait()
	require.NoError(t, h.Stop())
	var written int64
	for _, r := range c.records() {
		if r.level != slog.LevelWarn {
			written++
		}
	}
	require.Equal(t, int64(loops*each), written+h.Dropped())
}

// TestBrokerStopsTheHook: AddHook initialises it, Close stops it, and
// what was queued is written by the time Close returns.
func TestBrokerStopsTheHook(t *testing.T) {
	c := newCapture()
	b := session.NewBroker(session.Options{SysInterval: -1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	h := new(debug.Hook)
	require.NoError(t, b.AddHook(h, &debug.Options{Logger: slog.New(c)}))
	require.Error(t, b.AddHook(new(debug.Hook), 42))
	require.Len(t, b.Hooks(), 1)
	h.OnClientExpired(c1)
	b.Close()
	require.Len(t, c.records(), 1)
}
