package persist

import (
	"fmt"
	"log/slog"
	"time"
)

// SyncPolicy says when committed changes reach stable storage.
type SyncPolicy int

const (
	// Under every policy a commit returns (and AfterDurable callbacks run,
	// which is when the broker acknowledges a QoS 1/2 message) only once its
	// log record is written to the operating system, so a kill of the
	// process loses nothing acknowledged; a commit that fails hands its
	// error to those callbacks, and the broker acknowledges nothing of it. The policies differ in what a
	// power loss or a kernel crash may take.

	// SyncInterval fsyncs the log at most every Options.Interval while
	// there are commits not yet synced (group commit): a power loss may lose
	// about the last interval.
	SyncInterval SyncPolicy = iota
	// SyncAlways fsyncs every commit before it returns: an acknowledged
	// message survives a power loss too.
	SyncAlways
	// SyncNone never fsyncs on its own; the OS writes back when it likes
	// (Linux: within about 30 s). A power loss loses whatever the OS had not
	// yet written. Close still syncs.
	SyncNone
)

// String returns the name ParseSync accepts.
func (p SyncPolicy) String() string {
	switch p {
	case SyncInterval:
		return "interval"
	case SyncAlways:
		return "always"
	case SyncNone:
		return "none"
	}
	return fmt.Sprintf("SyncPolicy(%d)", int(p))
}

// ParseSync reads a policy name: "always", "interval" or "none".
func ParseSync(s string) (SyncPolicy, error) {
	switch s {
	case "interval":
		return SyncInterval, nil
	case "always":
		return SyncAlways, nil
	case "none":
		return SyncNone, nil
	}
	return 0, fmt.Errorf("persist: unknown sync policy %q (want always, interval or none)", s)
}

// Defaults, chosen for a 512 MB ARM board; a larger machine may raise them.
const (
	// DefaultInterval bounds what a power loss can take under SyncInterval.
	// One synced commit costs ~170 µs here (5.9k/s from one goroutine,
	// reactor-notes), so syncing at most every 5 ms spends under 4% of the
	// disk's time on fsync under a steady stream of changes, and nothing
	// when idle (the timer runs only while something is unsynced). On an
	// SD card whose fsync takes longer than the interval, syncs simply run
	// back to back.
	DefaultInterval     = 5 * time.Millisecond
	DefaultCacheSize    = 8 << 20
	DefaultMemTableSize = 4 << 20
	// DefaultMaxOpenFiles leaves the rest of the descriptor budget to
	// sockets.
	DefaultMaxOpenFiles = 256
	// DefaultCompactEvery is how often a store compacts its whole key space
	// on its own. Pebble compacts as the store grows; this brings the space
	// of deleted sessions and messages back on a store that shrinks and then
	// stays quiet, at the cost of one full compaction per period.
	DefaultCompactEvery = 6 * time.Hour
)

// Options configure Open. Zero values take the defaults above.
type Options struct {
	Dir          string
	Sync         SyncPolicy
	Interval     time.Duration // period of the group commit under SyncInterval
	CacheSize    int64         // Pebble block cache, bytes
	MemTableSize uint64        // bytes
	MaxOpenFiles int           // Pebble's descriptors share the process limit with sockets
	Logger       *slog.Logger  // Pebble's log goes here; nil: slog.Default()
	// CompactEvery is the period of the store's own full compaction; 0 takes
	// DefaultCompactEvery, a negative value turns it off.
	CompactEvery time.Duration
	// RefuseDamagedLog makes Open fail, with an error wrapping ErrDamagedLog
	// that names the folder and the file, when a write-ahead log holds data
	// past a damaged stretch (data that was written and would be lost), or
	// an older log ends in a partial batch. Without it the store opens on
	// what can be replayed and logs an ERROR naming the file and what is
	// lost. A partial batch at the end of the newest log, which a crash
	// leaves, is logged at WARN and opens either way.
	RefuseDamagedLog bool
}

func (o *Options) setDefaults() {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.CacheSize <= 0 {
		o.CacheSize = DefaultCacheSize
	}
	if o.MemTableSize == 0 {
		o.MemTableSize = DefaultMemTableSize
	}
	if o.MaxOpenFiles <= 0 {
		o.MaxOpenFiles = DefaultMaxOpenFiles
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.CompactEvery == 0 {
		o.CompactEvery = DefaultCompactEvery
	}
}
