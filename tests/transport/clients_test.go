package transport_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/tests/internal/pahotest"
)

// Clients that are not Go: the mosquitto command-line clients (OpenSSL)
// on the TLS listeners, Python's paho-mqtt on the WebSocket ones.

// mosqTLSArgs are mosquitto_pub's and mosquitto_sub's flags for the
// endpoint: its address, the CA to trust and, on mtls, the client
// certificate.
func (e *endpoint) mosqTLSArgs() []string {
	args := []string{"-h", e.host, "-p", strconv.Itoa(e.port), "--cafile", e.pki.CAFile}
	if e.kind == kMTLS {
		args = append(args, "--cert", e.certFile, "--key", e.keyFile)
	}
	return args
}

// mosqSub is a running mosquitto_sub.
type mosqSub struct {
	out, errb bytes.Buffer
	done      chan error
	b         *broker
	before    int // the broker's subscriptions before this one
}

// startMosqSub starts mosquitto_sub with args and waits until the broker
// holds its subscription. -W bounds its life. The test must not subscribe
// or unsubscribe anything else on b until wait has returned.
func startMosqSub(t *testing.T, b *broker, args ...string) *mosqSub {
	t.Helper()
	before := b.subscriptions()
	ctx, cancel := context.WithTimeout(context.Background(), 3*loomtest.Wait)
	t.Cleanup(cancel)
	all := append([]string{"-W", strconv.Itoa(int(2 * loomtest.Wait / time.Second)), "-F", "%t|%q|%r|%p"}, args...)
	cmd := exec.CommandContext(ctx, "mosquitto_sub", all...)
	s := &mosqSub{done: make(chan error, 1), b: b, before: before}
	cmd.Stdout, cmd.Stderr = &s.out, &s.errb
	require.NoError(t, cmd.Start())
	go func() { s.done <- cmd.Wait() }()
	b.waitSubscribed(t, before, func() bool {
		select {
		case err := <-s.done:
			s.done <- err // it ended early: wait says how
			return true
		default:
			return false
		}
	})
	return s
}

// wait returns the lines mosquitto_sub printed once it has exited
// successfully and the broker has dropped its subscription (it had a
// clean session), so that the next startMosqSub counts from there.
func (s *mosqSub) wait(t *testing.T) []string {
	t.Helper()
	select {
	case err := <-s.done:
		require.NoError(t, err, "mosquitto_sub: %s", s.errb.String())
	case <-time.After(3 * loomtest.Wait):
		t.Fatal("mosquitto_sub did not exit")
	}
	loomtest.Eventually(t, "mosquitto_sub's subscription to go", func() bool { return s.b.subscriptions() == s.before })
	return strings.Split(strings.TrimSuffix(s.out.String(), "\n"), "\n")
}

// mosqPub runs mosquitto_pub to completion and returns its error and
// output; for QoS 1 and 2 it exits only after the broker's acknowledgement.
func mosqPub(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*loomtest.Wait)
	defer cancel()
	return exec.CommandContext(ctx, "mosquitto_pub", args...).CombinedOutput()
}

// TestMosquittoClientsTLS has mosquitto_sub and mosquitto_pub, which do
// TLS with OpenSSL, exchange messages at QoS 1 and 2 in 3.1.1 and 5 over
// the tls listener (trusting the test CA with --cafile) and the mtls one
// (with a client certificate, --cert and --key), and checks that the mtls
// listener turns away mosquitto_pub without a certificate or with one
// another CA signed.
func TestMosquittoClientsTLS(t *testing.T) {
	pahotest.V3NeedBinary(t, "mosquitto_sub", "mosquitto_pub")
	b := startBroker(t, kTLS, kMTLS)
	for _, kind := range []string{kTLS, kMTLS} {
		for _, v := range []string{"mqttv311", "mqttv5"} {
			t.Run(kind+"/"+v, func(t *testing.T) {
				e := b.ep(kind)
				topic := "mosq/" + kind + "/" + v
				sub := startMosqSub(t, b, append(e.mosqTLSArgs(), "-V", v, "-q", "2", "-C", "2", "-t", topic+"/#")...)
				for q := 1; q <= 2; q++ {
					out, err := mosqPub(append(e.mosqTLSArgs(), "-V", v, "-q", strconv.Itoa(q),
						"-t", fmt.Sprintf("%s/q%d", topic, q), "-m", fmt.Sprintf("over %s at %d", kind, q))...)
					require.NoError(t, err, "mosquitto_pub: %s", out)
				}
				got := sub.wait(t)
				slices.Sort(got) // two publisher processes: no order promised
				require.Equal(t, []string{
					fmt.Sprintf("%s/q1|1|0|over %s at 1", topic, kind),
					fmt.Sprintf("%s/q2|2|0|over %s at 2", topic, kind),
				}, got)
			})
		}
	}
	t.Run("mtls refused", func(t *testing.T) {
		e := b.ep(kMTLS)
		stranger := loomtest.NewPKI(t)
		certFile, keyFile, _ := stranger.MustClientCert(t, "stranger", "stranger")
		base := []string{"-h", e.host, "-p", strconv.Itoa(e.port), "--cafile", e.pki.CAFile, "-q", "1", "-t", "mosq/refused", "-m", "x"}
		for name, extra := range map[string][]string{
			"no certificate":           nil,
			"another CA's certificate": {"--cert", certFile, "--key", keyFile},
		} {
			out, err := mosqPub(append(slices.Clone(base), extra...)...)
			require.Error(t, err, "%s: mosquitto_pub published: %s", name, out)
		}
	})
}

// findPythonPaho is the first python3 on PATH that has paho-mqtt (Debian's
// python3-paho-mqtt is for Debian's python3, which a pyenv or venv python3
// earlier on PATH may hide; scripts/test looks the same way), or the test
// is skipped.
func findPythonPaho(t *testing.T) string {
	t.Helper()
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		p := filepath.Join(dir, "python3")
		if fi, err := os.Stat(p); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), loomtest.Wait)
		err := exec.CommandContext(ctx, p, "-c", "import paho.mqtt.client").Run()
		cancel()
		if err == nil {
			return p
		}
	}
	t.Skip("no python3 on PATH has paho-mqtt (apt-get install python3-paho-mqtt; scripts/test installs it)")
	return ""
}

// TestPythonPaho has Python's paho-mqtt, over the ws listener and the wss
// one (trusting the test CA), in 3.1.1 and 5, subscribe, publish at QoS 1
// and receive its own message; a Go client on the tcp listener sees each.
func TestPythonPaho(t *testing.T) {
	py := findPythonPaho(t)
	b := startBroker(t, kTCP, kWS, kWSS)
	watch, _ := connectV5(t, b.ep(kTCP), pahotest.V5Conf{ID: "python-watch"})
	watch.Sub(t, paho.SubscribeOptions{Topic: "py/+/from-python", QoS: 1})
	for _, kind := range []string{kWS, kWSS} {
		for _, v := range []string{"4", "5"} {
			t.Run(kind+"/v"+v, func(t *testing.T) {
				e := b.ep(kind)
				topic := "py/" + kind + "-v" + v
				args := []string{"testdata/paho_ws.py", e.host, strconv.Itoa(e.port), wsPath, v, topic}
				if kind == kWSS {
					args = append(args, e.pki.CAFile)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 2*loomtest.Wait)
				defer cancel()
				out, err := exec.CommandContext(ctx, py, args...).CombinedOutput()
				require.NoError(t, err, "paho_ws.py: %s", out)
				require.Contains(t, strings.Split(string(out), "\n"), topic+"/from-python|1|0|hello from python")
				m := watch.Recv(t)
				require.Equal(t, topic+"/from-python", m.Topic)
				require.Equal(t, "hello from python", string(m.Payload))
			})
		}
	}
}
