package reactor

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"strconv"
)

// maxUpgradeRequest is how many bytes of an HTTP upgrade request we wait for
// before refusing it (431). Browsers send well under 2 KiB; cookies for the
// page's origin are the usual reason for more.
const maxUpgradeRequest = 8192

// upgradeRequest is what the broker keeps of a WebSocket upgrade request.
type upgradeRequest struct {
	key      string // Sec-WebSocket-Key as sent
	protocol string // the subprotocol chosen: "mqtt" or "mqttv3.1"
	// origin is where the Origin header's value sits in the request's
	// bytes (browsers send it; length 0 when absent): kept as offsets, so
	// the request allocates nothing for it.
	originAt, originLen int
}

// httpError is a refusal sent as an HTTP response before closing. reason
// says what was wrong, for the broker's log; the response itself carries
// the standard reason phrase of status (see appendHTTPError).
type httpError struct {
	status int
	reason string
}

func (e *httpError) Error() string {
	return "websocket upgrade refused (" + strconv.Itoa(e.status) + "): " + e.reason
}

// The refusals are shared values so that refusing costs no allocation (a
// port scanner or a misdirected MQTT client gets one per connection).
// Callers must not modify them.
var (
	errUpgradeMethod     = &httpError{400, "not a GET request"}
	errUpgradeRequestLn  = &httpError{400, "malformed request line"}
	errUpgradeVersion    = &httpError{400, "HTTP version before 1.1"}
	errUpgradeBareLF     = &httpError{400, "line not ended by CRLF"}
	errUpgradeHeader     = &httpError{400, "malformed header line"}
	errUpgradePath       = &httpError{404, "no WebSocket endpoint at this path"}
	errUpgradeOrigin     = &httpError{403, "origin not allowed on this listener"}
	errUpgradeUpgrade    = &httpError{400, "no Upgrade: websocket"}
	errUpgradeConnection = &httpError{400, "no Connection: upgrade"}
	errUpgradeWSVersion  = &httpError{426, "Sec-WebSocket-Version is not 13"}
	errUpgradeKey        = &httpError{400, "Sec-WebSocket-Key is not base64 of 16 bytes"}
	errUpgradeKeyTwice   = &httpError{400, "Sec-WebSocket-Key sent more than once"}
	errUpgradeProtocol   = &httpError{400, "no Sec-WebSocket-Protocol offering mqtt or mqttv3.1"}
	errUpgradeTooLarge   = &httpError{431, "request headers over 8192 bytes"}
)

var (
	crlf     = []byte("\r\n")
	crlfcrlf = []byte("\r\n\r\n")
)

// parseUpgrade parses an HTTP/1.1 WebSocket upgrade request (RFC 6455
// section 4.2.1) at the start of b, for the listener's path. It returns
// n == 0 and a nil error while the request is incomplete (no "\r\n\r\n" yet
// within maxUpgradeRequest bytes); n, the request's length through the
// blank line, once whole. Bytes after the blank line (the client's first
// frames) are not looked at.
//
// Two refusals come before the request is whole, because waiting would only
// let a wrong client hold the connection until 8 KiB or a timeout: bytes
// that cannot begin "GET " (an MQTT or TLS client on the WebSocket port),
// and a line ended by a bare "\n" (the blank line we wait for would never
// come as CRLF CRLF).
//
// When a request has several faults the first in this order is reported:
// request line (400), path (404), header syntax (400), Upgrade and
// Connection (400), Sec-WebSocket-Version (426), Sec-WebSocket-Key (400),
// Sec-WebSocket-Protocol (400).
func parseUpgrade(b []byte, path string) (req upgradeRequest, n int, err *httpError) {
	window := b[:min(len(b), maxUpgradeRequest)]
	if k := min(len(window), 4); !bytes.Equal(window[:k], []byte("GET ")[:k]) {
		return req, 0, errUpgradeMethod
	}
	end := bytes.Index(window, crlfcrlf)
	scan := window
	if end >= 0 {
		scan = window[:end+4]
	}
	if hasBareLF(scan) {
		return req, 0, errUpgradeBareLF
	}
	if end < 0 {
		if len(b) >= maxUpgradeRequest {
			return req, 0, errUpgradeTooLarge
		}
		return req, 0, nil
	}

	// head holds the request line and header lines, each ended by CRLF.
	head := b[:end+2]
	line, rest, _ := bytes.Cut(head, crlf)
	target, herr := parseRequestLine(line)
	if herr != nil {
		return req, 0, herr
	}
	if string(requestPath(target)) != path {
		return req, 0, errUpgradePath
	}

	var (
		upgrade, connection bool
		versionSeen, badVer bool
		keys                int
		key                 []byte
	)
	for len(rest) > 0 {
		line, rest, _ = bytes.Cut(rest, crlf)
		name, value, ok := splitHeader(line)
		if !ok {
			return upgradeRequest{}, 0, errUpgradeHeader
		}
		switch {
		case equalFoldASCII(name, "upgrade"):
			upgrade = upgrade || hasToken(value, "websocket")
		case equalFoldASCII(name, "connection"):
			connection = connection || hasToken(value, "upgrade")
		case equalFoldASCII(name, "sec-websocket-version"):
			// A repeated "13" is harmless; anything else is a version
			// we do not speak, and the client is told which we do.
			versionSeen = true
			badVer = badVer || string(value) != "13"
		case equalFoldASCII(name, "origin"):
			// value is a view into b: its offset there is what its
			// capacity lacks of b's.
			req.originAt, req.originLen = cap(b)-cap(value), len(value)
		case equalFoldASCII(name, "sec-websocket-key"):
			// RFC 6455 section 11.3.1: it must not appear more than once.
			keys++
			key = value
		case equalFoldASCII(name, "sec-websocket-protocol"):
			// "mqtt" wherever it is offered [MQTT-6.0.0-4]; "mqttv3.1"
			// (MQTT 3.1's name) only when mqtt is not, across header
			// lines too (a list may be split over several lines, RFC 7230
			// 3.2.2).
			if p := mqttProtocol(value); p == "mqtt" || req.protocol == "" {
				req.protocol = p
			}
		}
	}
	switch {
	case !upgrade:
		return upgradeRequest{}, 0, errUpgradeUpgrade
	case !connection:
		return upgradeRequest{}, 0, errUpgradeConnection
	case !versionSeen || badVer:
		return upgradeRequest{}, 0, errUpgradeWSVersion
	case keys > 1:
		return upgradeRequest{}, 0, errUpgradeKeyTwice
	case !validKey(key):
		return upgradeRequest{}, 0, errUpgradeKey
	case req.protocol == "":
		return upgradeRequest{}, 0, errUpgradeProtocol
	}
	req.key = string(key)
	return req, end + 4, nil
}

// hasBareLF reports whether b holds a "\n" not preceded by "\r".
func hasBareLF(b []byte) bool {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return false
		}
		i += j
		if i == 0 || b[i-1] != '\r' {
			return true
		}
		i++
	}
}

// parseRequestLine checks "GET SP request-target SP HTTP/x.y" (RFC 7230
// section 3.1.1, single spaces) and returns the request-target.
func parseRequestLine(line []byte) ([]byte, *httpError) {
	method, rest, ok := bytes.Cut(line, []byte(" "))
	if !ok || string(method) != "GET" {
		return nil, errUpgradeMethod
	}
	target, version, ok := bytes.Cut(rest, []byte(" "))
	if !ok || len(target) == 0 {
		return nil, errUpgradeRequestLn
	}
	for _, c := range target {
		// A request-target is visible ASCII (RFC 3986 characters or
		// obs-text); controls and spaces are not part of one.
		if c <= ' ' || c == 0x7f {
			return nil, errUpgradeRequestLn
		}
	}
	// HTTP-version = "HTTP/" DIGIT "." DIGIT; the upgrade mechanism needs
	// 1.1 or later (RFC 6455 section 4.1).
	if len(version) != 8 || string(version[:5]) != "HTTP/" || version[6] != '.' ||
		!isDigit(version[5]) || !isDigit(version[7]) {
		return nil, errUpgradeRequestLn
	}
	if major, minor := version[5]-'0', version[7]-'0'; major < 1 || major == 1 && minor < 1 {
		return nil, errUpgradeVersion
	}
	return target, nil
}

// requestPath is the path of a request-target: the query is dropped, and
// an absolute-form target ("ws://host/mqtt", RFC 7230 section 5.3.2, which
// a server must accept) is reduced to its path.
func requestPath(target []byte) []byte {
	if target[0] != '/' {
		if i := bytes.Index(target, []byte("://")); i > 0 {
			authority := target[i+3:]
			if j := bytes.IndexAny(authority, "/?"); j >= 0 && authority[j] == '/' {
				target = authority[j:]
			} else {
				target = []byte("/")
			}
		}
	}
	if i := bytes.IndexByte(target, '?'); i >= 0 {
		target = target[:i]
	}
	return target
}

// splitHeader splits "name: value" (RFC 7230 section 3.2): the name is a
// token with no space before the colon (a space there, or a line folded
// onto the previous one, is refused as the RFC requires), the value is
// trimmed of spaces and tabs and holds no control characters.
func splitHeader(line []byte) (name, value []byte, ok bool) {
	name, value, ok = bytes.Cut(line, []byte(":"))
	if !ok || len(name) == 0 {
		return nil, nil, false
	}
	for _, c := range name {
		if !isTokenChar(c) {
			return nil, nil, false
		}
	}
	for _, c := range value {
		if c < ' ' && c != '\t' || c == 0x7f {
			return nil, nil, false
		}
	}
	return name, trimOWS(value), true
}

// hasToken reports whether the comma-separated list holds the lower-case
// token tok, in any case (RFC 7230: connection options and upgrade protocol
// names are case-insensitive; Firefox sends "keep-alive, Upgrade").
func hasToken(list []byte, tok string) bool {
	for len(list) > 0 {
		var item []byte
		item, list, _ = bytes.Cut(list, []byte(","))
		item = trimOWS(item)
		if equalFoldASCII(item, tok) {
			return true
		}
	}
	return false
}

// mqttProtocol returns "mqtt" if the comma-separated list offers it, else
// "mqttv3.1" if it offers that, else "". Subprotocol names are compared
// exactly: the client checks that the answer is one it offered, character
// for character. The returned strings are constants, so keeping them costs
// nothing.
func mqttProtocol(list []byte) string {
	found := ""
	for len(list) > 0 {
		var item []byte
		item, list, _ = bytes.Cut(list, []byte(","))
		switch string(trimOWS(item)) {
		case "mqtt":
			return "mqtt"
		case "mqttv3.1":
			found = "mqttv3.1"
		}
	}
	return found
}

// validKey reports whether key is base64 of 16 bytes (RFC 6455 section
// 4.1, item 7): 24 characters ending in "==".
func validKey(key []byte) bool {
	if len(key) != 24 {
		return false
	}
	var buf [18]byte
	n, err := base64.StdEncoding.Decode(buf[:], key)
	return err == nil && n == 16
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// equalFoldASCII compares b with the lower-case ASCII s, ignoring case.
func equalFoldASCII(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// isTokenChar reports whether c may appear in an RFC 7230 token.
func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', isDigit(c):
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// wsGUID is the constant RFC 6455 section 1.3 appends to the client's key.
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// origin is the Origin header's value of req, parsed from b.
func (req upgradeRequest) origin(b []byte) []byte {
	return b[req.originAt : req.originAt+req.originLen]
}

// appendUpgradeResponse appends the 101 Switching Protocols response:
// Upgrade, Connection, Sec-WebSocket-Accept (base64 SHA-1 of key + the RFC's
// GUID), Sec-WebSocket-Protocol. No extension is agreed (the client's
// Sec-WebSocket-Extensions is ignored), so frames arrive uncompressed.
func appendUpgradeResponse(dst []byte, req upgradeRequest) []byte {
	dst = append(dst, "HTTP/1.1 101 Switching Protocols\r\n"+
		"Upgrade: websocket\r\n"+
		"Connection: Upgrade\r\n"+
		"Sec-WebSocket-Accept: "...)
	dst = appendAccept(dst, req.key)
	dst = append(dst, "\r\n"...)
	if req.protocol != "" {
		dst = append(dst, "Sec-WebSocket-Protocol: "...)
		dst = append(dst, req.protocol...)
		dst = append(dst, "\r\n"...)
	}
	return append(dst, "\r\n"...)
}

// appendAccept appends the Sec-WebSocket-Accept value for key.
func appendAccept(dst []byte, key string) []byte {
	// A valid key is 24 bytes, so key and GUID fit this stack buffer.
	var buf [64]byte
	sum := sha1.Sum(append(append(buf[:0], key...), wsGUID...))
	return base64.StdEncoding.AppendEncode(dst, sum[:])
}

// appendHTTPError appends a minimal response for e: status line,
// "Connection: close", "Content-Length: 0" (plus Sec-WebSocket-Version: 13
// for 426, as RFC 6455 section 4.2.2 asks), blank line. The status line
// carries the standard reason phrase, never e.reason, so that nothing the
// broker writes there can break the response.
func appendHTTPError(dst []byte, e *httpError) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(e.status), 10)
	dst = append(dst, ' ')
	dst = append(dst, statusText(e.status)...)
	dst = append(dst, "\r\n"...)
	if e.status == 426 {
		dst = append(dst, "Sec-WebSocket-Version: 13\r\n"...)
	}
	return append(dst, "Connection: close\r\nContent-Length: 0\r\n\r\n"...)
}

// statusText is the reason phrase of the statuses a WebSocket listener
// refuses with.
func statusText(status int) string {
	switch status {
	case 400:
		return "Bad Request"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 426:
		return "Upgrade Required"
	case 429:
		return "Too Many Requests"
	case 431:
		return "Request Header Fields Too Large"
	case 500:
		return "Internal Server Error"
	case 503:
		return "Service Unavailable"
	}
	return "Error"
}
