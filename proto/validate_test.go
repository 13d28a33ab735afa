package proto

import (
	"strings"
	"testing"
)

func TestValidUTF8(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"", true},
		{"plain/ascii", true},
		{"ü温\U0001F600", true},
		{"\uFEFFbom", true},         // [MQTT-1.5.4-3] a BOM is an ordinary character
		{"\uFFFF", true},            // non-characters are allowed (the receiver MAY refuse)
		{"a\x00b", false},           // [MQTT-1.5.4-2]
		{"\xED\xA0\x80", false},     // [MQTT-1.5.4-1] U+D800, a surrogate
		{"\xED\xBF\xBF", false},     // [MQTT-1.5.4-1] U+DFFF
		{"\xC0\x80", false},         // [MQTT-1.5.4-1] overlong NUL
		{"\xF4\x90\x80\x80", false}, // past U+10FFFF
		{"\xFF", false},
		{"abc\xE2\x82", false}, // cut short
		// Long enough for the eight-byte fast path, with the fault at each end.
		{"abcdefghijklmnop", true},
		{"abcdefgh\x00ijklmnop", false},
		{"abcdefghijklmno\x00", false},
		{"\x00bcdefghijklmnop", false},
		{"abcdefghé", true},
		{"abcdefgh\xED\xA0\x80xxxxxxx", false},
		{"abcdefghijklmnop\x7F\x01", true},
	}
	for _, tt := range tests {
		if got := ValidUTF8([]byte(tt.in)); got != tt.want {
			t.Errorf("ValidUTF8(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestValidTopicName(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"a", true},
		{"/", true},
		{"a//b", true},
		{"$SYS/x", true},
		{" ", true},
		{"", false},    // [MQTT-4.7.3-1]
		{"a/+", false}, // [MQTT-3.3.2-2]
		{"a/#", false}, // [MQTT-3.3.2-2]
		{"a+b", false},
		{"a\x00", false}, // [MQTT-1.5.4-2]
		{strings.Repeat("a", 65535), true},
		{strings.Repeat("a", 65536), false},
	}
	for _, tt := range tests {
		if got := ValidTopicName([]byte(tt.in)); got != tt.want {
			t.Errorf("ValidTopicName(%.20q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestValidTopicFilter(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"a/b", true},
		{"#", true},   // [MQTT-4.7.1-1]
		{"a/#", true}, // [MQTT-4.7.1-1]
		{"+", true},   // [MQTT-4.7.1-2]
		{"+/+", true},
		{"a/+/c", true},
		{"/+", true},
		{"+/", true},
		{"//", true},
		{"$share/g/a/#", true},
		{"", false},      // [MQTT-4.7.3-1]
		{"a#", false},    // [MQTT-4.7.1-1] '#' must be a whole level
		{"a/#/b", false}, // [MQTT-4.7.1-1] '#' must be last
		{"#/", false},
		{"a+", false}, // [MQTT-4.7.1-2] '+' must be a whole level
		{"+a", false},
		{"a/b+/c", false},
		{"a\x00", false},
		{"\xFF", false},
	}
	for _, tt := range tests {
		if got := ValidTopicFilter([]byte(tt.in)); got != tt.want {
			t.Errorf("ValidTopicFilter(%q) = %v, want %v", tt.in, got, tt.want)
		}
		if HasWildcard([]byte(tt.in)) != strings.ContainsAny(tt.in, "+#") {
			t.Errorf("HasWildcard(%q) wrong", tt.in)
		}
	}
}

func TestParseShared(t *testing.T) {
	tests := []struct {
		in            string
		group, filter string
		shared, err   bool
	}{
		{"a/b", "", "a/b", false, false},
		{"$share", "", "$share", false, false},
		{"$shared/g/a", "", "$shared/g/a", false, false},
		{"$share/g/a/b", "g", "a/b", true, false},
		{"$share/g/#", "g", "#", true, false},
		{"$share/grp/+/x", "grp", "+/x", true, false},
		{"$share/g//", "g", "/", true, false},
		{"$share//a", "", "", true, true},   // [MQTT-4.8.2-1] empty group
		{"$share/g", "", "", true, true},    // [MQTT-4.8.2-1] no filter
		{"$share/g/", "", "", true, true},   // [MQTT-4.8.2-1] empty filter
		{"$share/g+/a", "", "", true, true}, // [MQTT-4.8.2-2] wildcard in group
		{"$share/#/a", "", "", true, true},  // [MQTT-4.8.2-2]
		{"$share/g/a#", "", "", true, true}, // filter itself invalid
		{"$share/", "", "", true, true},
	}
	for _, tt := range tests {
		g, f, shared, err := ParseShared([]byte(tt.in))
		if shared != tt.shared || (err != nil) != tt.err {
			t.Errorf("ParseShared(%q) shared=%v err=%v", tt.in, shared, err)
			continue
		}
		if err != nil {
			if c, _ := reasonOf(err); c != ProtocolError {
				t.Errorf("ParseShared(%q) code %v", tt.in, err)
			}
			continue
		}
		if string(g) != tt.group || string(f) != tt.filter {
			t.Errorf("ParseShared(%q) = %q %q", tt.in, g, f)
		}
	}
}
