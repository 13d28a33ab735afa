package auth_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/hooks/httpauth"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
)

// The HTTP auth hook in a broker: the backend decides who connects, and
// a backend that is slow holds only the clients it is asked about — the
// one event loop goes on serving a client already connected.
func TestHTTPAuthThroughTheBroker(t *testing.T) {
	release := make(chan struct{})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var q httpauth.AuthRequest
		if err := json.NewDecoder(r.Body).Decode(&q); err != nil {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		if q.Username == "slow" {
			<-release
		}
		res := "deny"
		if q.Password == "right" {
			res = "allow"
		}
		fmt.Fprintf(w, `{"result":%q}`, res)
	}))
	defer backend.Close()
	defer close(release)

	h := &httpauth.Hook{}
	srv, err := loom.New(loom.Options{Listeners: []loom.Listener{{Address: "tcp://127.0.0.1:0"}}, Loops: 1, Logger: loomtest.Quiet})
	require.NoError(t, err)
	require.NoError(t, srv.AddHook(h, &httpauth.Options{AuthURL: backend.URL, Timeout: loomtest.Wait}))
	require.NoError(t, srv.Start())
	t.Cleanup(func() { _ = srv.Close(t.Context()) })
	addr := srv.Addrs()[0].String()

	connect := func(user, pw string) *loomtest.Client {
		c := loomtest.Dial(t, addr, proto.V5)
		c.Send(&proto.Connect{Version: proto.V5, ClientID: []byte(user), CleanStart: true,
			UsernameFlag: true, Username: []byte(user), PasswordFlag: true, Password: []byte(pw)})
		return c
	}
	good := connect("alice", "right")
	require.Equal(t, proto.Success, loomtest.Expect[*proto.Connack](good).Reason)
	bad := connect("mallory", "wrong")
	// A failed authentication: CONNACK with the reason, then the
	// connection closes [MQTT-3.1.4-2] [MQTT-3.2.2-7].
	require.Equal(t, proto.BadUserNameOrPassword, loomtest.Expect[*proto.Connack](bad).Reason)
	bad.ExpectClosed()

	// A backend that takes its time for one client: the loop serves the
	// connected one meanwhile.
	slow := connect("slow", "right")
	good.Subscribe("echo", 0)
	for i := range 10 {
		good.Send(&proto.Publish{Topic: []byte("echo"), Payload: []byte(fmt.Sprint(i))})
		require.Equal(t, fmt.Sprint(i), string(good.ReadPublish().Payload))
	}
	slow.Quiet(100 * time.Millisecond) // still no CONNACK
	release <- struct{}{}
	require.Equal(t, proto.Success, loomtest.Expect[*proto.Connack](slow).Reason)
}
