package reactor

import (
	"bytes"
	"strings"
	"testing"
)

// chromeUpgrade is the request Chrome sends for new WebSocket(url, "mqtt"),
// headers in Chrome's order, with RFC 6455's example key.
const chromeUpgrade = "GET /mqtt HTTP/1.1\r\n" +
	"Host: broker.example.com:8083\r\n" +
	"Connection: Upgrade\r\n" +
	"Pragma: no-cache\r\n" +
	"Cache-Control: no-cache\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36\r\n" +
	"Upgrade: websocket\r\n" +
	"Origin: https://app.example.com\r\n" +
	"Sec-WebSocket-Version: 13\r\n" +
	"Accept-Encoding: gzip, deflate, br, zstd\r\n" +
	"Accept-Language: en-US,en;q=0.9\r\n" +
	"Cookie: session=0123456789abcdef; theme=dark\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
	"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" +
	"Sec-WebSocket-Protocol: mqtt\r\n" +
	"\r\n"

// firefoxUpgrade differs where Firefox does: Connection lists keep-alive
// first, and MQTT.js offers both subprotocols.
const firefoxUpgrade = "GET /mqtt HTTP/1.1\r\n" +
	"Host: localhost:8083\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n" +
	"Accept: */*\r\n" +
	"Accept-Language: en-US,en;q=0.5\r\n" +
	"Accept-Encoding: gzip, deflate, br, zstd\r\n" +
	"Sec-WebSocket-Version: 13\r\n" +
	"Origin: http://localhost:3000\r\n" +
	"Sec-WebSocket-Protocol: mqttv3.1, mqtt\r\n" +
	"Sec-WebSocket-Extensions: permessage-deflate\r\n" +
	"Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n" +
	"Connection: keep-alive, Upgrade\r\n" +
	"Sec-Fetch-Dest: empty\r\n" +
	"Sec-Fetch-Mode: websocket\r\n" +
	"Sec-Fetch-Site: same-site\r\n" +
	"Pragma: no-cache\r\n" +
	"Cache-Control: no-cache\r\n" +
	"Upgrade: websocket\r\n" +
	"\r\n"

// curlUpgrade is as little as a client can send, as a curl or wscat user
// would write it by hand.
const curlUpgrade = "GET /mqtt HTTP/1.1\r\n" +
	"Host: localhost\r\n" +
	"Upgrade: websocket\r\n" +
	"Connection: Upgrade\r\n" +
	"Sec-WebSocket-Version: 13\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
	"Sec-WebSocket-Protocol: mqtt\r\n" +
	"\r\n"

// edit returns curlUpgrade with old replaced by new (old must occur).
func edit(t testing.TB, old, new string) string {
	t.Helper()
	if !strings.Contains(curlUpgrade, old) {
		t.Fatalf("curlUpgrade has no %q", old)
	}
	return strings.Replace(curlUpgrade, old, new, 1)
}

func TestParseUpgradeAccepts(t *testing.T) {
	for _, tc := range []struct {
		name, req, path, key, proto string
	}{
		{"chrome", chromeUpgrade, "/mqtt", "dGhlIHNhbXBsZSBub25jZQ==", "mqtt"},
		{"firefox", firefoxUpgrade, "/mqtt", "x3JJHMbDL1EzLkh9GBhXDw==", "mqtt"},
		{"curl", curlUpgrade, "/mqtt", "dGhlIHNhbXBsZSBub25jZQ==", "mqtt"},
		{"root path", edit(t, "GET /mqtt ", "GET / "), "/", "dGhlIHNhbXBsZSBub25jZQ==", "mqtt"},
		{"query ignored", edit(t, "GET /mqtt ", "GET /mqtt?token=abc&x=/y "), "/mqtt", "dGhlIHNhbXBsZSBub25jZQ==", "mqtt"},
		{"absolute form", edit(t, "GET /mqtt ", "GET ws://broker:8083/mqtt?a=b "), "/mqtt", "dGhlIHNhbXBsZSBub25jZQ==", "mqtt"},
		{"absolute form no path", edit(t, "GET /mqtt ", "GET http://broker:8083 "), "/", "dGhlIHNhbXBsZSBub25jZQ==", "mqtt"},
		{"HTTP/1.2", edit(t, "HTTP/1.1", "HTTP/1.2"), "/mqtt", "dGhlIHNhbXBsZSBub25jZQ==", "mqtt"},
		{"header names in any case", "GET /mqtt HTTP/1.1\r\nhost: localhost\r\nUPGRADE: websocket\r\nconnection: Upgrade\r\n" +
			"sec-websocket-version: 13\r\nSEC-WEBSOCKET-KEY: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-Websocket-Protocol: mqtt\r\n\r\n",
			"/mqtt", "dGhlIHNhbXBsZSBub25jZQ==", "mqtt"},
		{"upgrade values in any case", edit(t, "Upgrade: websocket\r\nConnection: Upgrade", "Upgrade: WebSocket\r\nConnection: UPGRADE"), "/mqtt", "dGhlIHNhbXBsZSBub25jZQ==", "mqtt"},
		{"spaces and tabs around values", edit(t, "Sec-WebSocket-Protocol: mqtt", "Sec-WebSocket-Protocol:\t  mqtt \t"), "/mqtt", "dGhlIHNhbXBsZSBub25jZQ==", "mqtt"},
		{"no space after colon", edit(t, "Connection: Upgrade", "Connection:Upgrade"), "/mqtt", "dGhlIHNhbXBsZSBub25jZQ==", "mqtt"},
		{"upgrade among other protocols", edit(t, "Upgrade: websocket", "Upgrade: h2c, websocket"), "/mqtt", "dGhlIHNhbXBsZSBub25jZQ==", "mqtt"},
		{"connection split over lines", edit(t, "Connection: Upgrade", "Connection: keep-alive\r\nConnection: upgrade"), "/mqtt", "dGhlIHNhbXBsZSBub25jZQ==", "mqtt"},
		{"mqtt after others", edit(t, "Sec-WebSocket-Protocol: mqtt", "Sec-WebSocket-Protocol: wamp.2.json,mqtt , mqttv3.1"), "/mqtt", "dGhlIHNhbXBsZSBub25jZQ==", "mqtt"},
		// "mqtt" wherever it is offered [MQTT-6.0.0-4]; mqttv3.1 alone.
		{"mqttv3.1 first", edit(t, "Sec-WebSocket-Protocol: mqtt", "Sec-WebSocket-Protocol: mqttv3.1,mqtt"), "/mqtt", "dGhlIHNhbXBsZSBub25jZQ==", "mqtt"},
		{"mqttv3.1 alone", edit(t, "Sec-WebSocket-Protocol: mqtt", "Sec-WebSocket-Protocol: wamp, mqttv3.1"), "/mqtt", "dGhlIHNhbXBsZSBub25jZQ==", "mqttv3.1"},
		{"protocols over several lines", edit(t, "Sec-WebSocket-Protocol: mqtt", "Sec-WebSocket-Protocol: wamp\r\nSec-WebSocket-Protocol: mqttv3.1\r\nSec-WebSocket-Protocol: mqtt"), "/mqtt", "dGhlIHNhbXBsZSBub25jZQ==", "mqtt"},
		{"version repeated", edit(t, "Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Version: 13"), "/mqtt", "dGhlIHNhbXBsZSBub25jZQ==", "mqtt"},
		{"empty header value", edit(t, "Host: localhost", "Host: localhost\r\nX-Empty:"), "/mqtt", "dGhlIHNhbXBsZSBub25jZQ==", "mqtt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, n, err := parseUpgrade([]byte(tc.req), tc.path)
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if n != len(tc.req) {
				t.Errorf("n = %d, want %d", n, len(tc.req))
			}
			if req.key != tc.key || req.protocol != tc.proto {
				t.Errorf("got %+v, want key %q protocol %q", req, tc.key, tc.proto)
			}
		})
	}
}

func TestParseUpgradeRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, req string
		status    int
	}{
		{"POST", edit(t, "GET ", "POST "), 400},
		{"lower-case get", edit(t, "GET ", "get "), 400},
		{"HTTP/1.0", edit(t, "HTTP/1.1", "HTTP/1.0"), 400},
		{"HTTP/0.9 style", edit(t, " HTTP/1.1\r\n", "\r\n"), 400},
		{"bad version text", edit(t, "HTTP/1.1", "HTTP/1.x"), 400},
		{"two spaces", edit(t, "GET /mqtt", "GET  /mqtt"), 400},
		{"trailing space", edit(t, "HTTP/1.1\r\n", "HTTP/1.1 \r\n"), 400},
		{"wrong path", edit(t, "GET /mqtt ", "GET /ws "), 404},
		{"path prefix", edit(t, "GET /mqtt ", "GET /mqtt/x "), 404},
		{"path with slash", edit(t, "GET /mqtt ", "GET /mqtt/ "), 404},
		{"asterisk", edit(t, "GET /mqtt ", "GET * "), 404},
		{"space before colon", edit(t, "Host: localhost", "Host : localhost"), 400},
		{"folded line", edit(t, "Host: localhost", "Host: local\r\n host"), 400},
		{"no colon", edit(t, "Host: localhost", "Host localhost"), 400},
		{"bad line after the protocol", edit(t, "Sec-WebSocket-Protocol: mqtt\r\n", "Sec-WebSocket-Protocol: mqtt\r\n0\r\n"), 400},
		{"empty name", edit(t, "Host: localhost", ": localhost"), 400},
		{"control in value", edit(t, "Host: localhost", "Host: local\x00host"), 400},
		{"bare CR in value", edit(t, "Host: localhost", "Host: local\rhost"), 400},
		{"no Upgrade", edit(t, "Upgrade: websocket\r\n", ""), 400},
		{"Upgrade h2c", edit(t, "Upgrade: websocket", "Upgrade: h2c"), 400},
		{"Upgrade websockets", edit(t, "Upgrade: websocket", "Upgrade: websockets"), 400},
		{"no Connection", edit(t, "Connection: Upgrade\r\n", ""), 400},
		{"Connection keep-alive", edit(t, "Connection: Upgrade", "Connection: keep-alive"), 400},
		{"Connection upgraded", edit(t, "Connection: Upgrade", "Connection: upgraded"), 400},
		{"no version", edit(t, "Sec-WebSocket-Version: 13\r\n", ""), 426},
		{"version 8", edit(t, "Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8"), 426},
		{"version list", edit(t, "Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 13, 8"), 426},
		{"version 13 then 8", edit(t, "Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Version: 8"), 426},
		{"no key", edit(t, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", ""), 400},
		{"empty key", edit(t, "dGhlIHNhbXBsZSBub25jZQ==", ""), 400},
		{"key of 15 bytes", edit(t, "dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25j"), 400},
		{"key of 17 bytes", edit(t, "dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZQA="), 400},
		{"key not base64", edit(t, "dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZQ!="), 400},
		{"key twice", edit(t, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="), 400},
		{"no protocol", edit(t, "Sec-WebSocket-Protocol: mqtt\r\n", ""), 400},
		{"other protocols", edit(t, "Sec-WebSocket-Protocol: mqtt", "Sec-WebSocket-Protocol: wamp, mqtt5"), 400},
		{"protocol in upper case", edit(t, "Sec-WebSocket-Protocol: mqtt", "Sec-WebSocket-Protocol: MQTT"), 400},
		{"empty protocol", edit(t, "Sec-WebSocket-Protocol: mqtt", "Sec-WebSocket-Protocol:"), 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, n, err := parseUpgrade([]byte(tc.req), "/mqtt")
			if err == nil {
				t.Fatalf("accepted (n %d, %+v)", n, req)
			}
			if err.status != tc.status || n != 0 || req != (upgradeRequest{}) {
				t.Errorf("n %d, %+v, %v; want status %d", n, req, err, tc.status)
			}
			if err.Error() == "" || !strings.Contains(err.Error(), err.reason) {
				t.Errorf("Error() = %q", err.Error())
			}
		})
	}
}

// TestParseUpgradeRefusalOrder checks which fault is reported when a
// request has several: the one found first in the documented order.
func TestParseUpgradeRefusalOrder(t *testing.T) {
	noUpgrade := strings.Replace(curlUpgrade, "Upgrade: websocket\r\n", "", 1)
	for _, tc := range []struct {
		req    string
		status int
	}{
		{strings.Replace(noUpgrade, "/mqtt", "/ws", 1), 404},
		{strings.Replace(noUpgrade, "HTTP/1.1", "HTTP/1.0", 1), 400},
		{strings.Replace(noUpgrade, "Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8", 1), 400},
		{strings.Replace(curlUpgrade, "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "", 1), 426},
	} {
		if _, _, err := parseUpgrade([]byte(tc.req), "/mqtt"); err == nil || err.status != tc.status {
			t.Errorf("%q: %v, want status %d", tc.req, err, tc.status)
		}
	}
}

// TestParseUpgradeSplit feeds a request and the frame bytes after it a byte
// at a time, the worst a network can do: nothing is decided until the
// blank line, and then n stops there exactly.
func TestParseUpgradeSplit(t *testing.T) {
	// The frame bytes hold a CRLF CRLF of their own: only the first one
	// ends the request.
	frames := clientFrame(0x80|wsBinary, [4]byte{1, 2, 3, 4}, []byte{0x10, 0x0c, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60}, -1)
	frames = append(frames, "\r\n\r\nGET / HTTP/1.1\r\n\r\n"...)
	for _, r := range []string{chromeUpgrade, firefoxUpgrade, curlUpgrade} {
		b := append([]byte(r), frames...)
		for k := 0; k <= len(b); k++ {
			req, n, err := parseUpgrade(b[:k], "/mqtt")
			if err != nil {
				t.Fatalf("%d of %d bytes: %v", k, len(r), err)
			}
			if k < len(r) {
				if n != 0 || req != (upgradeRequest{}) {
					t.Fatalf("%d of %d bytes: n %d, %+v", k, len(r), n, req)
				}
				continue
			}
			if n != len(r) || req.protocol == "" {
				t.Fatalf("%d bytes (request %d): n %d, %+v", k, len(r), n, req)
			}
		}
	}
}

// TestParseUpgradeEarlyRefusal: what cannot become a GET request, or uses
// bare LF line ends, is refused without waiting for more.
func TestParseUpgradeEarlyRefusal(t *testing.T) {
	for _, tc := range []struct {
		b      string
		status int // 0: undecided
	}{
		{"", 0},
		{"G", 0},
		{"GET", 0},
		{"GET /mqtt HTTP/1.1\r", 0},
		{"\x10", 400},                     // MQTT CONNECT on the WebSocket port
		{"\x16\x03\x01\x02\x00\x01", 400}, // a TLS ClientHello
		{"GEt", 400},
		{"GETX", 400},
		{"PUT /mqtt", 400},
		{"GET /mqtt HTTP/1.1\n", 400},
		{"GET /mqtt HTTP/1.1\r\nHost: x\n", 400},
		{"\r\n\r\n", 400},
	} {
		req, n, err := parseUpgrade([]byte(tc.b), "/mqtt")
		switch {
		case tc.status == 0 && (err != nil || n != 0 || req != upgradeRequest{}):
			t.Errorf("%q: n %d, %v; want undecided", tc.b, n, err)
		case tc.status != 0 && (err == nil || err.status != tc.status || n != 0):
			t.Errorf("%q: n %d, %v; want %d", tc.b, n, err, tc.status)
		}
	}
}

func TestParseUpgradeTooLarge(t *testing.T) {
	// Pad curlUpgrade with a header so that it is exactly the limit long:
	// still accepted; one byte more and it is refused.
	pad := func(total int) string {
		short := len(curlUpgrade) + len("X-Pad: \r\n")
		return edit(t, "Host: localhost\r\n", "Host: localhost\r\nX-Pad: "+strings.Repeat("a", total-short)+"\r\n")
	}
	exact := pad(maxUpgradeRequest)
	if len(exact) != maxUpgradeRequest {
		t.Fatalf("padded to %d", len(exact))
	}
	if _, n, err := parseUpgrade([]byte(exact+"more"), "/mqtt"); err != nil || n != maxUpgradeRequest {
		t.Errorf("request of exactly %d bytes: n %d, %v", maxUpgradeRequest, n, err)
	}
	over := []byte(pad(maxUpgradeRequest + 1))
	for _, k := range []int{maxUpgradeRequest - 1, maxUpgradeRequest, len(over)} {
		_, n, err := parseUpgrade(over[:k], "/mqtt")
		switch {
		case k < maxUpgradeRequest && (err != nil || n != 0):
			t.Errorf("%d bytes: n %d, %v; want undecided", k, n, err)
		case k >= maxUpgradeRequest && (err == nil || err.status != 431):
			t.Errorf("%d bytes: n %d, %v; want 431", k, n, err)
		}
	}
}

func TestUpgradeAcceptRFCExample(t *testing.T) {
	// RFC 6455 section 1.3: SHA-1 b3 7a 4f 2c c0 62 4f 16 90 f6 46 06 cf
	// 38 59 45 b2 be c4 ea, in base64.
	got := string(appendAccept(nil, "dGhlIHNhbXBsZSBub25jZQ=="))
	if got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Errorf("accept = %q", got)
	}
}

func TestAppendUpgradeResponse(t *testing.T) {
	req, _, err := parseUpgrade([]byte(chromeUpgrade), "/mqtt")
	if err != nil {
		t.Fatal(err)
	}
	got := string(appendUpgradeResponse([]byte("prefix"), req))
	want := "prefix" +
		"HTTP/1.1 101 Switching Protocols\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" +
		"Sec-WebSocket-Protocol: mqtt\r\n" +
		"\r\n"
	if got != want {
		t.Errorf("response:\n%q\nwant\n%q", got, want)
	}
	req.protocol = "mqttv3.1"
	if got := string(appendUpgradeResponse(nil, req)); !strings.Contains(got, "\r\nSec-WebSocket-Protocol: mqttv3.1\r\n\r\n") {
		t.Errorf("response %q", got)
	}
}

func TestUpgradeHTTPError(t *testing.T) {
	for _, tc := range []struct {
		e    *httpError
		want string
	}{
		{errUpgradeKey, "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"},
		{errUpgradePath, "HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"},
		{errUpgradeWSVersion, "HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"},
		{errUpgradeTooLarge, "HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"},
		{&httpError{503, "over the connection budget"}, "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"},
		{&httpError{599, "odd\r\nX: injected"}, "HTTP/1.1 599 Error\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"},
	} {
		if got := string(appendHTTPError([]byte("x"), tc.e)); got != "x"+tc.want {
			t.Errorf("%v:\n%q\nwant\n%q", tc.e, got, "x"+tc.want)
		}
	}
}

func TestParseUpgradeAllocations(t *testing.T) {
	b := []byte(chromeUpgrade)
	// One allocation: the key kept as a string.
	if a := testing.AllocsPerRun(100, func() { _, _, _ = parseUpgrade(b, "/mqtt") }); a > 1 {
		t.Errorf("parseUpgrade allocates %v times", a)
	}
	partial := b[:len(b)-1]
	if a := testing.AllocsPerRun(100, func() { _, _, _ = parseUpgrade(partial, "/mqtt") }); a != 0 {
		t.Errorf("parseUpgrade of a partial request allocates %v times", a)
	}
}

func FuzzParseUpgrade(f *testing.F) {
	for _, r := range []string{chromeUpgrade, firefoxUpgrade, curlUpgrade,
		edit(f, "GET /mqtt ", "GET ws://h/mqtt?x "),
		edit(f, "Sec-WebSocket-Protocol: mqtt", "Sec-WebSocket-Protocol: a,mqttv3.1\r\nSec-WebSocket-Protocol: mqtt"),
		edit(f, "Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8"),
		"GET /mqtt HTTP/1.1\n\n", "\x10\x0c\x00\x04MQTT", "",
		// Found by fuzzing: a refusal after the protocol was chosen.
		"GET /mqtt HTTP/1.1\r\nSeC-WeBSoCket-ProtoCol:mqtt\r\n0\r\n\r\n"} {
		f.Add([]byte(r), uint16(len(r)))
		f.Add(append([]byte(r), "\x82\x80abcd"...), uint16(len(r)/2))
	}
	f.Fuzz(func(t *testing.T, b []byte, cut uint16) {
		req, n, err := parseUpgrade(b, "/mqtt")
		if n < 0 || n > len(b) || n > maxUpgradeRequest {
			t.Fatalf("n = %d of %d", n, len(b))
		}
		if err != nil {
			if n != 0 || req != (upgradeRequest{}) {
				t.Fatalf("refused (%v) with n %d, %+v", err, n, req)
			}
			switch err.status {
			case 400, 404, 426, 431:
			default:
				t.Fatalf("status %d", err.status)
			}
			// A refusal stands whatever follows.
			if _, _, err2 := parseUpgrade(append(bytes.Clone(b), "\r\n\r\n"...), "/mqtt"); err2 == nil {
				t.Fatalf("refused (%v), then accepted with more bytes", err)
			}
			_ = appendHTTPError(nil, err)
			return
		}
		if n == 0 {
			return
		}
		if req.protocol != "mqtt" && req.protocol != "mqttv3.1" || !validKey([]byte(req.key)) {
			t.Fatalf("accepted %+v", req)
		}
		// The request alone says the same, and any shorter prefix of it
		// says nothing yet.
		if req2, n2, err2 := parseUpgrade(b[:n], "/mqtt"); req2 != req || n2 != n || err2 != nil {
			t.Fatalf("b[:n]: %+v %d %v, b: %+v %d", req2, n2, err2, req, n)
		}
		k := int(cut) % n
		if req2, n2, err2 := parseUpgrade(b[:k], "/mqtt"); n2 != 0 || err2 != nil || req2 != (upgradeRequest{}) {
			t.Fatalf("prefix of %d of %d bytes: %+v %d %v", k, n, req2, n2, err2)
		}
		resp := appendUpgradeResponse(nil, req)
		if !bytes.HasSuffix(resp, []byte("\r\n\r\n")) || bytes.Count(resp, crlfcrlf) != 1 {
			t.Fatalf("response %q", resp)
		}
	})
}

// The Origin header's value is found in the request without a copy.
func TestParseUpgradeOrigin(t *testing.T) {
	req, n, err := parseUpgrade([]byte(firefoxUpgrade), "/mqtt")
	if err != nil || n == 0 {
		t.Fatalf("n %d, err %v", n, err)
	}
	if got := string(req.origin([]byte(firefoxUpgrade))); got != "http://localhost:3000" {
		t.Fatalf("origin %q", got)
	}
	b := []byte(curlUpgrade)
	req, _, _ = parseUpgrade(b, "/mqtt")
	if o := req.origin(b); len(o) != 0 {
		t.Fatalf("origin %q in a request without one", o)
	}
}
