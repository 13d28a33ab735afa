package main

import (
	"bufio"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/proto"
)

// TestBinaryServesAndStopsOnSignal builds cmd/loom, runs it on a free
// port, completes a CONNECT against it, and stops it with SIGTERM: the
// exit must be clean (status 0).
func TestBinaryServesAndStopsOnSignal(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "loom")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, string(out))

	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		cmd := exec.Command(bin, "-listen", "127.0.0.1:0", "-data-dir", filepath.Join(t.TempDir(), "data"))
		stderr, err := cmd.StderrPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())

		addrs := make(chan string, 1)
		go func() {
			re := regexp.MustCompile(`msg=listening addr=(\S+)`)
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				if m := re.FindStringSubmatch(sc.Text()); m != nil {
					addrs <- m[1]
				}
			}
		}()
		var addr string
		select {
		case addr = <-addrs:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatal("broker did not say where it listens")
		}

		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		_, err = c.Write((&proto.Connect{Version: proto.V311, CleanStart: true, ClientID: []byte("bin")}).Append(nil, proto.V311))
		require.NoError(t, err)
		require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
		ack := make([]byte, 4)
		_, err = io.ReadFull(c, ack)
		require.NoError(t, err)
		require.Equal(t, []byte{0x20, 0x02, 0x00, 0x00}, ack) // CONNACK accepted
		_ = c.Close()

		require.NoError(t, cmd.Process.Signal(sig))
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			require.NoError(t, err, "exit after %v", sig)
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("broker did not exit after %v", sig)
		}
	}
}
