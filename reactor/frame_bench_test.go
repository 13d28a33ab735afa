package reactor

import (
	"io"
	"log/slog"
	"testing"

	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/session"
)

// memStream is a stream over a byte slice: the framing loop reads it as
// it reads gnet's buffer.
type memStream struct {
	b   []byte
	off int
}

func (m *memStream) InboundBuffered() int       { return len(m.b) - m.off }
func (m *memStream) Peek(n int) ([]byte, error) { return m.b[m.off : m.off+n], nil }
func (m *memStream) Discard(n int) (int, error) { m.off += n; return n, nil }
func (m *memStream) reset(b []byte)             { m.b, m.off = b, 0 }
func (nopConn) Write(b []byte) (int, error)     { return len(b), nil }
func (nopConn) OutboundBuffered() int           { return 0 }
func (nopConn) Close() error                    { return nil }

// nopConn is a connection that takes every write.
type nopConn struct{}

// BenchmarkFramePublish is the reactor's share of one inbound PUBLISH
// from a connected client: framing, the checks the reactor makes before
// handing a PUBLISH over (backlog, publish rate), and the session's
// handling down to the router's queue (no subscriber matches). ns/op is
// per packet, framed in batches of 64 as one read brings them.
func BenchmarkFramePublish(b *testing.B) {
	for _, qos := range []byte{0, 1} {
		b.Run([]string{"qos0", "qos1"}[qos], func(b *testing.B) {
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			br := session.NewBroker(session.Options{Logger: log, SysInterval: -1, IngestBacklog: -1})
			defer br.Close()
			l := br.NewLoop(func(f func()) { f() })
			cl := l.NewClient(nopConn{})
			h := &handler{srv: &Server{broker: br}}
			in := &memStream{}
			in.reset((&proto.Connect{Version: proto.V311, CleanStart: true, KeepAlive: 60, ClientID: []byte("bench")}).Append(nil, proto.V311))
			if a := h.frame(nil, in, cl, 0); a != 0 || cl.PreConnect() {
				b.Fatal("CONNECT not accepted")
			}
			const batch = 64
			var wire []byte
			for i := range batch {
				p := proto.Publish{QoS: qos, Topic: []byte("bench/frame"), Payload: make([]byte, 64)}
				if qos > 0 {
					p.PacketID = uint16(i + 1)
				}
				wire = p.Append(wire, proto.V311)
			}
			b.SetBytes(int64(len(wire) / batch))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += batch {
				in.reset(wire)
				l.Refresh()
				if a := h.frame(nil, in, cl, 0); a != 0 {
					b.Fatal("connection ended")
				}
			}
		})
	}
}
