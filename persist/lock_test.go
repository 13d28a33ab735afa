package persist

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestOpenLockedInThisProcess(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, SyncNone)
	defer s.Close()
	_, err := Open(Options{Dir: dir, Logger: quiet})
	require.ErrorIs(t, err, ErrLocked)
	var le *LockedError
	require.ErrorAs(t, err, &le)
	require.True(t, le.SameProcess)
	require.Equal(t, "persist: the data folder "+dir+" is open already in this process", err.Error())
}

// TestOpenLockedByAnotherProcess holds a store in a child process (this
// test binary, running TestHoldStoreHelper) and opens it here: the error
// says a broker holds it, and which.
func TestOpenLockedByAnotherProcess(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the lock's owner is asked with fcntl(F_GETLK)")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHoldStoreHelper$")
	cmd.Env = append(os.Environ(), "LOOM_PERSIST_HOLD="+dir)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	defer func() { _ = stdin.Close(); _ = cmd.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "holding\n", line)

	_, err = Open(Options{Dir: dir, Logger: quiet})
	require.ErrorIs(t, err, ErrLocked)
	var le *LockedError
	require.ErrorAs(t, err, &le)
	require.False(t, le.SameProcess)
	require.Equal(t, cmd.Process.Pid, le.PID)
	require.Equal(t, fmt.Sprintf("persist: the data folder %s is locked by another running broker (pid %d)", dir, cmd.Process.Pid), err.Error())

	// Once the holder has closed, the folder opens.
	require.NoError(t, stdin.Close())
	require.NoError(t, cmd.Wait())
	s, err := Open(Options{Dir: dir, Logger: quiet})
	require.NoError(t, err)
	require.NoError(t, s.Close())
}

// TestHoldStoreHelper is the child of TestOpenLockedByAnotherProcess: it
// opens the store in $LOOM_PERSIST_HOLD, says so, and closes it when its
// standard input ends.
func TestHoldStoreHelper(t *testing.T) {
	dir := os.Getenv("LOOM_PERSIST_HOLD")
	if dir == "" {
		t.Skip("run by TestOpenLockedByAnotherProcess")
	}
	s := open(t, dir, SyncNone)
	fmt.Println("holding")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	require.NoError(t, s.Close())
}

func TestOpenOtherErrorsAreNotLocked(t *testing.T) {
	// A file where the folder should be: not a lock problem.
	f := t.TempDir() + "/file"
	require.NoError(t, os.WriteFile(f, nil, 0o600))
	_, err := Open(Options{Dir: f, Logger: quiet})
	require.Error(t, err)
	require.False(t, errors.Is(err, ErrLocked), err.Error())
}
