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
	"github.com/loom-mqtt/loom/tests/internal/browsertest"
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

// TestBrowser has mqtt.js, in a headless Chromium, connect to the ws and
// wss listeners in MQTT 5 and 3.1.1, subscribe, receive a retained
// message a Go client left, publish, and receive its own message; a Go
// client on the tcp listener sees what the browser published. The page
// posts its results to the test's HTTP server. Chromium trusts the
// broker's certificate by the hash of its public key, and reaches nothing
// but loopback: every other address goes to a proxy on loopback that
// refuses.
func TestBrowser(t *testing.T) {
	chromium := browsertest.Find(t)
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
		"--disable-dev-shm-usage",
		"--no-first-run",
		"--no-default-browser-check",
		"--user-data-dir=" + filepath.Join(dir, "profile"),
		"--disable-background-networking",
		"--disable-sync",
		"--disable-default-apps",
		"--disable-extensions",
		"--disable-client-side-phishing-detection",
		"--metrics-recording-only",
		// The test CA is unknown to Chromium: trust the server's key.
		"--ignore-certificate-errors-spki-list=" + spkiHash(t, certFile),
	}
	// Quiet and on loopback only (browsertest.Flags).
	for _, f := range browsertest.Flags(t) {
		if f[1] == "" {
			args = append(args, "--"+f[0])
		} else {
			args = append(args, "--"+f[0]+"="+f[1])
		}
	}
	args = append(args, u)
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
		t.Fatalf("chromium exited before the page posted its results: %v\n%s", err, browsertest.Tail(stderr.String()))
	case <-time.After(5 * loomtest.Wait):
		stop()
		t.Fatalf("the page posted no results\nchromium:\n%s", browsertest.Tail(stderr.String()))
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
