package proto

import (
	"testing"
)

func benchPublish(v Version) (*Publish, []byte) {
	p := &Publish{QoS: 1, PacketID: 42, Topic: bs("sensors/floor-3/room-12/temperature"), Payload: make([]byte, 64)}
	if v == V5 {
		p.Props = Properties{Present: present(PropMessageExpiry, PropContentType, PropUserProperty),
			MessageExpiry: 60, ContentType: bs("application/json"), User: []UserProperty{user("src", "gw-1")}}
	}
	return p, p.Append(nil, v)
}

func BenchmarkDecodePublish(b *testing.B) {
	for _, v := range []Version{V311, V5} {
		b.Run(versionName(v), func(b *testing.B) {
			_, raw := benchPublish(v)
			var p Publish
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				h, n, err := ParseFixedHeader(raw)
				if err != nil {
					b.Fatal(err)
				}
				if err := p.Decode(h, raw[n:], v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncodePublish(b *testing.B) {
	for _, v := range []Version{V311, V5} {
		b.Run(versionName(v), func(b *testing.B) {
			p, raw := benchPublish(v)
			buf := make([]byte, 0, len(raw))
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				buf = p.Append(buf[:0], v)
			}
		})
	}
}

func versionName(v Version) string {
	switch v {
	case V31:
		return "v3.1"
	case V311:
		return "v3.1.1"
	}
	return "v5"
}

// The read path decodes a PUBLISH without allocating (once the receiver
// has room for its user properties), and encodes into a reused buffer
// without allocating.
func TestPublishZeroAlloc(t *testing.T) {
	for _, v := range []Version{V311, V5} {
		p, raw := benchPublish(v)
		var q Publish
		h, n, _ := ParseFixedHeader(raw)
		if err := q.Decode(h, raw[n:], v); err != nil {
			t.Fatal(err)
		}
		if a := testing.AllocsPerRun(100, func() { _ = q.Decode(h, raw[n:], v) }); a != 0 {
			t.Errorf("%s decode: %v allocs", versionName(v), a)
		}
		buf := make([]byte, 0, len(raw))
		if a := testing.AllocsPerRun(100, func() { buf = p.Append(buf[:0], v) }); a != 0 {
			t.Errorf("%s encode: %v allocs", versionName(v), a)
		}
		if a := testing.AllocsPerRun(100, func() { _ = p.Size(v) }); a != 0 {
			t.Errorf("%s size: %v allocs", versionName(v), a)
		}
	}
}
