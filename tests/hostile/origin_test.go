package hostile_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
)

// withOrigin is an upgrade request for /mqtt carrying an Origin header.
func withOrigin(origin string) []byte {
	req := string(upgradeRequest("/mqtt", wsKey(), "mqtt"))
	return []byte(strings.Replace(req, "Host: localhost\r\n", "Host: localhost\r\nOrigin: "+origin+"\r\n", 1))
}

// A WebSocket listener with allowed origins lets pages of those origins
// connect and refuses others, and requests with no Origin, with 403:
// a page of another site, open in a browser that can reach the broker,
// cannot use the browser's network position (cross-site WebSocket
// hijacking). Without the option every origin is taken.
func TestWebSocketOrigins(t *testing.T) {
	srv, _ := loomtest.Start(t, loom.Options{Listeners: []loom.Listener{
		{Address: "ws://127.0.0.1:0/mqtt", Origins: []string{"https://app.example.com"}},
		{Address: "ws://127.0.0.1:0/mqtt"},
	}})
	guarded, open := srv.Addrs()[0].String(), srv.Addrs()[1].String()

	for _, bad := range []string{"https://evil.example", "null", "https://app.example.com.evil.example"} {
		refusedHTTP(t, guarded, withOrigin(bad), http.StatusForbidden)
	}
	refusedHTTP(t, guarded, upgradeRequest("/mqtt", wsKey(), "mqtt"), http.StatusForbidden)

	for _, addr := range []string{guarded, open} {
		nc := dialRaw(t, addr)
		_, resp := httpExchange(t, nc, withOrigin("https://app.example.com"))
		if resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("%s: status %s for an allowed origin", addr, resp.Status)
		}
	}
	// The open listener takes any origin and none, and serves MQTT.
	c := loomtest.Over(t, dialWS(t, open), proto.V5)
	c.Connect("no-origin", nil)
	if srv.Stats().WebSocketRefused != 4 {
		t.Fatalf("WebSocketRefused = %d, want 4", srv.Stats().WebSocketRefused)
	}
}
