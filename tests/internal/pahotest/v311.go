package loom_test

import (
	"net"
	"net/url"
	"os/exec"
	"testing"
	"time"

	mqtt3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"
)

// v3Wait bounds every wait in the 3.1.1 tests: generous, because a loaded
// 2-core machine under -race can be slow, and nothing here measures speed.
const v3Wait = 10 * time.Second

// v3Options are paho.mqtt.golang options for a 3.1.1 client of the broker
// at addr. Automatic reconnects and retries are off so that a connection
// the broker drops stays dropped and the test can see it.
func v3Options(addr, id string) *mqtt3.ClientOptions {
	return mqtt3.NewClientOptions().
		AddBroker("tcp://" + addr).
		SetClientID(id).
		SetProtocolVersion(4).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(v3Wait).
		SetWriteTimeout(v3Wait).
		SetKeepAlive(30 * time.Second)
}

// v3Connect connects a client built from o, disconnects it when the test
// ends, and reports the CONNACK's Session Present flag.
func v3Connect(t testing.TB, o *mqtt3.ClientOptions) (mqtt3.Client, bool) {
	t.Helper()
	c := mqtt3.NewClient(o)
	tok := c.Connect()
	v3Done(t, tok)
	t.Cleanup(func() { c.Disconnect(50) })
	return c, tok.(*mqtt3.ConnectToken).SessionPresent()
}

// v3Done waits for a paho token and requires it to have succeeded.
func v3Done(t testing.TB, tok mqtt3.Token) {
	t.Helper()
	require.True(t, tok.WaitTimeout(v3Wait), "paho token did not complete")
	require.NoError(t, tok.Error())
}

// v3Subscribe subscribes c to filter and returns the QoS the broker granted.
func v3Subscribe(t testing.TB, c mqtt3.Client, filter string, qos byte, in v3Inbox) byte {
	t.Helper()
	tok := c.Subscribe(filter, qos, in.handle)
	v3Done(t, tok)
	granted, ok := tok.(*mqtt3.SubscribeToken).Result()[filter]
	require.True(t, ok, "no SUBACK code for %q", filter)
	return granted
}

// v3Publish publishes and waits for the QoS flow to finish: at once for
// QoS 0, PUBACK for 1, PUBCOMP for 2.
func v3Publish(t testing.TB, c mqtt3.Client, topic string, qos byte, retain bool, payload string) {
	t.Helper()
	v3Done(t, c.Publish(topic, qos, retain, payload))
}

// v3Inbox collects the messages handed to a paho handler. paho acknowledges
// a message after its handler returns, so the handler must never block: the
// buffer is far larger than any test sends.
type v3Inbox chan mqtt3.Message

func newV3Inbox() v3Inbox { return make(v3Inbox, 256) }

func (in v3Inbox) handle(_ mqtt3.Client, m mqtt3.Message) { in <- m }

// next returns the next message, failing the test if none comes.
func (in v3Inbox) next(t testing.TB) mqtt3.Message {
	t.Helper()
	select {
	case m := <-in:
		return m
	case <-time.After(v3Wait):
		t.Fatal("no message arrived")
		return nil
	}
}

// v3Message is what a test expects of a delivered message.
type v3Message struct {
	topic   string
	payload string
	qos     byte
	retain  bool
}

// expect requires the next message to be exactly want.
func (in v3Inbox) expect(t testing.TB, want v3Message) {
	t.Helper()
	m := in.next(t)
	got := v3Message{topic: m.Topic(), payload: string(m.Payload()), qos: m.Qos(), retain: m.Retained()}
	require.Equal(t, want, got)
}

// v3DialKeep is a paho connection opener that also hands the raw TCP
// connection to the test, which can then cut it without a DISCONNECT.
func v3DialKeep(conns chan<- net.Conn) mqtt3.OpenConnectionFunc {
	return func(u *url.URL, _ mqtt3.ClientOptions) (net.Conn, error) {
		c, err := net.DialTimeout("tcp", u.Host, v3Wait)
		if err == nil {
			conns <- c
		}
		return c, err
	}
}

// v3NeedBinary skips the test when an external client is not installed.
func v3NeedBinary(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			t.Skipf("%s not installed (apt-get install mosquitto-clients): %v", n, err)
		}
	}
}
