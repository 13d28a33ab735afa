package transport_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/tests/internal/pahotest"
)

// browserDir is the fixture: the page, and mqtt.js once npm ci has run.
const browserDir = "testdata/browser"

// mqttJS is mqtt.js's browser bundle, which npm ci puts in the fixture.
var mqttJS = filepath.Join(browserDir, "node_modules", "mqtt", "dist", "mqtt.min.js")

// browserCase is one connection the page makes, and what it reports.
type browserCase struct {
	Name    string `json:"name"`
	URL     string `json:"url"`
	Version int    `json:"version"`
}

type browserResult struct {
	Name  string   `json:"name"`
	OK    bool     `json:"ok"`
	Error string   `json:"error"`
	Steps []string `json:"steps"`
	Got   []struct {
		Topic   string `json:"topic"`
		Payload string `json:"payload"`
		QoS     int    `json:"qos"`
		Retain  bool   `json:"retain"`
	} `json:"got"`
}

// findChromium is Debian's chromium, or the test is skipped.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, n := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	t.Skip("chromium not installed (apt-get install chromium; scripts/test installs it)")
	return ""
}

// TestBrowser has mqtt.js, in a headless Chromium, connect to the ws and
// wss listeners in MQTT 5 and 3.1.1, subscribe, receive a retained
// message a Go client left, publish, and receive its own message; a Go
// client on the tcp listener sees what the browser published. The page
// posts its results to the test's HTTP server. Chromium trusts the
// broker's certificate by the hash of its public key, and reaches nothing
// but loopback: every other address goes to a proxy on loopback that
// refuses.
func TestBrowser(t *testing.T) {
	chromium := findChromium(t)
	if _, err := os.Stat(mqttJS); err != nil {
		t.Skipf("mqtt.js not installed: run npm ci in tests/transport/%s (scripts/test does): %v", browserDir, err)
	}
	b := startBroker(t, kTCP, kWS, kWSS)
	const topic = "browser"

	watch, _ := connectV5(t, b.ep(kTCP), pahotest.V5Conf{ID: "browser-watch"})
	watch.Sub(t, paho.SubscribeOptions{Topic: topic + "/from-browser/#", QoS: 1})
	goPub, _ := connectV5(t, b.ep(kTCP), pahotest.V5Conf{ID: "browser-go"})
	goPub.Say(t, topic+"/from-go", 1, true, "retained by Go")

	cases := []browserCase{
		{"ws-v5", b.ep(kWS).URL(), 5},
		{"ws-v311", b.ep(kWS).URL(), 4},
		{"wss-v5", b.ep(kWSS).URL(), 5},
		{"wss-v311", b.ep(kWSS).URL(), 4},
	}
	results := runPage(t, chromium, b.pki.CertFile, cases, topic)
	require.Len(t, results, len(cases), "results: %+v", results)
	for i, r := range results {
		c := cases[i]
		require.Equal(t, c.Name, r.Name)
		require.True(t, r.OK, "case %s: %s (steps %v)", c.Name, r.Error, r.Steps)
		// The retained message came first, with RETAIN 1 [MQTT-3.3.1-9]
		// [MQTT-3.3.1-8 v3.1.1].
		require.NotEmpty(t, r.Got)
		require.Equal(t, topic+"/from-go", r.Got[0].Topic)
		require.Equal(t, "retained by Go", r.Got[0].Payload)
		require.True(t, r.Got[0].Retain)
		// The Go client on the tcp listener got what the browser published
		// over WebSocket.
		m := watch.Recv(t)
		require.Equal(t, topic+"/from-browser/"+c.Name, m.Topic)
		require.True(t, strings.HasSuffix(string(m.Payload), " over "+c.Name), "payload %q", m.Payload)
	}
}

// runPage serves the page and mqtt.js, opens it in a headless Chromium
// and returns what the page posted. Chromium is stopped (its process
// group, which this test started) when the page has posted or the wait
// runs out.
func runPage(t *testing.T, chromium, certFile string, cases []browserCase, topic string) []browserResult {
	t.Helper()
	page, err := os.ReadFile(filepath.Join(browserDir, "index.html"))
	require.NoError(t, err)
	js, err := os.ReadFile(mqttJS)
	require.NoError(t, err)
	posted := make(chan []byte, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(page)
	})
	mux.HandleFunc("/mqtt.min.js", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		_, _ = w.Write(js)
	})
	mux.HandleFunc("POST /result", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		select {
		case posted <- body:
		default:
		}
	})
	mux.HandleFunc("/favicon.ico", http.NotFound)
	web := httptest.NewServer(mux)
	t.Cleanup(web.Close)

	cj, err := json.Marshal(cases)
	require.NoError(t, err)
	u := web.URL + "/?" + url.Values{"cases": {string(cj)}, "topic": {topic}}.Encode()

	dir := t.TempDir()
	args := []string{
		"--headless=new",
		"--no-sandbox", // as root, and in containers without user namespaces
		"--disable-gpu",
		"--disable-dev-shm-usage",
		"--no-first-run",
		"--no-default-browser-check",
		"--user-data-dir=" + filepath.Join(dir, "profile"),
		"--disable-background-networking",
		"--disable-component-update",
		"--disable-sync",
		"--disable-default-apps",
		"--disable-extensions",
		"--disable-domain-reliability",
		"--disable-client-side-phishing-detection",
		"--no-pings",
		"--metrics-recording-only",
		"--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication,CertificateTransparencyComponentUpdater",
		// Chromium calls home even so (updates, time, accounts): loopback
		// bypasses the proxy, anything else goes to one on loopback that
		// closes at once, and no name but localhost resolves, so it
		// reaches no other host.
		"--proxy-server=" + deadProxy(t),
		"--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1",
		// The test CA is unknown to Chromium: trust the server's key.
		"--ignore-certificate-errors-spki-list=" + spkiHash(t, certFile),
		u,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*loomtest.Wait)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Chromium's renderer and helpers are in its process group: end them
	// all, and only them.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = loomtest.Wait
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	cmd.Env = append(os.Environ(), "HOME="+dir)
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		cancel()
		<-exited
	}

	var body []byte
	select {
	case body = <-posted:
		stop()
	case err := <-exited:
		t.Fatalf("chromium exited before the page posted its results: %v\n%s", err, tail(stderr.String()))
	case <-time.After(5 * loomtest.Wait):
		stop()
		t.Fatalf("the page posted no results\nchromium:\n%s", tail(stderr.String()))
	}
	var rs []browserResult
	require.NoError(t, json.Unmarshal(body, &rs), "the page posted %q", body)
	return rs
}

// spkiHash is what --ignore-certificate-errors-spki-list takes: the
// base64 of the SHA-256 of the certificate's SubjectPublicKeyInfo.
func spkiHash(t *testing.T, certFile string) string {
	t.Helper()
	pemBytes, err := os.ReadFile(certFile)
	require.NoError(t, err)
	blk, _ := pem.Decode(pemBytes)
	require.NotNil(t, blk, "no PEM in %s", certFile)
	cert, err := x509.ParseCertificate(blk.Bytes)
	require.NoError(t, err)
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// deadProxy is a loopback address that accepts connections and closes
// them at once, for the test's life.
func deadProxy(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	return "http://" + l.Addr().String()
}

// tail is the end of a long output.
func tail(s string) string {
	const n = 4000
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
