//go:build unix

package persist

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// lockHolder asks the system whether another process holds the record lock
// Pebble takes on its LOCK file (fcntl F_SETLK on the whole file), and
// which: F_GETLK reports the first conflicting lock with its owner's pid.
// Locks of this process never conflict with its own probe.
func lockHolder(path string) (pid int, held bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart}
	if err := unix.FcntlFlock(f.Fd(), unix.F_GETLK, &lk); err != nil || lk.Type == unix.F_UNLCK {
		return 0, false
	}
	return int(lk.Pid), true
}
