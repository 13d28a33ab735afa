package httpauth_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/loom-mqtt/loom/hooks/httpauth"
	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/session"
)

// A backend that lets alice in with her password, and the hook asking
// it: the first CONNECT waits for the backend (Later), the next is
// answered from the cache.
func Example() {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var q httpauth.AuthRequest
		_ = json.NewDecoder(r.Body).Decode(&q)
		result := "deny"
		if q.Username == "alice" && q.Password == "wonderland" {
			result = "allow"
		}
		_ = json.NewEncoder(w).Encode(httpauth.Response{Result: result})
	}))
	defer backend.Close()

	b := session.NewBroker(session.Options{SysInterval: -1})
	defer b.Close()
	h := new(httpauth.Hook)
	if err := b.AddHook(h, &httpauth.Options{AuthURL: backend.URL + "/mqtt/auth"}); err != nil {
		panic(err)
	}

	// What the broker does for each CONNECT, done here by hand.
	cl := session.ClientInfo{ID: "c1", Username: "alice", Remote: "192.0.2.7:53211"}
	pk := &proto.Connect{UsernameFlag: true, Username: []byte("alice"),
		PasswordFlag: true, Password: []byte("wonderland")}
	answered := make(chan bool, 1)
	v := h.OnConnectAuthenticate(cl, pk, func(allow bool) { answered <- allow })
	fmt.Println(v == session.Later, <-answered)
	v = h.OnConnectAuthenticate(cl, pk, func(bool) {})
	fmt.Println(v == session.Allow, h.Stats().Requests)
	// Output:
	// true true
	// true 1
}
