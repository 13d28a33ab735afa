package persist

import (
	"fmt"
	"log/slog"
)

// pebbleLogger sends Pebble's log to slog.
type pebbleLogger struct{ l *slog.Logger }

// Infof logs at DEBUG: Pebble's info lines are its routine ("Found 1
// WALs", "[JOB 1] WAL … replayed", on every start), of use to whoever
// debugs the store, not to whoever runs the broker. What a start replays
// or loses is reported apart, at INFO and above (recovery.go).
func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug(fmt.Sprintf(format, args...), "component", "pebble")
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...), "component", "pebble")
}

// Fatalf must not return: Pebble calls it on broken invariants and goes on
// as if the process had ended. A panic lets an embedding program's recovery
// decide, where os.Exit would take the broker down without a word.
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.Error(msg, "component", "pebble", "fatal", true)
	panic("pebble: " + msg)
}
