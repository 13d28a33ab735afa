package loom_test

import (
	"context"
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
)

// dialTLS is a raw MQTT client over TLS to addr.
func dialTLS(t *testing.T, addr string, conf *tls.Config) (*loomtest.Client, error) {
	t.Helper()
	c, err := tls.Dial("tcp", addr, conf)
	if err != nil {
		return nil, err
	}
	return loomtest.Over(t, c, proto.V5), nil
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(to, b, 0o600))
}

// ReloadTLS swaps a listener's certificate for the handshakes that follow;
// a connection made before keeps working.
func TestReloadTLS(t *testing.T) {
	old, renewed := loomtest.NewPKI(t), loomtest.NewPKI(t)
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	copyFile(t, old.CertFile, cert)
	copyFile(t, old.KeyFile, key)
	srv, addr := loomtest.Start(t, loom.Options{Listeners: []loom.Listener{
		{ID: "secure", Address: "tls://127.0.0.1:0", TLS: &loom.TLS{CertFile: cert, KeyFile: key}}}})

	before, err := dialTLS(t, addr, old.ClientTLS())
	require.NoError(t, err)
	before.Connect("before", nil)
	before.Subscribe("t", 1)

	copyFile(t, renewed.CertFile, cert)
	copyFile(t, renewed.KeyFile, key)
	require.NoError(t, srv.ReloadTLS("secure"))
	require.Error(t, srv.ReloadTLS("nonesuch"))

	_, err = dialTLS(t, addr, old.ClientTLS())
	require.Error(t, err, "the old certificate is still served")
	after, err := dialTLS(t, addr, renewed.ClientTLS())
	require.NoError(t, err)
	after.Connect("after", nil)
	after.Publish("t", "across the reload", 1, 1)
	p := before.ReadPublish()
	require.Equal(t, "across the reload", string(p.Payload))

	// A file that cannot be read leaves the listener as it was.
	require.NoError(t, os.WriteFile(cert, []byte("not PEM"), 0o600))
	require.Error(t, srv.ReloadTLS(""))
	again, err := dialTLS(t, addr, renewed.ClientTLS())
	require.NoError(t, err)
	again.Connect("again", nil)
}

// identity records the username each client is known by, and lets a
// client publish only under its own name. It refuses every password: a
// client it lets in was authenticated by something else.
type identity struct {
	loom.HookBase
	mu    sync.Mutex
	users []string
}

func (*identity) ID() string { return "identity" }
func (*identity) Provides(e loom.Event) bool {
	return e == loom.OnConnectAuthenticate || e == loom.OnACLCheck || e == loom.OnSessionEstablished
}
func (*identity) OnConnectAuthenticate(loom.ClientInfo, *proto.Connect, loom.Answer) loom.Verdict {
	return loom.Deny
}
func (*identity) OnACLCheck(cl loom.ClientInfo, topic string, write bool, _ loom.Answer) loom.Verdict {
	if strings.HasPrefix(topic, cl.Username+"/") {
		return loom.Allow
	}
	return loom.Deny
}
func (h *identity) OnSessionEstablished(cl loom.ClientInfo, _ *proto.Connect) {
	h.mu.Lock()
	h.users = append(h.users, cl.Username)
	h.mu.Unlock()
}

// With TLS.Username, the client certificate's CN (or SAN) is the username,
// whatever CONNECT says; the certificate authenticates the client and ACLs
// apply to that name.
func TestCertificateUsername(t *testing.T) {
	p := loomtest.NewPKI(t)
	for _, src := range []string{loom.UsernameFromCN, loom.UsernameFromSAN} {
		t.Run(src, func(t *testing.T) {
			h := &identity{}
			_, addr := loomtest.Start(t, loom.Options{Listeners: []loom.Listener{{Address: "tls://127.0.0.1:0",
				TLS: &loom.TLS{CertFile: p.CertFile, KeyFile: p.KeyFile, ClientCAFile: p.CAFile, Username: src}}}}, h)
			_, _, cert := p.MustClientCert(t, "dev-"+src, "device-cn", "device-san.example")
			c, err := dialTLS(t, addr, p.ClientTLS(cert))
			require.NoError(t, err)
			ack := c.Connect("d1", func(cp *proto.Connect) {
				cp.Username, cp.UsernameFlag = []byte("someone-else"), true
				cp.Password, cp.PasswordFlag = []byte("wrong"), true
			})
			require.Equal(t, proto.Success, ack.Reason, "the certificate authenticates")
			want := map[string]string{loom.UsernameFromCN: "device-cn", loom.UsernameFromSAN: "device-san.example"}[src]
			c.Publish(want+"/temp", "21", 1, 1) // reads a successful PUBACK
			c.Send(&proto.Publish{Topic: []byte("someone-else/temp"), Payload: []byte("21"), QoS: 1, PacketID: 2})
			require.Equal(t, proto.NotAuthorized, c.ReadAck(proto.PUBACK).Reason)
			h.mu.Lock()
			require.Equal(t, []string{want}, h.users)
			h.mu.Unlock()

			// Without a certificate there is no handshake at all.
			if nc, err := tls.Dial("tcp", addr, p.ClientTLS()); err == nil {
				_, err = nc.Read(make([]byte, 1)) // TLS 1.3 reports the refusal on the first read
				require.Error(t, err)
				nc.Close()
			}
		})
	}
}

// A listener off loopback that requires client certificates authenticates
// by itself: the broker starts on it without an authentication hook. The
// same listener without a client CA is refused.
func TestExposedListenerWithClientCertificates(t *testing.T) {
	p := loomtest.NewPKI(t)
	start := func(tl *loom.TLS) error {
		srv, err := loom.New(loom.Options{Listeners: []loom.Listener{{Address: "tls://0.0.0.0:0", TLS: tl}}, Logger: loomtest.Quiet})
		require.NoError(t, err)
		defer srv.Close(context.Background())
		return srv.Start()
	}
	require.NoError(t, start(&loom.TLS{CertFile: p.CertFile, KeyFile: p.KeyFile, ClientCAFile: p.CAFile}))
	err := start(&loom.TLS{CertFile: p.CertFile, KeyFile: p.KeyFile})
	require.True(t, errors.Is(err, loom.ErrExposed), "%v", err)
}

// Listener settings the broker cannot serve are refused by New, naming the
// listener.
func TestListenerOptionsRefused(t *testing.T) {
	p := loomtest.NewPKI(t)
	files := &loom.TLS{CertFile: p.CertFile, KeyFile: p.KeyFile}
	for _, l := range []loom.Listener{
		{Address: "tls://127.0.0.1:0"},                 // no TLS
		{Address: "wss://127.0.0.1:0/mqtt"},            // no TLS
		{Address: "tcp://127.0.0.1:0", TLS: files},     // TLS where there is none
		{Address: "ws://127.0.0.1:0/mqtt", TLS: files}, // the same
		{Address: "tls://127.0.0.1:0", TLS: &loom.TLS{CertFile: p.CertFile, KeyFile: p.KeyFile, Username: loom.UsernameFromCN}}, // no client CA
		{Address: "tls://127.0.0.1:0", TLS: &loom.TLS{CertFile: "/nonexistent", KeyFile: p.KeyFile}},
		{Address: "tls://127.0.0.1:0", TLS: &loom.TLS{CertFile: p.CertFile, KeyFile: p.KeyFile, ClientCAFile: p.CertFile + ".missing"}},
		{Address: "sctp://127.0.0.1:0"},
		{Address: "tcp://127.0.0.1:0", Origins: []string{"https://a.example"}}, // origins where there is no WebSocket
	} {
		_, err := loom.New(loom.Options{Listeners: []loom.Listener{l}, Logger: loomtest.Quiet})
		require.Error(t, err, "%+v", l)
		require.Contains(t, err.Error(), l.Address)
	}
}
