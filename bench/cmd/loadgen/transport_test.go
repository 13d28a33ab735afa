package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"flag"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
)

func TestParseEndpoint(t *testing.T) {
	tests := []struct {
		addr string
		want endpoint
		err  string
	}{
		{"127.0.0.1:1884", endpoint{transportTCP, "127.0.0.1:1884", ""}, ""},
		{"tcp://127.0.0.1:1884", endpoint{transportTCP, "127.0.0.1:1884", ""}, ""},
		{"tls://[::1]:8883", endpoint{transportTLS, "[::1]:8883", ""}, ""},
		{"ws://127.0.0.1:8080", endpoint{transportWS, "127.0.0.1:8080", "/mqtt"}, ""},
		{"ws://127.0.0.1:8080/", endpoint{transportWS, "127.0.0.1:8080", "/"}, ""},
		{"wss://127.0.0.1:8443/a/b", endpoint{transportWSS, "127.0.0.1:8443", "/a/b"}, ""},
		{"tls://127.0.0.1:8883/x", endpoint{}, "no path"},
		{"ws://127.0.0.1:8080/a?b", endpoint{}, "plain path"},
		{"quic://127.0.0.1:1884", endpoint{}, "not tcp, tls, ws or wss"},
		{"ws://localhost:8080/mqtt", endpoint{}, "loopback IP literal"},
		{"tls://10.0.0.1:8883", endpoint{}, "non-loopback"},
		{"wss://127.0.0.1/mqtt", endpoint{}, "missing port"},
	}
	for _, tt := range tests {
		got, err := parseEndpoint(tt.addr)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("parseEndpoint(%q) = %+v, %v; want an error saying %q", tt.addr, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseEndpoint(%q) = %+v, %v; want %+v", tt.addr, got, err, tt.want)
		}
	}
}

// fakeBroker accepts connections on ln (already TLS if it should be),
// upgrades WebSocket ones when ws is set, answers the CONNECT with a
// CONNACK and echoes whatever else comes. It records the supported groups
// of every TLS ClientHello it sees.
type fakeBroker struct {
	mu     sync.Mutex
	groups [][]tls.CurveID
}

func (f *fakeBroker) serverTLS(t *testing.T, p *loomtest.PKI) *tls.Config {
	t.Helper()
	cfg, err := p.ServerTLS(false)
	if err != nil {
		t.Fatal(err)
	}
	cfg.GetConfigForClient = func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		f.mu.Lock()
		f.groups = append(f.groups, slices.Clone(h.SupportedCurves))
		f.mu.Unlock()
		return nil, nil
	}
	return cfg
}

func (f *fakeBroker) serve(t *testing.T, ln net.Listener, ws bool) {
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				var stream io.ReadWriter = c
				if ws {
					// The client end drives the server end here: the
					// framing is symmetric but for the mask, which a
					// server's reader must remove.
					s, err := acceptWS(c)
					if err != nil {
						t.Errorf("fake broker: %v", err)
						return
					}
					stream = s
				}
				mc := loomtest.NewConn(connOf{stream, c}, proto.V311)
				if _, err := mc.Frame(time.Now().Add(5 * time.Second)); err != nil {
					t.Errorf("fake broker: no CONNECT: %v", err)
					return
				}
				mc.Send(&proto.Connack{})
				io.Copy(stream, stream) // echo until the client leaves
			}()
		}
	}()
}

// connOf lets a byte stream stand for a net.Conn.
type connOf struct {
	io.ReadWriter
	net.Conn
}

func (c connOf) Read(p []byte) (int, error)  { return c.ReadWriter.Read(p) }
func (c connOf) Write(p []byte) (int, error) { return c.ReadWriter.Write(p) }

// serverWS is the server end of a WebSocket connection, for the fake
// broker: it unmasks client frames and sends unmasked ones.
type serverWS struct {
	c    net.Conn
	r    *bufio.Reader
	left []byte
}

func acceptWS(c net.Conn) (*serverWS, error) {
	r := bufio.NewReader(c)
	req, err := readUpgrade(r)
	if err != nil {
		return nil, err
	}
	_, err = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Accept: "+wsAccept(req)+"\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n")
	return &serverWS{c: c, r: r}, err
}

func readUpgrade(r *bufio.Reader) (key string, err error) {
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return "", err
		}
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && strings.EqualFold(k, "Sec-WebSocket-Key") {
			key = strings.TrimSpace(v)
		}
		if line == "\r\n" {
			return key, nil
		}
	}
}

func (s *serverWS) Read(p []byte) (int, error) {
	for len(s.left) == 0 {
		op, payload, err := readClientFrame(s.r)
		if err != nil {
			return 0, err
		}
		if op == wsClose {
			return 0, io.EOF
		}
		s.left = payload
	}
	n := copy(p, s.left)
	s.left = s.left[n:]
	return n, nil
}

func (s *serverWS) Write(p []byte) (int, error) {
	_, err := s.c.Write(serverFrame(true, wsBinary, p))
	return len(p), err
}

// dial connects over each transport to a fake broker, sends CONNECT, gets
// the CONNACK, and has a PUBLISH echoed back through the same framing.
func TestDialTransports(t *testing.T) {
	p := loomtest.NewPKI(t)
	for _, tr := range []string{transportTLS, transportWS, transportWSS} {
		for _, goCurves := range []bool{false, true} {
			if tr == transportWS && goCurves {
				continue
			}
			t.Run(tr+map[bool]string{false: "", true: "-go-curves"}[goCurves], func(t *testing.T) {
				var fb fakeBroker
				ln := listenLoopback(t)
				if tr != transportWS {
					ln = tls.NewListener(ln, fb.serverTLS(t, p))
				}
				fb.serve(t, ln, tr != transportTCP && tr != transportTLS)
				addr := tr + "://" + ln.Addr().String()
				args := []string{"-addr", addr}
				if tr != transportWS {
					args = append(args, "-ca", p.CAFile)
				}
				if goCurves {
					args = append(args, "-tls-go-curves")
				}
				var c common
				fs := flag.NewFlagSet("test", flag.ContinueOnError)
				c.register(fs)
				if err := c.parse(fs, args); err != nil {
					t.Fatal(err)
				}
				deadline := time.Now().Add(5 * time.Second)
				m, err := dialMQTT(context.Background(), addr, proto.V311, "t", 60, cleanSession, deadline)
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				pub := proto.Publish{Topic: []byte("a/b"), Payload: []byte("payload")}
				if err := m.Send(&pub); err != nil {
					t.Fatal(err)
				}
				got, err := m.Next(deadline)
				if err != nil {
					t.Fatal(err)
				}
				if gp, ok := got.(*proto.Publish); !ok || string(gp.Payload) != "payload" {
					t.Fatalf("echo: %#v", got)
				}
				if tr == transportWS {
					return
				}
				fb.mu.Lock()
				defer fb.mu.Unlock()
				if len(fb.groups) != 1 {
					t.Fatalf("%d ClientHellos seen", len(fb.groups))
				}
				g := fb.groups[0]
				if !goCurves && !slices.Equal(g, []tls.CurveID{tls.X25519}) {
					t.Errorf("groups offered %v, want X25519 alone", g)
				}
				if goCurves && !slices.Contains(g, tls.X25519MLKEM768) {
					t.Errorf("groups offered %v, want Go's defaults with X25519MLKEM768", g)
				}
			})
		}
	}
	// The transports were chosen per test; leave no TLS configuration
	// behind for other tests.
	clientTLS = nil
}

func TestTLSFlags(t *testing.T) {
	p := loomtest.NewPKI(t)
	if _, err := (&tlsFlags{}).config("127.0.0.1"); err == nil || !strings.Contains(err.Error(), "-ca") {
		t.Errorf("no -ca: %v", err)
	}
	if _, err := (&tlsFlags{caFile: p.KeyFile}).config("127.0.0.1"); err == nil {
		t.Error("a key file taken for a CA")
	}
	c, err := (&tlsFlags{caFile: p.CAFile}).config("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.CurvePreferences, []tls.CurveID{tls.X25519}) || c.ServerName != "127.0.0.1" || c.MinVersion != tls.VersionTLS12 {
		t.Errorf("config %+v", c)
	}
	if c, _ := (&tlsFlags{caFile: p.CAFile, goCurves: true}).config("::1"); c.CurvePreferences != nil {
		t.Errorf("-tls-go-curves kept %v", c.CurvePreferences)
	}
	// -ca on a transport without TLS is a mistake worth saying.
	var cm common
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	cm.register(fs)
	if err := cm.parse(fs, []string{"-addr", "ws://127.0.0.1:8080", "-ca", p.CAFile}); err == nil || !strings.Contains(err.Error(), "apply to tls://") {
		t.Errorf("-ca with ws://: %v", err)
	}
}
