package reactor

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
)

// maxProxyHeader is the longest PROXY header accepted: a v1 line is at most
// 107 bytes; a v2 header is 16 bytes, the addresses (at most 216, for two
// UNIX paths) and TLVs, which in practice are a few hundred bytes at most.
const maxProxyHeader = 1024

// maxProxyV1 is the longest v1 line, CRLF included (HAProxy's spec: "PROXY
// TCP6" and two IPv6 addresses and ports written in full).
const maxProxyV1 = 107

var (
	proxyV1Sig = []byte("PROXY ")
	// proxyV2Sig cannot be mistaken for the start of any text protocol: it
	// opens with a blank line, then NUL.
	proxyV2Sig = []byte("\r\n\r\n\x00\r\nQUIT\n")
)

// The errors are shared values so that a refusal costs no allocation.
var (
	errProxyNone        = errors.New("proxy protocol: no PROXY header")
	errProxyV1NoCRLF    = errors.New("proxy protocol v1: no CRLF within 107 bytes")
	errProxyV1Line      = errors.New("proxy protocol v1: malformed line")
	errProxyV1Family    = errors.New("proxy protocol v1: unknown family")
	errProxyV1Address   = errors.New("proxy protocol v1: address not of the family")
	errProxyV1Port      = errors.New("proxy protocol v1: bad port")
	errProxyV2Version   = errors.New("proxy protocol v2: version is not 2")
	errProxyV2Command   = errors.New("proxy protocol v2: unknown command")
	errProxyV2Family    = errors.New("proxy protocol v2: unknown address family or transport")
	errProxyV2TooLong   = errors.New("proxy protocol v2: header over 1024 bytes")
	errProxyV2Addresses = errors.New("proxy protocol v2: addresses shorter than the family needs")
)

// parseProxy reads a PROXY protocol header (HAProxy's spec, v1 text and v2
// binary) at the start of b. n == 0 and err == nil: not enough bytes yet to
// decide. On success n is the header's length and src/dst the addresses it
// carries (*net.TCPAddr; v2 AF_UNIX → *net.UnixAddr), or nil for v1
// "UNKNOWN" and v2 LOCAL (keep the socket's own addresses). v2 PROXY with
// an unspecified family or transport also gives nil, nil: the spec lets the
// receiver accept it and use the real endpoints. TLVs are skipped, not read.
//
// Each check is made as soon as the bytes it needs are in b, so a client
// that is not behind a proxy (an MQTT CONNECT begins 0x10) is refused on
// its first byte, and a bad v2 header on its 16th.
func parseProxy(b []byte) (n int, src, dst net.Addr, err error) {
	if len(b) == 0 {
		return 0, nil, nil, nil
	}
	switch {
	case isPrefixOf(b, proxyV1Sig):
		return parseProxyV1(b)
	case isPrefixOf(b, proxyV2Sig):
		return parseProxyV2(b)
	}
	return 0, nil, nil, errProxyNone
}

// isPrefixOf reports whether b and sig agree on the bytes both have.
func isPrefixOf(b, sig []byte) bool {
	k := min(len(b), len(sig))
	return bytes.Equal(b[:k], sig[:k])
}

// parseProxyV1 reads "PROXY TCP4|TCP6 src dst sport dport\r\n" or
// "PROXY UNKNOWN ...\r\n", single spaces apart.
func parseProxyV1(b []byte) (int, net.Addr, net.Addr, error) {
	window := b[:min(len(b), maxProxyV1)]
	end := bytes.IndexByte(window, '\n')
	if end < 0 {
		if len(b) >= maxProxyV1 {
			return 0, nil, nil, errProxyV1NoCRLF
		}
		return 0, nil, nil, nil
	}
	if end == 0 || window[end-1] != '\r' {
		return 0, nil, nil, errProxyV1Line
	}
	n := end + 1
	line := b[len(proxyV1Sig) : end-1]

	// The spec has the receiver ignore whatever follows UNKNOWN up to the
	// CRLF: a proxy may fill in what it knows.
	family, rest, _ := bytes.Cut(line, []byte(" "))
	if string(family) == "UNKNOWN" {
		return n, nil, nil, nil
	}
	var want4 bool
	switch string(family) {
	case "TCP4":
		want4 = true
	case "TCP6":
	default:
		return 0, nil, nil, errProxyV1Family
	}
	var f [4][]byte
	for i := range f {
		var ok bool
		f[i], rest, ok = bytes.Cut(rest, []byte(" "))
		if ok != (i < 3) {
			return 0, nil, nil, errProxyV1Line
		}
	}
	srcIP, ok1 := parseV1IP(f[0], want4)
	dstIP, ok2 := parseV1IP(f[1], want4)
	if !ok1 || !ok2 {
		return 0, nil, nil, errProxyV1Address
	}
	srcPort, ok1 := parseV1Port(f[2])
	dstPort, ok2 := parseV1Port(f[3])
	if !ok1 || !ok2 {
		return 0, nil, nil, errProxyV1Port
	}
	return n, &net.TCPAddr{IP: srcIP, Port: srcPort}, &net.TCPAddr{IP: dstIP, Port: dstPort}, nil
}

// parseV1IP parses an address of TCP4 (dotted quad) or TCP6 (RFC 4291
// text, no zone). "::ffff:1.2.3.4" is an IPv6 address: it is no TCP4 one.
func parseV1IP(s []byte, want4 bool) (net.IP, bool) {
	a, err := netip.ParseAddr(string(s))
	if err != nil || a.Zone() != "" || a.Is4() != want4 {
		return nil, false
	}
	return a.AsSlice(), true
}

// parseV1Port parses a decimal port in [0, 65535].
func parseV1Port(s []byte) (int, bool) {
	if len(s) == 0 || len(s) > 5 {
		return 0, false
	}
	p := 0
	for _, c := range s {
		if !isDigit(c) {
			return 0, false
		}
		p = p*10 + int(c-'0')
	}
	return p, p <= 0xffff
}

// v2 address block sizes (two addresses, then for INET two ports).
const (
	proxyV2Inet  = 12
	proxyV2Inet6 = 36
	proxyV2Unix  = 216
)

// parseProxyV2 reads the binary header: the 12-byte signature, version and
// command, family and transport, the big-endian length of what follows,
// then the addresses and TLVs.
func parseProxyV2(b []byte) (int, net.Addr, net.Addr, error) {
	if len(b) <= 12 {
		return 0, nil, nil, nil
	}
	if b[12]>>4 != 2 {
		return 0, nil, nil, errProxyV2Version
	}
	cmd := b[12] & 0x0f
	if cmd > 1 {
		return 0, nil, nil, errProxyV2Command
	}
	local := cmd == 0
	if len(b) < 14 {
		return 0, nil, nil, nil
	}
	// LOCAL (a health check from the proxy itself) ignores the family, as
	// the spec says, so only PROXY has its family checked.
	family, transport := b[13]>>4, b[13]&0x0f
	if !local && (family > 3 || transport > 2) {
		return 0, nil, nil, errProxyV2Family
	}
	if len(b) < 16 {
		return 0, nil, nil, nil
	}
	length := int(binary.BigEndian.Uint16(b[14:]))
	if 16+length > maxProxyHeader {
		return 0, nil, nil, errProxyV2TooLong
	}
	unspec := local || family == 0 || transport == 0
	if !unspec && length < [...]int{0, proxyV2Inet, proxyV2Inet6, proxyV2Unix}[family] {
		return 0, nil, nil, errProxyV2Addresses
	}
	n := 16 + length
	if len(b) < n {
		return 0, nil, nil, nil
	}
	if unspec {
		return n, nil, nil, nil
	}
	a := b[16:n]
	switch family {
	case 1:
		return n, v2TCP(a[0:4], a[8:10]), v2TCP(a[4:8], a[10:12]), nil
	case 2:
		return n, v2TCP(a[0:16], a[32:34]), v2TCP(a[16:32], a[34:36]), nil
	}
	network := "unix"
	if transport == 2 {
		network = "unixgram"
	}
	return n, v2Unix(a[:108], network), v2Unix(a[108:216], network), nil
}

// v2TCP is an INET or INET6 address of a v2 header. A DGRAM transport gives
// a *net.TCPAddr too: the broker only speaks TCP, and what it needs from
// the header is the client's IP and port.
func v2TCP(ip, port []byte) *net.TCPAddr {
	return &net.TCPAddr{IP: bytes.Clone(ip), Port: int(binary.BigEndian.Uint16(port))}
}

// v2Unix is a UNIX address of a v2 header: a NUL-padded path. A leading NUL
// marks a Linux abstract socket, which Go writes with a leading '@'.
func v2Unix(p []byte, network string) *net.UnixAddr {
	abstract := p[0] == 0
	if abstract {
		p = p[1:]
	}
	if i := bytes.IndexByte(p, 0); i >= 0 {
		p = p[:i]
	}
	name := string(p)
	if abstract && name != "" {
		name = "@" + name
	}
	return &net.UnixAddr{Name: name, Net: network}
}
