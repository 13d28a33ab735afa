package pahotest

import (
	"net"
	"net/url"
	"os/exec"
	"testing"
	"time"

	mqtt3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/loomtest"
)

// V3Options are paho.mqtt.golang options for a 3.1.1 client of the broker
// at addr. Automatic reconnects and retries are off so that a connection
// the broker drops stays dropped and the test can see it.
func V3Options(addr, id string) *mqtt3.ClientOptions {
	return mqtt3.NewClientOptions().
		AddBroker("tcp://" + addr).
		SetClientID(id).
		SetProtocolVersion(4).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(loomtest.Wait).
		SetWriteTimeout(loomtest.Wait).
		SetKeepAlive(30 * time.Second)
}

// V3Connect connects a client built from o, disconnects it when the test
// ends, and reports the CONNACK's Session Present flag.
func V3Connect(t testing.TB, o *mqtt3.ClientOptions) (mqtt3.Client, bool) {
	t.Helper()
	c := mqtt3.NewClient(o)
	tok := c.Connect()
	V3Done(t, tok)
	t.Cleanup(func() { c.Disconnect(50) })
	return c, tok.(*mqtt3.ConnectToken).SessionPresent()
}

// V3Done waits for a paho token and requires it to have succeeded.
func V3Done(t testing.TB, tok mqtt3.Token) {
	t.Helper()
	require.True(t, tok.WaitTimeout(loomtest.Wait), "paho token did not complete")
	require.NoError(t, tok.Error())
}

// V3Subscribe subscribes c to filter and returns the QoS the broker granted.
func V3Subscribe(t testing.TB, c mqtt3.Client, filter string, qos byte, in V3Inbox) byte {
	t.Helper()
	tok := c.Subscribe(filter, qos, in.Handle)
	V3Done(t, tok)
	granted, ok := tok.(*mqtt3.SubscribeToken).Result()[filter]
	require.True(t, ok, "no SUBACK code for %q", filter)
	return granted
}

// V3Publish publishes and waits for the QoS flow to finish: at once for
// QoS 0, PUBACK for 1, PUBCOMP for 2.
func V3Publish(t testing.TB, c mqtt3.Client, topic string, qos byte, retain bool, payload string) {
	t.Helper()
	V3Done(t, c.Publish(topic, qos, retain, payload))
}

// V3Inbox collects the messages handed to a paho handler. paho acknowledges
// a message after its handler returns, so the handler must never block: the
// buffer is far larger than any test sends.
type V3Inbox chan mqtt3.Message

// NewV3Inbox is an empty inbox.
func NewV3Inbox() V3Inbox { return make(V3Inbox, 256) }

// Handle is the paho message handler that fills the inbox.
func (in V3Inbox) Handle(_ mqtt3.Client, m mqtt3.Message) { in <- m }

// Next returns the next message, failing the test if none comes.
func (in V3Inbox) Next(t testing.TB) mqtt3.Message {
	t.Helper()
	select {
	case m := <-in:
		return m
	case <-time.After(loomtest.Wait):
		t.Fatal("no message arrived")
		return nil
	}
}

// V3Message is what a test expects of a delivered message.
type V3Message struct {
	Topic   string
	Payload string
	QoS     byte
	Retain  bool
}

// Expect requires the next message to be exactly want.
func (in V3Inbox) Expect(t testing.TB, want V3Message) {
	t.Helper()
	m := in.Next(t)
	got := V3Message{Topic: m.Topic(), Payload: string(m.Payload()), QoS: m.Qos(), Retain: m.Retained()}
	require.Equal(t, want, got)
}

// V3DialKeep is a paho connection opener that also hands the raw TCP
// connection to the test, which can then cut it without a DISCONNECT.
func V3DialKeep(conns chan<- net.Conn) mqtt3.OpenConnectionFunc {
	return func(u *url.URL, _ mqtt3.ClientOptions) (net.Conn, error) {
		c, err := net.DialTimeout("tcp", u.Host, loomtest.Wait)
		if err == nil {
			conns <- c
		}
		return c, err
	}
}

// V3NeedBinary skips the test when an external client is not installed.
func V3NeedBinary(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			t.Skipf("%s not installed (apt-get install mosquitto-clients): %v", n, err)
		}
	}
}
