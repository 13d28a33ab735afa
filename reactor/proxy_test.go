package reactor

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"testing"
)

// mqttConnect is the start of an MQTT 3.1.1 CONNECT: what a client that is
// not behind the proxy sends first.
var mqttConnect = []byte{0x10, 0x0c, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3c}

// proxyV2Header builds a v2 header: signature, version and command,
// family and transport, length, then body (addresses and TLVs).
func proxyV2Header(verCmd, famProto byte, body []byte) []byte {
	b := append(bytes.Clone(proxyV2Sig), verCmd, famProto)
	b = binary.BigEndian.AppendUint16(b, uint16(len(body)))
	return append(b, body...)
}

// inetBody is a v2 address block for two IPv4 or two IPv6 addresses.
func inetBody(src, dst string, sport, dport uint16) []byte {
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	b := append(s.AsSlice(), d.AsSlice()...)
	b = binary.BigEndian.AppendUint16(b, sport)
	return binary.BigEndian.AppendUint16(b, dport)
}

// unixBody is a v2 address block for two UNIX paths, NUL-padded to 108.
func unixBody(src, dst string) []byte {
	b := make([]byte, 216)
	copy(b, src)
	copy(b[108:], dst)
	return b
}

// tlvs are what HAProxy may append: ALPN, authority, a NOOP and an SSL
// block with a sub-TLV for the version.
var tlvs = []byte{
	0x01, 0x00, 0x02, 'h', '2',
	0x02, 0x00, 0x0b, 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'c', 'o', 'm',
	0x04, 0x00, 0x03, 0, 0, 0,
	0x20, 0x00, 0x0c, 0x01, 0x00, 0x00, 0x00, 0x00, 0x21, 0x00, 0x07, 'T', 'L', 'S', 'v', '1', '.', '3',
}

func addrString(a net.Addr) string {
	if a == nil {
		return "<nil>"
	}
	return a.Network() + " " + a.String()
}

// proxyAccepts are valid headers and the addresses they carry.
var proxyAccepts = []struct {
	name     string
	header   []byte
	src, dst string
}{
	{"v1 TCP4", []byte("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"), "tcp 192.168.0.1:56324", "tcp 192.168.0.11:443"},
	{"v1 TCP4 ports 0 and 65535", []byte("PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n"), "tcp 0.0.0.0:0", "tcp 255.255.255.255:65535"},
	{"v1 TCP6", []byte("PROXY TCP6 2001:db8::1 2001:db8::2:1 1883 8883\r\n"), "tcp [2001:db8::1]:1883", "tcp [2001:db8::2:1]:8883"},
	{"v1 TCP6 mapped IPv4", []byte("PROXY TCP6 ::ffff:10.0.0.1 ::1 1 2\r\n"), "tcp 10.0.0.1:1", "tcp [::1]:2"},
	{"v1 TCP6 longest", []byte("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe 65535 65534\r\n"),
		"tcp [ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535", "tcp [ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe]:65534"},
	{"v1 UNKNOWN", []byte("PROXY UNKNOWN\r\n"), "<nil>", "<nil>"},
	{"v1 UNKNOWN longest (107 bytes)", []byte("PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"), "<nil>", "<nil>"},
	{"v1 UNKNOWN with anything", []byte("PROXY UNKNOWN what \x01ever\r\n"), "<nil>", "<nil>"},
	{"v2 TCP4", proxyV2Header(0x21, 0x11, inetBody("203.0.113.7", "10.0.0.2", 40000, 1883)), "tcp 203.0.113.7:40000", "tcp 10.0.0.2:1883"},
	{"v2 TCP4 with TLVs", proxyV2Header(0x21, 0x11, append(inetBody("203.0.113.7", "10.0.0.2", 40000, 8883), tlvs...)), "tcp 203.0.113.7:40000", "tcp 10.0.0.2:8883"},
	{"v2 UDP4", proxyV2Header(0x21, 0x12, inetBody("203.0.113.7", "10.0.0.2", 5, 6)), "tcp 203.0.113.7:5", "tcp 10.0.0.2:6"},
	{"v2 TCP6", proxyV2Header(0x21, 0x21, inetBody("2001:db8::7", "fd00::2", 40000, 1883)), "tcp [2001:db8::7]:40000", "tcp [fd00::2]:1883"},
	{"v2 TCP6 with TLVs", proxyV2Header(0x21, 0x21, append(inetBody("2001:db8::7", "fd00::2", 1, 2), tlvs...)), "tcp [2001:db8::7]:1", "tcp [fd00::2]:2"},
	{"v2 UNIX stream", proxyV2Header(0x21, 0x31, unixBody("/run/client.sock", "/run/loom.sock")), "unix /run/client.sock", "unix /run/loom.sock"},
	{"v2 UNIX abstract", proxyV2Header(0x21, 0x31, append(unixBody("\x00client", "\x00loom"), tlvs...)), "unix @client", "unix @loom"},
	{"v2 UNIX dgram", proxyV2Header(0x21, 0x32, unixBody("/a", "/b")), "unixgram /a", "unixgram /b"},
	{"v2 LOCAL", proxyV2Header(0x20, 0x00, nil), "<nil>", "<nil>"},
	{"v2 LOCAL with addresses", proxyV2Header(0x20, 0x11, inetBody("1.2.3.4", "5.6.7.8", 1, 2)), "<nil>", "<nil>"},
	{"v2 LOCAL ignores the family", proxyV2Header(0x20, 0xff, nil), "<nil>", "<nil>"},
	{"v2 PROXY UNSPEC", proxyV2Header(0x21, 0x00, tlvs), "<nil>", "<nil>"},
	{"v2 PROXY INET, transport UNSPEC", proxyV2Header(0x21, 0x10, inetBody("1.2.3.4", "5.6.7.8", 1, 2)), "<nil>", "<nil>"},
	{"v2 PROXY UNSPEC family, STREAM", proxyV2Header(0x21, 0x01, nil), "<nil>", "<nil>"},
	{"v2 longest", proxyV2Header(0x21, 0x11, append(inetBody("1.2.3.4", "5.6.7.8", 1, 2), make([]byte, maxProxyHeader-16-12)...)), "tcp 1.2.3.4:1", "tcp 5.6.7.8:2"},
}

func TestParseProxyAccepts(t *testing.T) {
	for _, tc := range proxyAccepts {
		t.Run(tc.name, func(t *testing.T) {
			// The client's first bytes follow in the same read.
			b := append(bytes.Clone(tc.header), mqttConnect...)
			n, src, dst, err := parseProxy(b)
			if err != nil || n != len(tc.header) {
				t.Fatalf("n %d (want %d), %v", n, len(tc.header), err)
			}
			if addrString(src) != tc.src || addrString(dst) != tc.dst {
				t.Errorf("src %s, dst %s; want %s, %s", addrString(src), addrString(dst), tc.src, tc.dst)
			}
		})
	}
}

// TestParseProxySplit: every prefix of a valid header is undecided; n
// comes with the last byte.
func TestParseProxySplit(t *testing.T) {
	for _, tc := range proxyAccepts {
		b := append(bytes.Clone(tc.header), mqttConnect...)
		for k := 0; k <= len(b); k++ {
			n, src, dst, err := parseProxy(b[:k])
			if k < len(tc.header) {
				if n != 0 || src != nil || dst != nil || err != nil {
					t.Fatalf("%s, %d of %d bytes: n %d, %v %v %v", tc.name, k, len(tc.header), n, src, dst, err)
				}
				continue
			}
			if n != len(tc.header) || err != nil {
				t.Fatalf("%s, %d bytes: n %d, %v", tc.name, k, n, err)
			}
		}
	}
}

// TestParseProxyErrors: each refusal, and how many bytes it takes.
func TestParseProxyErrors(t *testing.T) {
	long := proxyV2Header(0x21, 0x11, make([]byte, maxProxyHeader-16+1))
	for _, tc := range []struct {
		name string
		b    []byte
		need int // bytes needed to refuse; 0: all of b
		err  error
	}{
		{"MQTT CONNECT", mqttConnect, 1, errProxyNone},
		{"TLS ClientHello", []byte{0x16, 0x03, 0x01, 0x00, 0xa5}, 1, errProxyNone},
		{"HTTP", []byte("GET / HTTP/1.1\r\n\r\n"), 1, errProxyNone},
		{"lower-case proxy", []byte("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), 1, errProxyNone},
		{"PROXZ", []byte("PROXZ TCP4"), 5, errProxyNone},
		{"PROXY without space", []byte("PROXY\tTCP4"), 6, errProxyNone},
		{"v2 signature byte 12", append([]byte("\r\n\r\n\x00\r\nQUIT\r"), 0x21, 0x11, 0, 0), 12, errProxyNone},
		{"CRLF then text", []byte("\r\n\r\nGET"), 5, errProxyNone},

		{"v1 family TCP5", []byte("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n"), 0, errProxyV1Family},
		{"v1 family lower case", []byte("PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n"), 0, errProxyV1Family},
		{"v1 empty", []byte("PROXY \r\n"), 0, errProxyV1Family},
		{"v1 UNKNOWN glued", []byte("PROXY UNKNOWNX\r\n"), 0, errProxyV1Family},
		{"v1 no fields", []byte("PROXY TCP4\r\n"), 0, errProxyV1Line},
		{"v1 missing port", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"), 0, errProxyV1Line},
		{"v1 extra field", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n"), 0, errProxyV1Line},
		{"v1 trailing space", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n"), 0, errProxyV1Line},
		{"v1 double space", []byte("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n"), 0, errProxyV1Line},
		{"v1 bare LF", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"), 0, errProxyV1Line},
		{"v1 TCP4 with IPv6", []byte("PROXY TCP4 ::1 ::2 1 2\r\n"), 0, errProxyV1Address},
		{"v1 TCP4 with mapped IPv4", []byte("PROXY TCP4 ::ffff:1.2.3.4 5.6.7.8 1 2\r\n"), 0, errProxyV1Address},
		{"v1 TCP6 with IPv4", []byte("PROXY TCP6 1.2.3.4 ::1 1 2\r\n"), 0, errProxyV1Address},
		{"v1 TCP6 with zone", []byte("PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n"), 0, errProxyV1Address},
		{"v1 short IPv4", []byte("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n"), 0, errProxyV1Address},
		{"v1 IPv4 leading zero", []byte("PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n"), 0, errProxyV1Address},
		{"v1 host name", []byte("PROXY TCP4 localhost 5.6.7.8 1 2\r\n"), 0, errProxyV1Address},
		{"v1 port 65536", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"), 0, errProxyV1Port},
		{"v1 port 6 digits", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 000080\r\n"), 0, errProxyV1Port},
		{"v1 negative port", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n"), 0, errProxyV1Port},
		{"v1 port with letter", []byte("PROXY TCP6 ::1 ::2 80a 2\r\n"), 0, errProxyV1Port},
		{"v1 no CRLF within 107", []byte("PROXY UNKNOWN " + strings.Repeat("a", 200)), 107, errProxyV1NoCRLF},
		{"v1 108 bytes", []byte("PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 655355\r\n"), 107, errProxyV1NoCRLF},

		{"v2 version 1", proxyV2Header(0x11, 0x11, inetBody("1.2.3.4", "5.6.7.8", 1, 2)), 13, errProxyV2Version},
		{"v2 version 3", proxyV2Header(0x31, 0x11, inetBody("1.2.3.4", "5.6.7.8", 1, 2)), 13, errProxyV2Version},
		{"v2 version 0", proxyV2Header(0x01, 0x11, nil), 13, errProxyV2Version},
		{"v2 command 2", proxyV2Header(0x22, 0x11, inetBody("1.2.3.4", "5.6.7.8", 1, 2)), 13, errProxyV2Command},
		{"v2 command F", proxyV2Header(0x2f, 0x11, nil), 13, errProxyV2Command},
		{"v2 family 4", proxyV2Header(0x21, 0x41, make([]byte, 12)), 14, errProxyV2Family},
		{"v2 transport 3", proxyV2Header(0x21, 0x13, make([]byte, 12)), 14, errProxyV2Family},
		{"v2 over 1024", long, 16, errProxyV2TooLong},
		{"v2 LOCAL over 1024", proxyV2Header(0x20, 0x00, make([]byte, 0xffff)), 16, errProxyV2TooLong},
		{"v2 INET short", proxyV2Header(0x21, 0x11, make([]byte, 11)), 16, errProxyV2Addresses},
		{"v2 INET none", proxyV2Header(0x21, 0x11, nil), 16, errProxyV2Addresses},
		{"v2 INET6 short", proxyV2Header(0x21, 0x21, inetBody("1.2.3.4", "5.6.7.8", 1, 2)), 16, errProxyV2Addresses},
		{"v2 UNIX short", proxyV2Header(0x21, 0x31, make([]byte, 215)), 16, errProxyV2Addresses},
	} {
		t.Run(tc.name, func(t *testing.T) {
			need := tc.need
			if need == 0 {
				need = len(tc.b)
			}
			if n, src, dst, err := parseProxy(tc.b[:need-1]); n != 0 || src != nil || dst != nil || err != nil {
				t.Errorf("%d bytes: n %d, %v %v %v; want undecided", need-1, n, src, dst, err)
			}
			for _, k := range []int{need, len(tc.b)} {
				n, src, dst, err := parseProxy(tc.b[:k])
				if err != tc.err || n != 0 || src != nil || dst != nil {
					t.Errorf("%d bytes: n %d, %v %v, %v; want %v", k, n, src, dst, err, tc.err)
				}
			}
			// A refusal stands whatever follows.
			if n, _, _, err := parseProxy(append(bytes.Clone(tc.b), "\r\n\r\n"...)); err != tc.err || n != 0 {
				t.Errorf("with more bytes: n %d, %v", n, err)
			}
		})
	}
}

// TestParseProxySignatureBytes: the header is told from anything else at
// the first byte that differs from both signatures.
func TestParseProxySignatureBytes(t *testing.T) {
	for _, sig := range [][]byte{proxyV1Sig, proxyV2Sig} {
		for i := range sig {
			b := bytes.Clone(sig[:i+1])
			b[i] ^= 0x40
			if _, _, _, err := parseProxy(b); err != errProxyNone {
				t.Errorf("% x: %v", b, err)
			}
			if n, _, _, err := parseProxy(sig[:i+1]); n != 0 || err != nil {
				t.Errorf("% x: n %d, %v", sig[:i+1], n, err)
			}
		}
	}
	if n, _, _, err := parseProxy(nil); n != 0 || err != nil {
		t.Errorf("no bytes: n %d, %v", n, err)
	}
}

func FuzzParseProxy(f *testing.F) {
	for _, tc := range proxyAccepts {
		f.Add(append(bytes.Clone(tc.header), mqttConnect...))
	}
	f.Add(mqttConnect)
	f.Add([]byte("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"))
	f.Add([]byte("PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n"))
	f.Add(proxyV2Header(0x21, 0x31, make([]byte, 215)))
	f.Add(proxyV2Header(0x21, 0x41, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, src, dst, err := parseProxy(b)
		if n < 0 || n > len(b) || n > maxProxyHeader {
			t.Fatalf("n = %d of %d", n, len(b))
		}
		if err != nil {
			if n != 0 || src != nil || dst != nil {
				t.Fatalf("%v with n %d, %v %v", err, n, src, dst)
			}
			// A refusal stands whatever follows.
			if _, _, _, err2 := parseProxy(append(bytes.Clone(b), b...)); err2 == nil {
				t.Fatalf("refused (%v), then accepted with more bytes", err)
			}
			return
		}
		if n == 0 {
			if src != nil || dst != nil {
				t.Fatalf("undecided with addresses %v %v", src, dst)
			}
			return
		}
		if (src == nil) != (dst == nil) {
			t.Fatalf("src %v, dst %v", src, dst)
		}
		// The header alone says the same, and no prefix of it says
		// anything yet.
		n2, src2, dst2, err2 := parseProxy(b[:n])
		if n2 != n || err2 != nil || addrString(src2) != addrString(src) || addrString(dst2) != addrString(dst) {
			t.Fatalf("b[:n]: %d %v %v %v; b: %d %v %v", n2, src2, dst2, err2, n, src, dst)
		}
		for k := range n {
			if n3, _, _, err3 := parseProxy(b[:k]); n3 != 0 || err3 != nil {
				t.Fatalf("prefix %d of %d: n %d, %v", k, n, n3, err3)
			}
		}
	})
}
