package ledger_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/hooks/ledger"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/session"
)

var _ loom.Hook = (*ledger.Hook)(nil)

func TestHookProvides(t *testing.T) {
	h := ledger.New(nil)
	want := map[session.Event]bool{session.OnConnectAuthenticate: true, session.OnACLCheck: true}
	for _, e := range session.Events() {
		require.Equal(t, want[e], h.Provides(e), "%v", e)
	}
	require.Equal(t, "ledger", h.ID())
	require.Error(t, h.Init(42))
	require.NoError(t, h.Init(nil))
}

func connect(user, pw string) *proto.Connect {
	pk := &proto.Connect{ClientID: []byte("c"), Username: []byte(user), UsernameFlag: user != ""}
	if pw != "" {
		pk.Password, pk.PasswordFlag = []byte(pw), true
	}
	return pk
}

// noAnswer fails the test if the hook answers late where it answers at
// once.
func noAnswer(t *testing.T) session.Answer {
	return func(bool) { t.Error("the hook called its Answer") }
}

// TestHookVerdicts: plain rules are decided at once, and a no is Refuse.
func TestHookVerdicts(t *testing.T) {
	h := ledger.New(parse(t, `auth:
  - {username: a, password: pw, allow: true}
  - {username: banned, allow: false}
acl:
  - filters: [{filter: ok/#, access: readwrite}]
`))
	cl := func(user string) session.ClientInfo {
		return session.ClientInfo{ID: "c", Username: user, Remote: "192.0.2.1:1"}
	}
	require.Equal(t, session.Allow, h.OnConnectAuthenticate(cl("a"), connect("a", "pw"), noAnswer(t)))
	require.Equal(t, session.Refuse, h.OnConnectAuthenticate(cl("a"), connect("a", "no"), noAnswer(t)))
	require.Equal(t, session.Refuse, h.OnConnectAuthenticate(cl("banned"), connect("banned", ""), noAnswer(t)))
	// A password in the packet without its flag is no password.
	pk := connect("a", "pw")
	pk.PasswordFlag = false
	require.Equal(t, session.Refuse, h.OnConnectAuthenticate(cl("a"), pk, noAnswer(t)))

	for range 2 { // the second time from the cache
		require.Equal(t, session.Allow, h.OnACLCheck(cl("a"), "ok/1", true, noAnswer(t)))
		require.Equal(t, session.Refuse, h.OnACLCheck(cl("a"), "no/1", true, noAnswer(t)))
		require.Equal(t, session.Allow, h.OnACLCheck(cl("a"), "ok/+", false, noAnswer(t)))
		require.Equal(t, session.Refuse, h.OnACLCheck(cl("a"), "#", false, noAnswer(t)))
	}

	// Too long to cache: answered from the rules.
	long := "ok/" + strings.Repeat("x", 300)
	require.Equal(t, session.Allow, h.OnACLCheck(cl("a"), long, true, noAnswer(t)))
	require.Equal(t, session.Refuse, h.OnACLCheck(cl("a"), "no/"+long, true, noAnswer(t)))

	// No ledger: everything refused.
	var empty ledger.Hook
	require.Equal(t, session.Refuse, empty.OnConnectAuthenticate(cl("a"), connect("a", "pw"), noAnswer(t)))
	require.Equal(t, session.Refuse, empty.OnACLCheck(cl("a"), "ok/1", true, noAnswer(t)))
}

// TestHookHashesOffTheLoop: a hash is checked by a worker, which
// answers; the hook itself returns Later at once.
func TestHookHashesOffTheLoop(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost) // quick under -race
	require.NoError(t, err)
	h := ledger.New(parse(t, "auth:\n  - {username: a, password: '"+string(hash)+"', allow: true}\n"))
	defer h.Stop()
	cl := session.ClientInfo{ID: "c", Username: "a"}
	for _, tc := range []struct {
		pw   string
		want bool
	}{{"pw", true}, {"wrong", false}, {"", false}} {
		got := make(chan bool, 2)
		pk := connect("a", tc.pw)
		start := time.Now()
		v := h.OnConnectAuthenticate(cl, pk, func(ok bool) { got <- ok })
		require.Equal(t, session.Later, v)
		require.Less(t, time.Since(start), 20*time.Millisecond, "the check ran on the caller")
		clear(pk.Password) // the loop reuses the buffer: the worker has a copy
		select {
		case ok := <-got:
			require.Equal(t, tc.want, ok, "password %q", tc.pw)
		case <-time.After(loomtest.Wait):
			t.Fatal("no answer")
		}
	}
	// A client that no rule with a hash could let in is refused at once.
	require.Equal(t, session.Refuse, h.OnConnectAuthenticate(session.ClientInfo{ID: "c", Username: "b"}, connect("b", "pw"), noAnswer(t)))

	require.NoError(t, h.Stop())
	require.Equal(t, session.Refuse, h.OnConnectAuthenticate(cl, connect("a", "pw"), noAnswer(t)), "after Stop")
}

// TestHookReload: new rules apply to the next question; cached answers
// of the old rules are gone.
func TestHookReload(t *testing.T) {
	h := ledger.New(parse(t, "acl:\n  - filters: [{filter: a, access: readwrite}]\n"))
	cl := session.ClientInfo{ID: "c"}
	require.Equal(t, session.Allow, h.OnACLCheck(cl, "a", true, noAnswer(t)))
	old := h.Ledger()
	h.Reload(parse(t, "acl:\n  - filters: [{filter: a, access: read}]\n"))
	require.NotSame(t, old, h.Ledger())
	require.Equal(t, session.Refuse, h.OnACLCheck(cl, "a", true, noAnswer(t)))
	require.NoError(t, h.Init(old))
	require.Equal(t, session.Allow, h.OnACLCheck(cl, "a", true, noAnswer(t)))
}

// TestHookConcurrent: loops ask at once while the rules are reloaded.
func TestHookConcurrent(t *testing.T) {
	allow := parse(t, "acl_default: allow\n")
	deny := parse(t, "acl_default: deny\n")
	h := ledger.New(allow)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			cl := session.ClientInfo{ID: fmt.Sprint("c", i)}
			for j := range 2000 {
				v := h.OnACLCheck(cl, fmt.Sprint("t/", j%300), j%2 == 0, noAnswer(t))
				if v != session.Allow && v != session.Refuse {
					t.Errorf("verdict %v", v)
				}
			}
		})
	}
	for range 50 {
		h.Reload(deny)
		h.Reload(allow)
	}
	wg.Wait()
	require.Equal(t, session.Allow, h.OnACLCheck(session.ClientInfo{ID: "c0"}, "t/1", true, noAnswer(t)))
}

// TestBroker: the hook in a running broker, over real connections: a
// bcrypt password checked off the loop, a refused client, refused
// publishes and subscriptions, and rules reloaded under a connected
// client.
func TestBroker(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	require.NoError(t, err)
	h := ledger.New(parse(t, `auth:
  - {username: a, password: '`+string(hash)+`', allow: true}
acl:
  - filters:
      - {filter: in/#, access: readwrite}
      - {filter: out/#, access: write}
`))
	_, addr := loomtest.Start(t, loom.Options{}, h)

	bad := loomtest.Dial(t, addr, proto.V5)
	ack, err := bad.Conn.Connect(proto.Connect{CleanStart: true, ClientID: []byte("x"),
		Username: []byte("a"), UsernameFlag: true, Password: []byte("no"), PasswordFlag: true}, time.Now().Add(loomtest.Wait))
	require.Error(t, err)
	require.Equal(t, proto.ReasonCode(0x86), ack.Reason)

	c := loomtest.Dial(t, addr, proto.V5)
	c.Connect("good", func(p *proto.Connect) {
		p.Username, p.UsernameFlag, p.Password, p.PasswordFlag = []byte("a"), true, []byte("pw"), true
	})
	c.Subscribe("in/#", 1)
	sub, err := c.Conn.Subscribe("#", 1, time.Now().Add(loomtest.Wait))
	require.Error(t, err)
	require.Equal(t, proto.ReasonCode(0x87), sub.Reasons[0])

	c.Publish("in/1", "hello", 1, 7)
	require.Equal(t, "hello", string(c.ReadPublish().Payload))
	c.Send(&proto.Publish{Topic: []byte("elsewhere"), QoS: 1, PacketID: 8})
	require.Equal(t, proto.ReasonCode(0x87), c.ReadAck(proto.PUBACK).Reason)

	// New rules reach the connected client's next packet.
	h.Reload(parse(t, "auth_default: allow\nacl_default: allow\n"))
	c.Publish("elsewhere", "now", 1, 9)
}
