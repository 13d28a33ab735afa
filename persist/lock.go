package persist

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ErrLocked is wrapped by Open's error when the folder is held by another
// store: another process, or another Store of this one.
var ErrLocked = errors.New("persist: data folder locked")

// LockedError says who holds a store's folder. Pebble reports a held lock
// as the bare system error ("resource temporarily unavailable"), which
// tells an operator nothing about what to do.
type LockedError struct {
	Dir string
	// PID of the process holding the lock, as the system tells it; 0 when
	// it cannot be known (another PID namespace, a system without F_GETLK).
	PID int
	// SameProcess is set when the holder is another Store of this process.
	SameProcess bool
	err         error // Pebble's own error
}

func (e *LockedError) Error() string {
	switch {
	case e.SameProcess:
		return fmt.Sprintf("persist: the data folder %s is open already in this process", e.Dir)
	case e.PID > 0:
		return fmt.Sprintf("persist: the data folder %s is locked by another running broker (pid %d)", e.Dir, e.PID)
	}
	return fmt.Sprintf("persist: the data folder %s is locked by another running broker", e.Dir)
}

func (e *LockedError) Unwrap() []error { return []error{ErrLocked, e.err} }

// lockedError turns Pebble's failure to take dir's LOCK file into a
// *LockedError, or returns nil when the failure was something else.
func lockedError(dir string, err error) error {
	// Pebble keeps its own table of the locks this process holds and
	// refuses a second one with this message, before the system is asked.
	if strings.Contains(err.Error(), "lock held by current process") {
		return &LockedError{Dir: dir, PID: os.Getpid(), SameProcess: true, err: err}
	}
	if pid, held := lockHolder(filepath.Join(dir, "LOCK")); held {
		return &LockedError{Dir: dir, PID: pid, err: err}
	}
	return nil
}
