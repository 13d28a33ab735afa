package proto

import (
	"bytes"
	"testing"
)

var fuzzVersions = [...]Version{V31, V311, V5}

// checkReencode encodes a decoded packet and decodes it again: the result
// must be the same packet, filling exactly the bytes written.
func checkReencode(t *testing.T, pkt Packet, v Version) {
	t.Helper()
	out := pkt.Append(nil, v)
	again, n, err := Decode(out, v)
	if err != nil {
		t.Fatalf("re-encoded %T does not decode: %v\n% X", pkt, err, out)
	}
	if n != len(out) {
		t.Fatalf("re-encoded %T: decoded %d of %d bytes", pkt, n, len(out))
	}
	if !samePacket(again, pkt) {
		t.Fatalf("round trip changed the packet:\n %+v\n %+v", pkt, again)
	}
	if out2 := again.Append(nil, v); !bytes.Equal(out, out2) {
		t.Fatalf("encoding not stable:\n % X\n % X", out, out2)
	}
	if p, ok := pkt.(*Publish); ok && p.Size(v) != len(out) {
		t.Fatalf("Publish.Size %d, encoded %d", p.Size(v), len(out))
	}
}

// FuzzDecode feeds arbitrary bytes to Decode in each version. Decoding must
// never panic, and whatever decodes must survive a re-encode.
func FuzzDecode(f *testing.F) {
	for _, ex := range Catalogue {
		for i, v := range fuzzVersions {
			if v == ex.Version {
				f.Add(ex.Raw, byte(i))
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, vi byte) {
		v := fuzzVersions[int(vi)%len(fuzzVersions)]
		pkt, n, err := Decode(data, v)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error of type %T", err)
			}
			return
		}
		if n > len(data) {
			t.Fatalf("used %d of %d bytes", n, len(data))
		}
		if c, ok := pkt.(*Connect); ok {
			v = c.Version
		}
		checkReencode(t, pkt, v)
	})
}

// FuzzConnect feeds arbitrary CONNECT bodies to Connect.Decode.
func FuzzConnect(f *testing.F) {
	for _, ex := range Catalogue {
		if h, n, err := ParseFixedHeader(ex.Raw); err == nil && h.Type == CONNECT {
			f.Add(ex.Raw[n:])
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var c Connect
		if err := c.Decode(FixedHeader{Type: CONNECT, Remaining: len(body)}, body); err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error of type %T", err)
			}
			return
		}
		switch c.Version {
		case V31, V311, V5:
		default:
			t.Fatalf("accepted version %d", c.Version)
		}
		checkReencode(t, &c, c.Version)
	})
}
