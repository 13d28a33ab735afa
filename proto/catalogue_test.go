package proto

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// sameValue compares like reflect.DeepEqual but treats a nil slice and an
// empty one as equal: a decoder may alias an empty field of the input where
// an expected value leaves it nil, and both mean "no bytes".
func sameValue(a, b reflect.Value) bool {
	if a.Kind() != b.Kind() {
		return false
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return sameValue(a.Elem(), b.Elem())
	case reflect.Struct:
		for i := 0; i < a.NumField(); i++ {
			if !sameValue(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Slice:
		if a.Len() != b.Len() {
			return false
		}
		for i := 0; i < a.Len(); i++ {
			if !sameValue(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	default:
		return a.Equal(b)
	}
}

func samePacket(a, b any) bool { return sameValue(reflect.ValueOf(a), reflect.ValueOf(b)) }

func reasonOf(err error) (ReasonCode, bool) {
	var e *Error
	if err == nil || errors.Is(err, ErrIncomplete) || !errors.As(err, &e) {
		return 0, false
	}
	return e.Code, true
}

func TestCatalogue(t *testing.T) {
	if len(Catalogue) < 120 {
		t.Errorf("catalogue has %d examples, want 120 or more", len(Catalogue))
	}
	names := map[string]bool{}
	for _, ex := range Catalogue {
		if names[ex.Name] {
			t.Errorf("duplicate example name %q", ex.Name)
		}
		names[ex.Name] = true
		if ex.Spec == "" {
			t.Errorf("%s: no Spec", ex.Name)
		}
		t.Run(ex.Name, func(t *testing.T) {
			pkt, n, err := Decode(ex.Raw, ex.Version)
			if !ex.Valid {
				code, ok := reasonOf(err)
				if !ok || code != ex.Reason {
					t.Fatalf("[%s] err = %v, want reason 0x%02X", ex.Spec, err, byte(ex.Reason))
				}
				if ex.Packet != nil {
					t.Fatalf("invalid example carries a Packet")
				}
				return
			}
			if err != nil {
				t.Fatalf("[%s] decode: %v", ex.Spec, err)
			}
			if n != len(ex.Raw) {
				t.Fatalf("used %d of %d bytes", n, len(ex.Raw))
			}
			if !samePacket(pkt, ex.Packet) {
				t.Fatalf("[%s] decoded\n %+v\nwant\n %+v", ex.Spec, pkt, ex.Packet)
			}
			out := pkt.Append(nil, ex.Version)
			if ex.NonCanonical {
				// The shorter form must still decode to the same packet.
				again, _, err := Decode(out, ex.Version)
				if err != nil || !samePacket(again, ex.Packet) || len(out) >= len(ex.Raw) {
					t.Fatalf("re-encoded % X: %v", out, err)
				}
				return
			}
			if !bytes.Equal(out, ex.Raw) {
				t.Fatalf("[%s] re-encoded\n % X\nwant\n % X", ex.Spec, out, ex.Raw)
			}
			// The expected packet encodes to the same bytes too.
			if exp := ex.Packet.Append(nil, ex.Version); !bytes.Equal(exp, ex.Raw) {
				t.Fatalf("Packet encodes to % X", exp)
			}
			if p, ok := pkt.(*Publish); ok && p.Size(ex.Version) != len(ex.Raw) {
				t.Fatalf("Size = %d, want %d", p.Size(ex.Version), len(ex.Raw))
			}
		})
	}
}

// Every prefix of a valid packet is incomplete, never an error or a packet.
func TestCataloguePrefixesIncomplete(t *testing.T) {
	for _, ex := range Catalogue {
		if !ex.Valid {
			continue
		}
		for i := 0; i < len(ex.Raw); i++ {
			if _, _, err := Decode(ex.Raw[:i], ex.Version); !errors.Is(err, ErrIncomplete) {
				t.Fatalf("%s: prefix %d: err = %v", ex.Name, i, err)
			}
		}
	}
}

// Decoders reuse their receiver: decoding every example into one value per
// type must give what a fresh value gives.
func TestDecodeReusesReceiver(t *testing.T) {
	var (
		conn  Connect
		cack  Connack
		pub   Publish
		ack   Ack
		sub   Subscribe
		sack  Suback
		unsub Unsubscribe
		uack  Unsuback
		disc  Disconnect
		auth  Auth
	)
	for round := 0; round < 2; round++ {
		for _, ex := range Catalogue {
			h, hn, err := ParseFixedHeader(ex.Raw)
			if err != nil || !ex.Valid {
				continue
			}
			body := ex.Raw[hn:]
			var got Packet
			switch h.Type {
			case CONNECT:
				err, got = conn.Decode(h, body), &conn
			case CONNACK:
				err, got = cack.Decode(h, body, ex.Version), &cack
			case PUBLISH:
				err, got = pub.Decode(h, body, ex.Version), &pub
			case PUBACK, PUBREC, PUBREL, PUBCOMP:
				err, got = ack.Decode(h, body, ex.Version), &ack
			case SUBSCRIBE:
				err, got = sub.Decode(h, body, ex.Version), &sub
			case SUBACK:
				err, got = sack.Decode(h, body, ex.Version), &sack
			case UNSUBSCRIBE:
				err, got = unsub.Decode(h, body, ex.Version), &unsub
			case UNSUBACK:
				err, got = uack.Decode(h, body, ex.Version), &uack
			case DISCONNECT:
				err, got = disc.Decode(h, body, ex.Version), &disc
			case AUTH:
				err, got = auth.Decode(h, body, ex.Version), &auth
			default:
				continue
			}
			if err != nil || !samePacket(got, ex.Packet) {
				t.Fatalf("%s: reused receiver gave %+v, %v", ex.Name, got, err)
			}
		}
	}
}
