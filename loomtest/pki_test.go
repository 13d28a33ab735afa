package loomtest

import (
	"crypto/tls"
	"testing"
)

// A client trusting the PKI's CA completes a handshake with its server
// certificate, and the server sees the client certificate's common name.
func TestPKIHandshake(t *testing.T) {
	p := NewPKI(t)
	srvConf, err := p.ServerTLS(true)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srvConf)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		if err := tc.Handshake(); err != nil {
			got <- err.Error()
			return
		}
		got <- tc.ConnectionState().PeerCertificates[0].Subject.CommonName
	}()
	_, _, cert := p.MustClientCert(t, "dev1", "device-1")
	c, err := tls.Dial("tcp", ln.Addr().String(), p.ClientTLS(cert))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if cn := <-got; cn != "device-1" {
		t.Fatalf("server saw %q, want device-1", cn)
	}
}
