package transport_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/loom-mqtt/loom/loomtest"
)

// startBroker (development harness) runs Debian's Mosquitto with a
// listener of each kind; Debian's build has no WebSocket listener, so ws
// and wss are a gorilla/websocket bridge in front of its TCP listener.
func startBroker(t testing.TB, want ...string) *broker {
	t.Helper()
	if _, err := exec.LookPath("mosquitto"); err != nil {
		t.Skip("mosquitto not installed")
	}
	dir := t.TempDir()
	p, withPKI := newPKI(t)
	b := &broker{pki: p, eps: map[string]*endpoint{}}
	var conf strings.Builder
	conf.WriteString("per_listener_settings false\nuser root\nallow_anonymous true\npersistence false\nlog_dest stderr\nlog_type all\n")
	tcpPort := freePort(t)
	fmt.Fprintf(&conf, "listener %d 127.0.0.1\n", tcpPort)
	for _, k := range want {
		e := &endpoint{kind: k, host: "127.0.0.1"}
		withPKI(e)
		switch k {
		case kTCP:
			e.port = tcpPort
		case kTLS, kMTLS:
			e.port = freePort(t)
			fmt.Fprintf(&conf, "listener %d 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\n", e.port, p.CAFile, p.CertFile, p.KeyFile)
			if k == kMTLS {
				conf.WriteString("require_certificate true\n")
			}
		case kUnix:
			e.sock = filepath.Join(sockDir(t), "m.sock")
			fmt.Fprintf(&conf, "listener 0 %s\n", e.sock)
		case kWS, kWSS:
			e.port = wsBridge(t, k == kWSS, p, fmt.Sprintf("127.0.0.1:%d", tcpPort))
		}
		b.eps[k] = e
	}
	cf := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(cf, []byte(conf.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "mosquitto", "-c", cf)
	logf, _ := os.Create(filepath.Join(dir, "mosquitto.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			out, _ := os.ReadFile(logf.Name())
			t.Logf("mosquitto log:\n%s", out)
		}
	})
	loomtest.Eventually(t, "mosquitto to listen", func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", tcpPort))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return b
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func wsBridge(t testing.TB, secure bool, p *loomtest.PKI, to string) int {
	up := websocket.Upgrader{Subprotocols: []string{"mqtt"}, CheckOrigin: func(*http.Request) bool { return true }}
	mux := http.NewServeMux()
	mux.HandleFunc(wsPath, func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		tc, err := net.Dial("tcp", to)
		if err != nil {
			return
		}
		defer tc.Close()
		go func() {
			buf := make([]byte, 64<<10)
			for {
				n, err := tc.Read(buf)
				if n > 0 {
					if ws.WriteMessage(websocket.BinaryMessage, buf[:n]) != nil {
						return
					}
				}
				if err != nil {
					ws.Close()
					return
				}
			}
		}()
		for {
			_, r, err := ws.NextReader()
			if err != nil {
				return
			}
			if _, err := io.Copy(tc, r); err != nil {
				return
			}
		}
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	if secure {
		c, err := p.ServerTLS(false)
		if err != nil {
			t.Fatal(err)
		}
		l = tls.NewListener(l, c)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().(*net.TCPAddr).Port
}
