package loomtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// PKI is a certificate authority made for one test run, with a server
// certificate for localhost, 127.0.0.1 and ::1, written as PEM files that
// brokers (Loom, Mosquitto, Mochi) and clients (mosquitto_pub, Paho,
// browsers) can read. Keys are ECDSA P-256: quick to make and to sign with.
type PKI struct {
	Dir      string // where the files are
	CAFile   string // the CA's certificate
	CertFile string // the server's certificate
	KeyFile  string // the server's key
	Pool     *x509.CertPool

	ca    *x509.Certificate
	caKey *ecdsa.PrivateKey
}

// NewPKI makes a PKI in a folder of the test's, or fails the test.
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	p, err := MakePKI(t.TempDir())
	if err != nil {
		t.Fatalf("loomtest: %v", err)
	}
	return p
}

// MakePKI makes a CA and a server certificate in dir (created if missing).
func MakePKI(dir string) (*PKI, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "Loom test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(30 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	p := &PKI{Dir: dir, CAFile: filepath.Join(dir, "ca.pem"), Pool: x509.NewCertPool(), ca: ca, caKey: key}
	p.Pool.AddCert(ca)
	if err := writePEM(p.CAFile, "CERTIFICATE", der); err != nil {
		return nil, err
	}
	p.CertFile, p.KeyFile, _, err = p.issue("server", "localhost",
		[]string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, x509.ExtKeyUsageServerAuth)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// ClientCert issues a client certificate with common name cn and the DNS
// names in sans, writes it as name.pem and name-key.pem in the PKI's
// folder and returns the files and the certificate.
func (p *PKI) ClientCert(name, cn string, sans ...string) (certFile, keyFile string, cert tls.Certificate, err error) {
	return p.issue(name, cn, sans, nil, x509.ExtKeyUsageClientAuth)
}

// MustClientCert is ClientCert failing the test on error.
func (p *PKI) MustClientCert(t testing.TB, name, cn string, sans ...string) (certFile, keyFile string, cert tls.Certificate) {
	t.Helper()
	certFile, keyFile, cert, err := p.ClientCert(name, cn, sans...)
	if err != nil {
		t.Fatalf("loomtest: %v", err)
	}
	return certFile, keyFile, cert
}

// ServerTLS is the server side's configuration: the server certificate,
// and with clientCA, client certificates the CA signed required.
func (p *PKI) ServerTLS(clientCA bool) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(p.CertFile, p.KeyFile)
	if err != nil {
		return nil, err
	}
	c := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if clientCA {
		c.ClientCAs = p.Pool
		c.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return c, nil
}

// ClientTLS is a client's configuration trusting the CA, presenting certs.
func (p *PKI) ClientTLS(certs ...tls.Certificate) *tls.Config {
	return &tls.Config{RootCAs: p.Pool, ServerName: "localhost", Certificates: certs, MinVersion: tls.VersionTLS12}
}

func (p *PKI) issue(name, cn string, dns []string, ips []net.IP, usage x509.ExtKeyUsage) (certFile, keyFile string, cert tls.Certificate, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", cert, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     dns,
		IPAddresses:  ips,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(30 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		return "", "", cert, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", "", cert, err
	}
	certFile = filepath.Join(p.Dir, name+".pem")
	keyFile = filepath.Join(p.Dir, name+"-key.pem")
	if err = writePEM(certFile, "CERTIFICATE", der); err != nil {
		return "", "", cert, err
	}
	if err = writePEM(keyFile, "EC PRIVATE KEY", kder); err != nil {
		return "", "", cert, err
	}
	cert, err = tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return "", "", cert, fmt.Errorf("loomtest: reading back %s: %w", certFile, err)
	}
	return certFile, keyFile, cert, nil
}

func writePEM(file, typ string, der []byte) error {
	return os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	return n
}
