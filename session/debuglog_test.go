package session

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/proto"
)

// lockedBuffer is a log sink the loops and the test share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// At debug level a connect, a refusal and a disconnect each leave a line
// naming the client; at info level none does.
func TestDebugLogOfConnections(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelDebug, slog.LevelInfo} {
		var out lockedBuffer
		log := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: level}))
		h := newHarness(t, Options{Logger: log}, 1)

		c := h.dial(0)
		c.connect(connectPacket(proto.V5, "dev-1", true, 30, 0))
		c.disconnect(proto.Success)
		bad := h.dial(0)
		p := connectPacket(proto.V5, "dev-2", true, 30, 0)
		p.Props.Set(proto.PropAuthMethod)
		p.Props.AuthMethod = []byte("nobody-knows")
		require.Error(t, bad.send(p)) // refused: the CONNACK, then the close
		ps := bad.recv()
		require.NotEmpty(t, ps)
		require.Equal(t, proto.BadAuthenticationMethod, ps[0].(*proto.Connack).Reason)
		h.settle()

		got := out.String()
		lines := []string{`msg="client connected" client=dev-1`, `version=5.0 keepalive=30 session_present=false`,
			`msg="client disconnected" client=dev-1`, `msg="connection refused"`, `reason_code=140`}
		for _, want := range lines {
			if level == slog.LevelDebug {
				require.Contains(t, got, want)
			} else {
				require.False(t, strings.Contains(got, want), "at info: %s", got)
			}
		}
	}
}
