package proto

import (
	"bytes"
	"errors"
	"testing"
)

func TestParseFixedHeader(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want FixedHeader
		n    int
		code ReasonCode // 0 with incomplete false: success
		inc  bool
	}{
		{"pingreq", []byte{0xC0, 0x00}, FixedHeader{Type: PINGREQ}, 2, 0, false},
		{"publish flags kept", []byte{0x3B, 0x05}, FixedHeader{Type: PUBLISH, Flags: 0xB, Remaining: 5}, 2, 0, false},
		{"two bytes", []byte{0x30, 0x80, 0x01}, FixedHeader{Type: PUBLISH, Remaining: 128}, 3, 0, false},
		{"max", []byte{0x30, 0xFF, 0xFF, 0xFF, 0x7F}, FixedHeader{Type: PUBLISH, Remaining: MaxRemainingLength}, 5, 0, false},
		{"empty", nil, FixedHeader{}, 0, 0, true},
		{"one byte", []byte{0x30}, FixedHeader{}, 0, 0, true},
		{"continued", []byte{0x30, 0x80}, FixedHeader{}, 0, 0, true},
		{"continued 4", []byte{0x30, 0xFF, 0xFF, 0xFF}, FixedHeader{}, 0, 0, true},
		// [MQTT-1.5.5-1] at most four bytes, minimally encoded.
		{"five bytes", []byte{0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}, FixedHeader{}, 0, MalformedPacket, false},
		{"not minimal", []byte{0x30, 0x80, 0x00}, FixedHeader{}, 0, MalformedPacket, false},
		{"type 0", []byte{0x00, 0x00}, FixedHeader{}, 0, MalformedPacket, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, n, err := ParseFixedHeader(tt.in)
			switch {
			case tt.inc:
				if !errors.Is(err, ErrIncomplete) {
					t.Fatalf("err = %v, want ErrIncomplete", err)
				}
			case tt.code != 0:
				var e *Error
				if !errors.As(err, &e) || e.Code != tt.code || err == ErrIncomplete {
					t.Fatalf("err = %v, want code 0x%02X", err, byte(tt.code))
				}
			default:
				if err != nil || h != tt.want || n != tt.n {
					t.Fatalf("got %+v %d %v, want %+v %d", h, n, err, tt.want, tt.n)
				}
			}
		})
	}
}

func TestVarint(t *testing.T) {
	for _, v := range []int{0, 1, 127, 128, 16383, 16384, 2097151, 2097152, MaxRemainingLength} {
		b := AppendVarint(nil, v)
		if len(b) != VarintSize(v) {
			t.Errorf("%d: %d bytes, VarintSize %d", v, len(b), VarintSize(v))
		}
		got, n, err := readVarint(b)
		if err != nil || got != v || n != len(b) {
			t.Errorf("%d: read %d %d %v", v, got, n, err)
		}
	}
	if got := AppendFixedHeader(nil, SUBSCRIBE, 2, 321); !bytes.Equal(got, []byte{0x82, 0xC1, 0x02}) {
		t.Errorf("AppendFixedHeader = % X", got)
	}
}
