package main

import (
	"bytes"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestProbeListeners(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	busy := "tcp://" + ln.Addr().String()

	err = probeListeners(lst("tcp://127.0.0.1:0", busy))
	require.ErrorIs(t, err, syscall.EADDRINUSE)
	require.Contains(t, err.Error(), busy)
	require.Contains(t, hint(err), "pick another address with -listen")

	dir := t.TempDir()
	served := filepath.Join(dir, "served.sock")
	uln, err := net.Listen("unix", served)
	require.NoError(t, err)
	defer uln.Close()
	err = probeListeners(lst("unix://" + served))
	require.ErrorIs(t, err, errUnixInUse)
	require.Contains(t, hint(err), "-listen")

	left := filepath.Join(dir, "left.sock")
	require.NoError(t, os.WriteFile(left, nil, 0o600))
	err = probeListeners(lst("unix://" + left))
	require.ErrorIs(t, err, errUnixLeftOver)
	require.Contains(t, hint(err), "remove the file")

	require.NoError(t, probeListeners(lst("tcp://127.0.0.1:0", "unix://"+filepath.Join(dir, "free.sock"))))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 2, "the probe created a file") // served.sock, left.sock
}

// TestBusyPortCreatesNothing runs loom's whole entry on a port that is
// taken: it fails with a hint to pick another with -listen, before the data
// folder is created.
func TestBusyPortCreatesNothing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	defer slog.SetDefault(slog.Default())

	wd := t.TempDir()
	t.Chdir(wd)
	var stdout, stderr bytes.Buffer
	require.Equal(t, 1, run([]string{"-listen", ln.Addr().String()}, &stdout, &stderr))
	require.Contains(t, stderr.String(), "address already in use")
	require.Contains(t, stderr.String(), `hint="another program (a broker already running?) listens there: stop it, or pick another address with -listen"`)
	entries, err := os.ReadDir(wd)
	require.NoError(t, err)
	require.Empty(t, entries, "./loom-data was created for a broker that could not listen")
}
