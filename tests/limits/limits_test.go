package limits_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
)

// gnet stops its whole engine when accept fails for want of descriptors, so
// the broker keeps a connection cap below the open-file limit and closes
// connections past it as soon as they are accepted (design.md,
// "Descriptors"). These tests check the cap and that the listener survives.

// rbTryConnect opens a connection and sends a 3.1.1 CONNECT. It returns the
// connection if the broker accepted it with CONNACK, or nil if the broker
// closed it without a word. Anything else is an error.
func rbTryConnect(addr, id string) (net.Conn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(loomtest.Wait))
	pkt := (&proto.Connect{Version: proto.V311, CleanStart: true, ClientID: []byte(id)}).Append(nil, proto.V311)
	if _, err := c.Write(pkt); err != nil && !loomtest.Closed(err) && !rbBrokenPipe(err) {
		c.Close()
		return nil, err
	}
	var ack [4]byte
	n, err := io.ReadFull(c, ack[:])
	switch {
	case n == 0 && loomtest.Closed(err):
		c.Close()
		return nil, nil // refused: closed at once
	case err != nil:
		c.Close()
		return nil, fmt.Errorf("%s: read %d bytes: %w", id, n, err)
	case ack != [4]byte{0x20, 2, 0, 0}:
		c.Close()
		return nil, fmt.Errorf("%s: unexpected answer % x", id, ack)
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

func rbBrokenPipe(err error) bool { return err != nil && strings.Contains(err.Error(), "broken pipe") }

// rbNoEngineError requires that the broker's listeners are still running.
func rbNoEngineError(t *testing.T, srv *loom.Server) {
	t.Helper()
	select {
	case err := <-srv.Done():
		t.Fatalf("the engine stopped: %v", err)
	default:
	}
}

// TestConnectionCap: with MaxConnections 20, of 30 clients connecting at
// once 20 get CONNACK and 10 are closed without one; when 10 leave, 10 new
// ones get in; the listener keeps running throughout.
func TestConnectionCap(t *testing.T) {
	srv, addr := loomtest.Start(t, loom.Options{MaxConnections: 20})

	var (
		mu       sync.Mutex
		accepted []net.Conn
		refused  int
		errs     []error
		wg       sync.WaitGroup
	)
	t.Cleanup(func() {
		for _, c := range accepted {
			c.Close()
		}
	})
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := rbTryConnect(addr, fmt.Sprintf("rb-cap-%d", i))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				errs = append(errs, err)
			case c == nil:
				refused++
			default:
				accepted = append(accepted, c)
			}
		}()
	}
	wg.Wait()
	require.Empty(t, errs)
	require.Len(t, accepted, 20)
	require.Equal(t, 10, refused)
	rbNoEngineError(t, srv)

	// Ten leave; ten others take their places, and the next is refused.
	for _, c := range accepted[:10] {
		c.Close()
	}
	accepted = accepted[10:]
	loomtest.Eventually(t, "the ten leavers are gone", func() bool { return srv.Stats().OpenConnections == 10 })
	for i := range 10 {
		c, err := rbTryConnect(addr, fmt.Sprintf("rb-cap-again-%d", i))
		require.NoError(t, err)
		require.NotNil(t, c, "connection %d refused below the cap", i)
		accepted = append(accepted, c)
	}
	c, err := rbTryConnect(addr, "rb-cap-one-too-many")
	require.NoError(t, err)
	require.Nil(t, c, "a 21st connection was accepted")
	require.EqualValues(t, 20, srv.Stats().OpenConnections)
	rbNoEngineError(t, srv)
}

// rbFDChildEnv marks the process re-executed by TestDescriptorBudget.
const rbFDChildEnv = "LOOM_RB_FD_CHILD"

// rbChildFileLimit is the open-file limit of the child broker: small enough
// that the clients below exhaust it without the descriptor budget.
const rbChildFileLimit = 256

// TestDescriptorBudget runs a broker in a child process whose open-file
// limit is rbChildFileLimit and with the default connection cap, and opens
// more connections than that limit allows. Without the budget accept would
// fail with EMFILE and gnet would stop the whole engine. The broker must
// instead refuse the excess, keep serving, and accept again once clients
// leave.
func TestDescriptorBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary; skipped with -short")
	}
	var rl syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl))
	if rl.Max < rbChildFileLimit {
		t.Skipf("hard open-file limit %d is below the child's %d", rl.Max, rbChildFileLimit)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestDescriptorBudgetChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), rbFDChildEnv+"=1")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			lines <- s.Text()
		}
	}()
	var addr string
	timeout := time.After(4 * loomtest.Wait)
	for addr == "" {
		select {
		case l, ok := <-lines:
			require.True(t, ok, "the child ended before it listened")
			addr, _ = strings.CutPrefix(l, "RB-ADDR ")
			if addr == l {
				addr = ""
			}
		case <-timeout:
			t.Fatal("the child broker did not start")
		}
	}

	// A burst first, as a gateway sees when a whole fleet reconnects after
	// an outage: three times the file limit dialled at once. gnet's single
	// acceptor would hold them all before any was refused and die on EMFILE;
	// each loop accepting for itself refuses the excess as it goes.
	var (
		flood   []net.Conn
		floodMu sync.Mutex
		wg      sync.WaitGroup
	)
	for i := range 3 * rbChildFileLimit {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", addr, loomtest.Wait)
			if err != nil {
				return // refused at the door or reset: both fine here
			}
			_, _ = c.Write((&proto.Connect{Version: proto.V311, CleanStart: true,
				ClientID: []byte(fmt.Sprint("rb-flood-", i))}).Append(nil, proto.V311))
			floodMu.Lock()
			flood = append(flood, c)
			floodMu.Unlock()
		}()
	}
	wg.Wait()
	for _, c := range flood {
		c.Close()
	}
	// The broker sees the flood leave on its own time.
	loomtest.Eventually(t, "a client is served after the flood", func() bool {
		c, err := rbTryConnect(addr, "rb-after-flood")
		if err != nil || c == nil {
			return false
		}
		c.Close()
		return true
	})
	time.Sleep(500 * time.Millisecond) // the rest of the flood's closes

	var accepted []net.Conn
	defer func() {
		for _, c := range accepted {
			c.Close()
		}
	}()
	refused := 0
	for i := range rbChildFileLimit + 50 {
		c, err := rbTryConnect(addr, fmt.Sprintf("rb-fd-%d", i))
		require.NoError(t, err, "connection %d", i)
		if c == nil {
			refused++
			continue
		}
		accepted = append(accepted, c)
	}
	t.Logf("child with %d descriptors: %d accepted, %d refused", rbChildFileLimit, len(accepted), refused)
	require.Greater(t, refused, 50, "the cap did not hold below the file limit")
	require.Greater(t, len(accepted), rbChildFileLimit/4, "the cap is far below the file limit")

	// Every accepted connection is still served.
	for i, c := range accepted {
		_ = c.SetDeadline(time.Now().Add(loomtest.Wait))
		_, err := c.Write(proto.AppendPingreq(nil))
		require.NoError(t, err)
		var resp [2]byte
		_, err = io.ReadFull(c, resp[:])
		require.NoError(t, err, "accepted connection %d lost", i)
		require.Equal(t, [2]byte{0xD0, 0}, resp)
	}

	// Ten leave; ten new ones get in (the broker notices the leavers on its
	// own time, so a refusal is retried).
	for _, c := range accepted[:10] {
		c.Close()
	}
	accepted = accepted[10:]
	deadline := time.Now().Add(2 * loomtest.Wait)
	for i := 0; i < 10; {
		require.True(t, time.Now().Before(deadline), "only %d new connections got in after 10 left", i)
		c, err := rbTryConnect(addr, fmt.Sprintf("rb-fd-again-%d", i))
		require.NoError(t, err)
		if c == nil {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		accepted = append(accepted, c)
		i++
	}

	require.NoError(t, stdin.Close()) // the child checks its engine and exits
	for l := range lines {
		if strings.HasPrefix(l, "RB-ENGINE ") {
			require.Equal(t, "RB-ENGINE running", l)
			require.NoError(t, cmd.Wait())
			return
		}
	}
	t.Fatal("the child ended without reporting its engine")
}

// TestDescriptorBudgetChild is the broker side of TestDescriptorBudget; it
// does nothing unless run by it.
func TestDescriptorBudgetChild(t *testing.T) {
	if os.Getenv(rbFDChildEnv) == "" {
		t.Skip("run by TestDescriptorBudget")
	}
	var rl syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl))
	rl.Cur = rbChildFileLimit
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl))

	srv, addr := loomtest.Start(t, loom.Options{}) // default cap, from the limit
	fmt.Printf("RB-ADDR %s\n", addr)
	_, _ = io.Copy(io.Discard, os.Stdin) // until the parent is done
	select {
	case err := <-srv.Done():
		fmt.Printf("RB-ENGINE stopped: %v\n", err)
	default:
		fmt.Printf("RB-ENGINE running\n")
	}
}
