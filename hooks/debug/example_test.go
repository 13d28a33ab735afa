package debug_test

import (
	"log/slog"
	"os"

	"github.com/loom-mqtt/loom/hooks/debug"
	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/session"
)

// The debug hook writing to standard output. The broker calls
// OnPacketRead for each packet a connected client sends; the call here
// stands in for one.
func Example() {
	b := session.NewBroker(session.Options{SysInterval: -1})
	text := slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{} // a fixed output for the example
			}
			return a
		},
	})
	h := new(debug.Hook)
	if err := b.AddHook(h, &debug.Options{Logger: slog.New(text), ShowPayload: true, PreviewBytes: 16}); err != nil {
		panic(err)
	}

	h.OnPacketRead(session.ClientInfo{ID: "sensor-1"},
		&proto.Publish{Topic: []byte("sensors/temp"), Payload: []byte("21.5")})
	b.Close() // stops the hook, which writes what is queued

	// Output:
	// level=DEBUG msg="packet in" client=sensor-1 type=PUBLISH topic=sensors/temp qos=0 retain=false payload_bytes=4 payload=21.5
}
