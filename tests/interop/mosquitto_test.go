package interop_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/tests/internal/pahotest"
)

// The mosquitto command-line clients are an independent implementation of
// both protocol versions; these tests run them against the broker.

// mosqVersions are the -V values the tests run under.
var mosqVersions = []string{"mqttv311", "mqttv5"}

// mosqFormat is the -F output format: QoS, retain flag, topic, v5 user
// properties, payload.
const mosqFormat = "%q|%r|%t|%P|%p"

// mosqProc is a running mosquitto_sub.
type mosqProc struct {
	out, errb bytes.Buffer
	done      chan error
}

// mosqArgs are the connection flags for the broker at addr.
func mosqArgs(t testing.TB, addr string) []string {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	return []string{"-h", host, "-p", port}
}

// mosqSubscribe starts mosquitto_sub with args and waits until the broker
// holds its subscription, so that what is published next reaches it.
// -W bounds its life even if the test's context were never cancelled.
func mosqSubscribe(t testing.TB, srv *loom.Server, addr string, args ...string) *mosqProc {
	t.Helper()
	before := srv.Stats().Subscriptions
	ctx, cancel := context.WithTimeout(context.Background(), 2*loomtest.Wait)
	t.Cleanup(cancel)
	all := append(mosqArgs(t, addr), "-W", fmt.Sprint(int(2*loomtest.Wait/time.Second)), "-F", mosqFormat)
	cmd := exec.CommandContext(ctx, "mosquitto_sub", append(all, args...)...)
	p := &mosqProc{done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = &p.out, &p.errb
	require.NoError(t, cmd.Start())
	go func() { p.done <- cmd.Wait() }()
	loomtest.Eventually(t, "mosquitto_sub to subscribe", func() bool {
		select {
		case err := <-p.done:
			p.done <- err // it ended early; wait reports how
			return true
		default:
		}
		return srv.Stats().Subscriptions > before
	})
	return p
}

// wait returns the lines mosquitto_sub printed once it has exited
// successfully.
func (p *mosqProc) wait(t testing.TB) []string {
	t.Helper()
	select {
	case err := <-p.done:
		require.NoError(t, err, "mosquitto_sub: %s", p.errb.String())
	case <-time.After(3 * loomtest.Wait):
		t.Fatal("mosquitto_sub did not exit")
	}
	return strings.Split(strings.TrimSuffix(p.out.String(), "\n"), "\n")
}

// mosqPublish runs mosquitto_pub to completion; for QoS 1 and 2 it exits
// only after the broker's acknowledgement.
func mosqPublish(t testing.TB, addr string, stdin string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*loomtest.Wait)
	defer cancel()
	cmd := exec.CommandContext(ctx, "mosquitto_pub", append(mosqArgs(t, addr), args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "mosquitto_pub: %s", out)
}

// TestMosquittoQoS publishes at QoS 0, 1 and 2 with mosquitto_pub to a
// mosquitto_sub, in 3.1.1 and in 5.
func TestMosquittoQoS(t *testing.T) {
	pahotest.V3NeedBinary(t, "mosquitto_sub", "mosquitto_pub")
	for _, v := range mosqVersions {
		t.Run(v, func(t *testing.T) {
			srv, addr := loomtest.Start(t, loom.Options{})
			const topic = "mosq/qos"
			// -C 4: it exits once four messages have come.
			sub := mosqSubscribe(t, srv, addr, "-V", v, "-q", "2", "-C", "4", "-t", topic)
			for q := range 3 {
				mosqPublish(t, addr, "", "-V", v, "-q", fmt.Sprint(q), "-t", topic, "-m", fmt.Sprintf("at %d", q))
			}
			// A QoS 1 subscription gets QoS 2 messages at QoS 1.
			down := mosqSubscribe(t, srv, addr, "-V", v, "-q", "1", "-C", "1", "-t", topic)
			mosqPublish(t, addr, "", "-V", v, "-q", "2", "-t", topic, "-m", "downgraded")

			// The order of messages from separate publisher processes is not
			// promised, so compare as sets. Each arrives at the
			// lower of the published and granted QoS ([MQTT-3.8.4-8], [MQTT-3.8.4-6 v3.1.1]),
			// with RETAIN 0 ([MQTT-3.3.1-12], [MQTT-3.3.1-9 v3.1.1]).
			got := sub.wait(t)
			slices.Sort(got)
			require.Equal(t, []string{
				"0|0|mosq/qos||at 0",
				"1|0|mosq/qos||at 1",
				"2|0|mosq/qos||at 2",
				"2|0|mosq/qos||downgraded",
			}, got)
			require.Equal(t, []string{"1|0|mosq/qos||downgraded"}, down.wait(t))
		})
	}
}

// TestMosquittoRetained stores a retained message with mosquitto_pub -r and
// has a later mosquitto_sub receive it.
func TestMosquittoRetained(t *testing.T) {
	pahotest.V3NeedBinary(t, "mosquitto_sub", "mosquitto_pub")
	for _, v := range mosqVersions {
		t.Run(v, func(t *testing.T) {
			srv, addr := loomtest.Start(t, loom.Options{})
			const topic = "mosq/retained"
			mosqPublish(t, addr, "", "-V", v, "-q", "1", "-r", "-t", topic, "-m", "old")
			mosqPublish(t, addr, "", "-V", v, "-q", "1", "-r", "-t", topic, "-m", "kept")
			sub := mosqSubscribe(t, srv, addr, "-V", v, "-q", "2", "-C", "1", "-t", "mosq/#")
			// The last retained message is kept ([MQTT-3.3.1-5], [MQTT-3.3.1-5 v3.1.1]) and
			// sent to the new subscription ([MQTT-3.3.1-9], [MQTT-3.3.1-6 v3.1.1]),
			// with RETAIN 1 [MQTT-3.3.1-8 v3.1.1].
			require.Equal(t, []string{"1|1|mosq/retained||kept"}, sub.wait(t))
		})
	}
}

// TestMosquittoCountExit checks mosquitto_sub -C N exits after N of more
// messages.
func TestMosquittoCountExit(t *testing.T) {
	pahotest.V3NeedBinary(t, "mosquitto_sub", "mosquitto_pub")
	for _, v := range mosqVersions {
		t.Run(v, func(t *testing.T) {
			srv, addr := loomtest.Start(t, loom.Options{})
			const topic = "mosq/count"
			sub := mosqSubscribe(t, srv, addr, "-V", v, "-q", "1", "-C", "3", "-t", topic)
			// -l publishes each line of stdin as a message, over one
			// connection, so their order is kept [MQTT-4.6.0-6] [MQTT-4.6.0-6 v3.1.1].
			mosqPublish(t, addr, "one\ntwo\nthree\nfour\nfive\n", "-V", v, "-q", "1", "-t", topic, "-l")
			require.Equal(t, []string{
				"1|0|mosq/count||one",
				"1|0|mosq/count||two",
				"1|0|mosq/count||three",
			}, sub.wait(t))
		})
	}
}

// TestMosquittoUserProperties sends v5 user properties from mosquitto_pub
// to a v5 mosquitto_sub and to a 3.1.1 one.
func TestMosquittoUserProperties(t *testing.T) {
	pahotest.V3NeedBinary(t, "mosquitto_sub", "mosquitto_pub")
	srv, addr := loomtest.Start(t, loom.Options{})
	const topic = "mosq/props"
	v5 := mosqSubscribe(t, srv, addr, "-V", "mqttv5", "-q", "1", "-C", "1", "-t", topic)
	v311 := mosqSubscribe(t, srv, addr, "-V", "mqttv311", "-q", "1", "-C", "1", "-t", topic)
	mosqPublish(t, addr, "", "-V", "mqttv5", "-q", "1", "-t", topic, "-m", "with properties",
		"-D", "publish", "user-property", "colour", "blue",
		"-D", "publish", "content-type", "text/plain")

	// The v5 subscriber gets the user property as sent ([MQTT-3.3.2-17]
	// and [MQTT-3.3.2-18]: forwarded unaltered, in order).
	require.Equal(t, []string{"1|0|mosq/props|colour:blue|with properties"}, v5.wait(t))
	// 3.1.1 has no properties: the subscriber gets the same message without
	// them, its payload untouched.
	require.Equal(t, []string{"1|0|mosq/props||with properties"}, v311.wait(t))
}
