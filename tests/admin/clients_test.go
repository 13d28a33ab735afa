package admin_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/admin"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/tests/internal/pahotest"
)

// mainListener is a broker's one listener, under an ID of its own.
var mainListener = []loom.Listener{{ID: "main", Address: "tcp://127.0.0.1:0"}}

// TestStatsSysAndClients: known traffic from v5 and 3.1.1 clients shows in
// /api/v1/stats and /api/v1/sys, and /api/v1/clients lists the clients,
// paged by id, searched, one by one and with their subscriptions.
func TestStatsSysAndClients(t *testing.T) {
	begin := time.Now()
	// $SYS off: no retained values, so every count below is the test's.
	srv, addr := loomtest.Start(t, loom.Options{SysInterval: -1, Listeners: mainListener})
	a := startAPI(t, srv, admin.Options{Token: token})

	sub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "c-sub"})
	ctx, cancel := context.WithTimeout(context.Background(), loomtest.Wait)
	defer cancel()
	subID := 9
	_, err := sub.Subscribe(ctx, &paho.Subscribe{
		Properties: &paho.SubscribeProperties{SubscriptionIdentifier: &subID},
		Subscriptions: []paho.SubscribeOptions{
			{Topic: "t/#", QoS: 1, NoLocal: true, RetainAsPublished: true, RetainHandling: 1},
		}})
	require.NoError(t, err)
	sub.Sub(t, paho.SubscribeOptions{Topic: "$share/g/u/+", QoS: 0})
	pub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "c-pub"})
	pahotest.V3Connect(t, pahotest.V3Options(addr, "c-v3-alice").SetUsername("alice").SetPassword("x"))
	pahotest.V3Connect(t, pahotest.V3Options(addr, "c-v3-bob").SetUsername("bob").SetPassword("x"))

	for range 5 {
		pub.Say(t, "t/x", 1, false, "hello")
	}
	for range 5 {
		require.Equal(t, "hello", string(sub.Recv(t).Payload))
	}

	var st struct {
		Time               string `json:"time"`
		UptimeSeconds      *int64 `json:"uptime_seconds"`
		Connected          int64  `json:"connected"`
		OpenConnections    int64  `json:"open_connections"`
		MaxConnected       int64  `json:"max_connected"`
		TotalConnections   int64  `json:"total_connections"`
		Sessions           int    `json:"sessions"`
		PersistentSessions int    `json:"persistent_sessions"`
		MessagesIn         int64  `json:"messages_in"`
		MessagesOut        int64  `json:"messages_out"`
		BytesIn            int64  `json:"bytes_in"`
		BytesOut           int64  `json:"bytes_out"`
		Dropped            int64  `json:"dropped"`
		Drops              map[string]int64
		Inflight           int64  `json:"inflight"`
		Subscriptions      int    `json:"subscriptions"`
		SharedGroups       int    `json:"shared_groups"`
		Retained           int    `json:"retained"`
		AuthFailures       *int64 `json:"auth_failures"`
		ACLDenied          *int64 `json:"acl_denied"`
		HeldBytes          *int64 `json:"held_bytes"`
		SpoolBytes         *int64 `json:"spool_bytes"`
		ReadPauses         *int64 `json:"read_pauses"`
		Store              struct {
			Open         bool     `json:"open"`
			Persistent   bool     `json:"persistent"`
			CommitP99MS  *float64 `json:"commit_p99_ms"`
			CommitMeanMS *float64 `json:"commit_mean_ms"`
		} `json:"store"`
		MessagesInByQoS    [3]int64         `json:"messages_in_by_qos"`
		MessagesOutByQoS   [3]int64         `json:"messages_out_by_qos"`
		ConnectedByVersion map[string]int64 `json:"connected_by_version"`
		Queued             *int64           `json:"queued"`
	}
	a.get("/api/v1/stats", &st)
	require.Equal(t, [3]int64{0, 5, 0}, st.MessagesInByQoS)
	require.Equal(t, [3]int64{0, 5, 0}, st.MessagesOutByQoS)
	require.Equal(t, map[string]int64{"3.1": 0, "3.1.1": 2, "5.0": 2}, st.ConnectedByVersion)
	require.NotNil(t, st.Queued)
	require.Zero(t, *st.Queued)
	require.Nil(t, st.Store.CommitP99MS, "no store, no commit times")
	since(t, st.Time, begin)
	require.NotNil(t, st.UptimeSeconds)
	require.EqualValues(t, 4, st.Connected)
	require.EqualValues(t, 4, st.OpenConnections)
	require.EqualValues(t, 4, st.MaxConnected)
	require.EqualValues(t, 4, st.TotalConnections)
	require.Equal(t, 4, st.Sessions)
	require.Equal(t, 0, st.PersistentSessions)
	require.EqualValues(t, 5, st.MessagesIn)
	require.EqualValues(t, 5, st.MessagesOut)
	require.Positive(t, st.BytesIn)
	require.Positive(t, st.BytesOut)
	require.Zero(t, st.Dropped)
	require.Len(t, st.Drops, 8)
	require.Contains(t, st.Drops, "queue_full")
	require.Contains(t, st.Drops, "not_authorized")
	require.Equal(t, 2, st.Subscriptions) // t/# and one shared-group membership
	require.Equal(t, 1, st.SharedGroups)
	require.Zero(t, st.Retained)
	for _, v := range []*int64{st.AuthFailures, st.ACLDenied, st.HeldBytes, st.SpoolBytes, st.ReadPauses} {
		require.NotNil(t, v) // present, whatever its value
	}
	require.True(t, st.Store.Open)
	require.False(t, st.Store.Persistent)

	var sys map[string]string
	a.get("/api/v1/sys", &sys)
	require.Equal(t, "loom "+loom.Version, sys["$SYS/broker/version"])
	require.Equal(t, "4", sys["$SYS/broker/clients/connected"])
	require.Equal(t, "5", sys["$SYS/broker/messages/received"])
	require.Equal(t, "5", sys["$SYS/broker/messages/sent"])
	require.Equal(t, "2", sys["$SYS/broker/subscriptions/count"])
	require.Equal(t, "0", sys["$SYS/broker/publish/messages/dropped"])
	uptime, err := strconv.Atoi(sys["$SYS/broker/uptime"])
	require.NoError(t, err)
	require.GreaterOrEqual(t, uptime, 0)

	// Paged by id: limit, next, total.
	var p clientsJSON
	a.get("/api/v1/clients?limit=3", &p)
	require.Equal(t, []string{"c-pub", "c-sub", "c-v3-alice"}, idsOf(p))
	require.Equal(t, "c-v3-alice", p.Next)
	require.Equal(t, 4, p.Total)
	var p2 clientsJSON
	a.get("/api/v1/clients?limit=3&after="+p.Next, &p2)
	require.Equal(t, []string{"c-v3-bob"}, idsOf(p2))
	require.Empty(t, p2.Next)
	require.Equal(t, 4, p2.Total)
	var all clientsJSON
	a.get("/api/v1/clients", &all) // the default limit takes all four
	require.Len(t, all.Clients, 4)
	require.Empty(t, all.Next)

	byID := map[string]clientJSON{}
	for _, c := range all.Clients {
		byID[c.ID] = c
	}
	c := byID["c-sub"]
	require.Equal(t, "5.0", c.Version)
	require.Equal(t, "main", c.Listener)
	require.Equal(t, sub.Conn.LocalAddr().String(), c.Remote)
	require.Equal(t, 30, c.KeepAlive)
	require.Empty(t, c.Username)
	require.Zero(t, c.Inflight)
	require.Zero(t, c.Queued)
	since(t, c.ConnectedSince, begin)
	c = byID["c-v3-alice"]
	require.Equal(t, "3.1.1", c.Version)
	require.Equal(t, "alice", c.Username)
	require.Equal(t, "main", c.Listener)
	require.Equal(t, 30, c.KeepAlive)
	since(t, c.ConnectedSince, begin)

	// Search: id, username, remote address.
	for _, tt := range []struct {
		q    string
		want []string
	}{
		{"alice", []string{"c-v3-alice"}},
		{"c-v3", []string{"c-v3-alice", "c-v3-bob"}},
		{pub.Conn.LocalAddr().String(), []string{"c-pub"}},
		{"nobody", []string{}},
	} {
		var s clientsJSON
		a.get("/api/v1/clients?q="+url.QueryEscape(tt.q), &s)
		require.Equal(t, tt.want, idsOf(s), "q=%s", tt.q)
		require.Equal(t, len(tt.want), s.Total)
	}

	// One client.
	var one clientJSON
	a.get("/api/v1/clients/c-sub", &one)
	require.Equal(t, byID["c-sub"], one)
	code, msg := a.status("GET", "/api/v1/clients/nobody")
	require.Equal(t, http.StatusNotFound, code)
	require.Contains(t, msg, "nobody")
	// An id with a slash and a space, escaped in the path.
	pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "dev/7 x"})
	a.get("/api/v1/clients/"+url.PathEscape("dev/7 x"), &one)
	require.Equal(t, "dev/7 x", one.ID)

	// Its subscriptions, ordered by filter.
	var subs struct {
		Subscriptions []struct {
			Filter            string `json:"filter"`
			QoS               int    `json:"qos"`
			NoLocal           bool   `json:"no_local"`
			RetainAsPublished bool   `json:"retain_as_published"`
			RetainHandling    int    `json:"retain_handling"`
			Identifier        int    `json:"identifier"`
		} `json:"subscriptions"`
	}
	a.get("/api/v1/clients/c-sub/subscriptions", &subs)
	require.Len(t, subs.Subscriptions, 2)
	s0, s1 := subs.Subscriptions[0], subs.Subscriptions[1]
	require.Equal(t, "$share/g/u/+", s0.Filter)
	require.Zero(t, s0.QoS)
	require.False(t, s0.NoLocal)
	require.Zero(t, s0.Identifier)
	require.Equal(t, "t/#", s1.Filter)
	require.Equal(t, 1, s1.QoS)
	require.True(t, s1.NoLocal)
	require.True(t, s1.RetainAsPublished)
	require.Equal(t, 1, s1.RetainHandling)
	require.Equal(t, 9, s1.Identifier)
	code, _ = a.status("GET", "/api/v1/clients/nobody/subscriptions")
	require.Equal(t, http.StatusNotFound, code)
}

func idsOf(p clientsJSON) []string {
	out := []string{}
	for _, c := range p.Clients {
		out = append(out, c.ID)
	}
	return out
}

// TestClientInflightAndQueued: a v5 client with Receive Maximum 1 that
// acknowledges nothing holds one message in flight and queues the rest.
func TestClientInflightAndQueued(t *testing.T) {
	srv, addr := loomtest.Start(t, loom.Options{SysInterval: -1})
	a := startAPI(t, srv, admin.Options{})
	slow, _ := loomtest.Connect(t, addr, proto.V5, proto.Connect{ClientID: []byte("slow"), CleanStart: true,
		Props: func() proto.Properties {
			var p proto.Properties
			p.ReceiveMaximum = 1
			p.Set(proto.PropReceiveMaximum)
			return p
		}()})
	slow.Subscribe("slow/#", 1)
	pub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "pub"})
	for range 3 {
		pub.Say(t, "slow/x", 1, false, "m")
	}
	slow.ReadPublish() // and no PUBACK
	loomtest.Eventually(t, "two queued", func() bool {
		var c clientJSON
		a.get("/api/v1/clients/slow", &c)
		return c.Inflight == 1 && c.Queued == 2
	})
	var st struct {
		Queued int64 `json:"queued"`
	}
	a.get("/api/v1/stats", &st)
	require.EqualValues(t, 2, st.Queued, "the broker's total of queued messages")
}

// TestDisconnectClient: DELETE /api/v1/clients/{id} ends a client's
// connection: a v5 client reads DISCONNECT 0x98 (Administrative action), a
// 3.1.1 client's connection closes; then the client is no longer listed.
func TestDisconnectClient(t *testing.T) {
	srv, addr := loomtest.Start(t, loom.Options{SysInterval: -1})
	a := startAPI(t, srv, admin.Options{Token: token})

	v5, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "d-v5"})
	lost := make(chan error, 1)
	pahotest.V3Connect(t, pahotest.V3Options(addr, "d-v3").
		SetConnectionLostHandler(func(_ mqtt3.Client, err error) { lost <- err }))
	stay, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "d-stays"})

	code, b, _ := a.call("DELETE", "/api/v1/clients/d-v5")
	require.Equal(t, http.StatusNoContent, code)
	require.Empty(t, b)
	select {
	case d := <-v5.Disconnects:
		require.EqualValues(t, proto.AdministrativeAction, d.ReasonCode)
	case <-time.After(loomtest.Wait):
		t.Fatal("no DISCONNECT from the broker")
	}

	code, _, _ = a.call("DELETE", "/api/v1/clients/d-v3")
	require.Equal(t, http.StatusNoContent, code)
	select {
	case <-lost:
	case <-time.After(loomtest.Wait):
		t.Fatal("the 3.1.1 connection did not close")
	}

	loomtest.WaitConnections(t, srv, 1)
	var p clientsJSON
	a.get("/api/v1/clients", &p)
	require.Equal(t, []string{"d-stays"}, idsOf(p))
	code, _ = a.status("GET", "/api/v1/clients/d-v5")
	require.Equal(t, http.StatusNotFound, code)
	code, _ = a.status("DELETE", "/api/v1/clients/d-v5")
	require.Equal(t, http.StatusNotFound, code)
	stay.Say(t, "still/here", 1, false, "yes") // the others go on
}

// TestAuth over HTTP: without credentials 401 everywhere but /healthz;
// the bearer token or the basic auth pair pass.
func TestAuth(t *testing.T) {
	srv, _ := loomtest.Start(t, loom.Options{SysInterval: -1})
	a := startAPI(t, srv, admin.Options{Token: token, Username: "op", Password: "pw"})
	bearer := a.auth

	a.auth = nil
	for _, p := range []string{"/api/v1/stats", "/readyz", "/api/v1/clients", "/metrics", "/"} { // "/" too: basic auth is set
		code, msg := a.status("GET", p)
		require.Equal(t, http.StatusUnauthorized, code, p)
		require.Equal(t, "authentication required", msg)
	}
	_, _, h := a.call("GET", "/api/v1/stats")
	require.Len(t, h.Values("WWW-Authenticate"), 2)
	code, _, _ := a.call("GET", "/healthz")
	require.Equal(t, http.StatusOK, code)

	a.auth = bearer
	code, _, _ = a.call("GET", "/api/v1/stats")
	require.Equal(t, http.StatusOK, code)
	a.auth = func(r *http.Request) { r.Header.Set("Authorization", "Bearer wrong") }
	code, _, _ = a.call("GET", "/api/v1/stats")
	require.Equal(t, http.StatusUnauthorized, code)
	a.auth = func(r *http.Request) { r.SetBasicAuth("op", "pw") }
	code, _, _ = a.call("GET", "/api/v1/stats")
	require.Equal(t, http.StatusOK, code)
	a.auth = func(r *http.Request) { r.SetBasicAuth("op", "wrong") }
	code, _, _ = a.call("GET", "/api/v1/stats")
	require.Equal(t, http.StatusUnauthorized, code)
}

// TestExposedAddressNeedsAuth: an address off loopback without a token or
// password is refused by New, with the reason.
func TestExposedAddressNeedsAuth(t *testing.T) {
	srv, _ := loomtest.Start(t, loom.Options{SysInterval: -1})
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0"} {
		_, err := admin.New(srv, admin.Options{Address: addr})
		require.ErrorIs(t, err, admin.ErrExposed, addr)
		require.ErrorContains(t, err, "set a token")
		_, err = admin.New(srv, admin.Options{Address: addr, Token: token})
		require.NoError(t, err, addr)
		_, err = admin.New(srv, admin.Options{Address: addr, Username: "op", Password: "pw"})
		require.NoError(t, err, addr)
	}
}
