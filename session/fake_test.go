package session

import (
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/proto"
)

// The session layer is driven here without gnet: the test goroutine plays
// every event loop, a fakeConn stands in for the network connection, and
// the functions a Loop asks to run on itself are queued for the test to run
// when it chooses. That keeps every test deterministic: nothing happens on
// a "loop" unless the test runs it.

// fakeConn records what the session layer writes and whether it closed.
type fakeConn struct {
	mu         sync.Mutex
	data       []byte
	writes     int // Write calls
	maxWrite   int // the longest Write
	lateWrites int // Write calls after Close
	buffered   int // what OutboundBuffered reports
	closes     int
}

func (f *fakeConn) Write(b []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes++
	f.maxWrite = max(f.maxWrite, len(b))
	if f.closes > 0 {
		f.lateWrites++
	}
	f.data = append(f.data, b...)
	return len(b), nil
}

func (f *fakeConn) OutboundBuffered() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.buffered
}

func (f *fakeConn) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closes++
	return nil
}

func (f *fakeConn) setBuffered(n int) {
	f.mu.Lock()
	f.buffered = n
	f.mu.Unlock()
}

func (f *fakeConn) closed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closes > 0
}

// take returns the bytes written since the last take.
func (f *fakeConn) take() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.data
	f.data = nil
	return b
}

// tloop is a Loop whose exec queues work for the test to run.
type tloop struct {
	*Loop
	mu     sync.Mutex
	queued []func()
}

func (tl *tloop) exec(f func()) {
	tl.mu.Lock()
	tl.queued = append(tl.queued, f)
	tl.mu.Unlock()
}

// runQueued runs what was queued for this loop, including what running it
// queues, and reports how many functions ran.
func (tl *tloop) runQueued(t *testing.T) int {
	n := 0
	for range 1000 {
		tl.mu.Lock()
		fs := tl.queued
		tl.queued = nil
		tl.mu.Unlock()
		if len(fs) == 0 {
			return n
		}
		for _, f := range fs {
			f()
			n++
		}
	}
	t.Fatal("loop work keeps queuing more work")
	return n
}

func (tl *tloop) pending() int {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return len(tl.queued)
}

// harness is one Broker with its loops.
type harness struct {
	t     *testing.T
	b     *Broker
	loops []*tloop
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newHarness(t *testing.T, opts Options, loops int) *harness {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	if opts.Router.Shards == 0 {
		opts.Router.Shards = 2
	}
	h := &harness{t: t, b: NewBroker(opts)}
	t.Cleanup(h.b.Close)
	for range loops {
		tl := &tloop{}
		tl.Loop = h.b.NewLoop(tl.exec)
		h.loops = append(h.loops, tl)
	}
	return h
}

// settle waits for the router to apply everything sent to it and runs
// every loop's queued work, until nothing more arrives.
func (h *harness) settle() {
	h.t.Helper()
	for range 100 {
		h.b.Router().Barrier()
		n := 0
		for _, l := range h.loops {
			n += l.runQueued(h.t)
		}
		if n == 0 {
			return
		}
	}
	h.t.Fatal("broker does not settle")
}

// advanceClock moves the broker's clock forward by d. Only the loops (the
// test goroutine) read it.
func (h *harness) advanceClock(d time.Duration) {
	h.b.start = h.b.start.Add(-d)
}

// tick advances every loop's timing wheel to the broker's clock, as the
// reactor's OnTick does through exec.
func (h *harness) tick() {
	h.t.Helper()
	h.b.Tick()
	for _, l := range h.loops {
		l.runQueued(h.t)
	}
}

// tclient is one fake connection and its Client, seen from the client side.
type tclient struct {
	t       *testing.T
	h       *harness
	l       *tloop
	c       *Client
	conn    *fakeConn
	v       proto.Version
	backlog []proto.Packet
}

// dial opens a connection on loop i.
func (h *harness) dial(i int) *tclient {
	conn := &fakeConn{}
	l := h.loops[i]
	return &tclient{t: h.t, h: h, l: l, conn: conn, c: l.NewClient(conn), v: proto.V5}
}

// sendRaw hands one whole encoded packet to the client, as the reactor does,
// then flushes the loop.
func (tc *tclient) sendRaw(raw []byte) error {
	tc.t.Helper()
	h, n, err := proto.ParseFixedHeader(raw)
	require.NoError(tc.t, err)
	require.Equal(tc.t, n+h.Remaining, len(raw), "sendRaw takes exactly one packet")
	tc.l.Refresh() // as the reactor does when OnTraffic begins
	err = tc.c.Handle(h, raw[n:])
	tc.l.Flush()
	return err
}

// send encodes p in the client's version and sends it.
func (tc *tclient) send(p proto.Packet) error {
	tc.t.Helper()
	return tc.sendRaw(p.Append(nil, tc.v))
}

// mustSend sends p and requires that the connection stays open.
func (tc *tclient) mustSend(p proto.Packet) {
	tc.t.Helper()
	require.NoError(tc.t, tc.send(p))
}

// recv decodes everything the broker wrote to this connection so far.
func (tc *tclient) recv() []proto.Packet {
	tc.t.Helper()
	out := tc.backlog
	tc.backlog = nil
	b := tc.conn.take()
	for len(b) > 0 {
		p, n, err := proto.Decode(b, tc.v)
		require.NoError(tc.t, err, "broker wrote an undecodable packet: % x", b)
		out = append(out, p)
		b = b[n:]
	}
	return out
}

// recvNone requires that nothing was written.
func (tc *tclient) recvNone() {
	tc.t.Helper()
	require.Empty(tc.t, tc.recv())
}

// recvOne requires exactly one packet and returns it.
func (tc *tclient) recvOne() proto.Packet {
	tc.t.Helper()
	ps := tc.recv()
	require.Len(tc.t, ps, 1, "packets: %s", describe(ps))
	return ps[0]
}

// connect sends p, requires a successful CONNACK as the first packet back
// and keeps whatever follows it for recv.
func (tc *tclient) connect(p *proto.Connect) *proto.Connack {
	tc.t.Helper()
	if p.Version != 0 {
		tc.v = p.Version
	}
	require.NoError(tc.t, tc.send(p))
	ps := tc.recv()
	require.NotEmpty(tc.t, ps, "no CONNACK")
	ack, ok := ps[0].(*proto.Connack)
	require.True(tc.t, ok, "first packet is %v, not CONNACK", ps[0].PacketType())
	require.Equal(tc.t, proto.Success, ack.Reason)
	tc.backlog = ps[1:]
	return ack
}

// drop ends the connection without DISCONNECT, as a network failure does:
// the reactor's OnClose calls Closed.
func (tc *tclient) drop() {
	_ = tc.conn.Close()
	tc.c.Closed(nil)
}

// disconnect sends DISCONNECT and closes the connection as the reactor does.
func (tc *tclient) disconnect(reason proto.ReasonCode) {
	tc.t.Helper()
	err := tc.send(&proto.Disconnect{Reason: reason})
	require.ErrorIs(tc.t, err, ErrDisconnect)
	tc.drop()
}

// subscribe subscribes to filter at qos and requires a SUBACK granting it.
func (tc *tclient) subscribe(filter string, qos byte) {
	tc.t.Helper()
	tc.mustSend(&proto.Subscribe{PacketID: 1, Subscriptions: []proto.Subscription{{Filter: []byte(filter), QoS: qos}}})
	sa, ok := tc.recvOne().(*proto.Suback)
	require.True(tc.t, ok)
	require.Equal(tc.t, []proto.ReasonCode{proto.ReasonCode(qos)}, sa.Reasons)
	tc.h.settle()
}

// publish sends a PUBLISH and requires the acknowledgement its QoS calls for.
func (tc *tclient) publish(topic, payload string, qos byte, pid uint16) {
	tc.t.Helper()
	tc.mustSend(&proto.Publish{Topic: []byte(topic), Payload: []byte(payload), QoS: qos, PacketID: pid})
	if qos > 0 {
		tc.h.settle() // with a store, the ack waits for the routing pass and the commit
	}
	switch qos {
	case 1:
		requireAck(tc.t, tc.recvOne(), proto.PUBACK, pid, proto.Success)
	case 2:
		requireAck(tc.t, tc.recvOne(), proto.PUBREC, pid, proto.Success)
	default:
		tc.recvNone()
	}
}

// ack sends a PUBACK, PUBREC, PUBREL or PUBCOMP.
func (tc *tclient) ack(t proto.Type, pid uint16, rc proto.ReasonCode) {
	tc.t.Helper()
	tc.mustSend(&proto.Ack{Type: t, PacketID: pid, Reason: rc})
}

func requireAck(t *testing.T, p proto.Packet, typ proto.Type, pid uint16, rc proto.ReasonCode) {
	t.Helper()
	a, ok := p.(*proto.Ack)
	require.True(t, ok, "got %v, want %v", p.PacketType(), typ)
	require.Equal(t, typ, a.Type)
	require.Equal(t, pid, a.PacketID)
	require.Equal(t, rc, a.Reason)
}

func requireDisconnect(t *testing.T, p proto.Packet, rc proto.ReasonCode) {
	t.Helper()
	d, ok := p.(*proto.Disconnect)
	require.True(t, ok, "got %v, want DISCONNECT", p.PacketType())
	require.Equal(t, rc, d.Reason)
}

// publishes returns the PUBLISH packets of ps and fails on anything else.
func publishes(t *testing.T, ps []proto.Packet) []*proto.Publish {
	t.Helper()
	out := make([]*proto.Publish, 0, len(ps))
	for _, p := range ps {
		pub, ok := p.(*proto.Publish)
		require.True(t, ok, "got %v, want PUBLISH", p.PacketType())
		out = append(out, pub)
	}
	return out
}

func payloads(ps []*proto.Publish) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = string(p.Payload)
	}
	return out
}

func describe(ps []proto.Packet) string {
	s := ""
	for _, p := range ps {
		s += p.PacketType().String() + " "
	}
	return s
}

// connectPacket builds a CONNECT. For v5, expiry sets the Session Expiry
// Interval (0 leaves it out).
func connectPacket(v proto.Version, id string, clean bool, keepAlive uint16, expiry uint32) *proto.Connect {
	p := &proto.Connect{Version: v, ClientID: []byte(id), CleanStart: clean, KeepAlive: keepAlive}
	if v == proto.V5 && expiry != 0 {
		p.Props.SessionExpiry = expiry
		p.Props.Set(proto.PropSessionExpiry)
	}
	return p
}

// online connects a fresh client on loop i.
func (h *harness) online(i int, p *proto.Connect) *tclient {
	h.t.Helper()
	tc := h.dial(i)
	tc.connect(p)
	return tc
}
