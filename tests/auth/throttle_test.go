// Package auth_test tests authentication and ACLs over real sockets.
package auth_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
)

// password lets in whoever gives the password "right".
type password struct{ loom.HookBase }

func (password) ID() string                 { return "password" }
func (password) Provides(e loom.Event) bool { return e == loom.OnConnectAuthenticate }
func (password) OnConnectAuthenticate(_ loom.ClientInfo, pk *proto.Connect, _ loom.Answer) loom.Verdict {
	if string(pk.Password) == "right" {
		return loom.Allow
	}
	return loom.Deny
}

// attempt connects from the loopback address src with pw and returns the
// CONNACK's reason and how long it took to come.
func attempt(t *testing.T, addr, src, pw string) (proto.ReasonCode, time.Duration) {
	t.Helper()
	d := loomtest.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial(context.Background(), addr)
	require.NoError(t, err)
	defer c.Close()
	start := time.Now()
	require.NoError(t, c.Send(&proto.Connect{Version: proto.V5, ClientID: []byte("c-" + src), CleanStart: true,
		UsernameFlag: true, Username: []byte("u"), PasswordFlag: true, Password: []byte(pw)}))
	p, err := c.Next(time.Now().Add(loomtest.Wait))
	require.NoError(t, err)
	ack, ok := p.(*proto.Connack)
	require.True(t, ok, "got %v", p.PacketType())
	return ack.Reason, time.Since(start)
}

// Failed passwords from one address make its next refusals wait longer
// and longer; a client from another address is not slowed down. The
// delays grow from 100 ms by doubling; the test asks only that each wait
// be at least the one before and that the last be well past the first,
// with generous room for a loaded machine.
func TestFailedPasswordsSlowDownPerAddress(t *testing.T) {
	_, addr := loomtest.Start(t, loom.Options{Listeners: []loom.Listener{{Address: "tcp://127.0.0.1:0"}}}, password{})
	var waits []time.Duration
	for range 5 {
		rc, d := attempt(t, addr, "127.0.0.2", "wrong")
		require.Equal(t, proto.BadUserNameOrPassword, rc)
		waits = append(waits, d)
	}
	// Refusals 3, 4 and 5 wait at least 200, 400 and 800 ms.
	require.GreaterOrEqual(t, waits[2], 200*time.Millisecond, "%v", waits)
	require.GreaterOrEqual(t, waits[3], 400*time.Millisecond, "%v", waits)
	require.GreaterOrEqual(t, waits[4], 800*time.Millisecond, "%v", waits)

	// Meanwhile a good client from another address gets in without a wait
	// of the kind (well under the guesser's latest).
	rc, d := attempt(t, addr, "127.0.0.3", "right")
	require.Equal(t, proto.Success, rc)
	require.Less(t, d, waits[4]/2, "%v", waits)
	// So does a good client from the guesser's own address: the delay is for refusals.
	rc, d = attempt(t, addr, "127.0.0.2", "right")
	require.Equal(t, proto.Success, rc)
	require.Less(t, d, waits[4]/2)
}
