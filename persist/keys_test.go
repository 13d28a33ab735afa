package persist

import (
	"bytes"
	"testing"
)

func TestPrefixEnd(t *testing.T) {
	tests := []struct {
		in, want []byte
	}{
		{[]byte("u/"), []byte("u0")},
		{[]byte{'u', 0x01, 'a'}, []byte{'u', 0x01, 'b'}},
		{[]byte{'u', 0x01, 0xff}, []byte{'u', 0x02}},
		{[]byte{0xff, 0xff}, nil},
	}
	for _, tt := range tests {
		if got := prefixEnd(tt.in); !bytes.Equal(got, tt.want) {
			t.Errorf("prefixEnd(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// A client id that starts another's must not put its subscription range
// around the other's keys: DeleteSession("a") deletes [subPrefix(a),
// prefixEnd(subPrefix(a))).
func TestSubRangesDoNotOverlap(t *testing.T) {
	ids := []string{"a", "ab", "a/b", "a\x00", "", "b", string(make([]byte, 200))}
	for _, owner := range ids {
		lo := subPrefix(owner)
		hi := prefixEnd(lo)
		for _, other := range ids {
			if other == owner {
				continue
			}
			for _, filter := range []string{"x", "#", "a/b", "\xff\xff"} {
				k := subKey(other, filter)
				if bytes.Compare(k, lo) >= 0 && bytes.Compare(k, hi) < 0 {
					t.Errorf("subscription key of %q/%q falls in the range of %q", other, filter, owner)
				}
			}
		}
	}
}

func TestKeysParseBack(t *testing.T) {
	for _, cid := range []string{"", "a", "a/b", "client-with-a-long-id-" + string(make([]byte, 300))} {
		got, err := parseSessionKey(sessionKey(cid))
		if err != nil || got != cid {
			t.Errorf("parseSessionKey(sessionKey(%q)) = %q, %v", cid, got, err)
		}
		gc, gf, err := parseSubKey(subKey(cid, "sport/+/x"))
		if err != nil || gc != cid || gf != "sport/+/x" {
			t.Errorf("parseSubKey(subKey(%q)) = %q, %q, %v", cid, gc, gf, err)
		}
	}
	bad := [][]byte{
		[]byte("s/"),                 // no length
		[]byte("s/\x05abc"),          // length past the end
		[]byte("s/\x01ab"),           // trailing bytes
		[]byte("s/\xff\xff\xff\xff"), // unterminated varint
	}
	for _, k := range bad {
		if _, err := parseSessionKey(k); err == nil {
			t.Errorf("parseSessionKey(%q) succeeded", k)
		}
	}
	if _, _, err := parseSubKey([]byte("u/\x01a")); err == nil {
		t.Error("subscription key without a filter parsed")
	}
}
