package persist

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2/record"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/loom-mqtt/loom/router"
	"github.com/loom-mqtt/loom/session"
)

// Pebble stops replaying a write-ahead log at the first chunk it cannot read
// and, for the newest log, takes that point for the end of the log: the
// rest is dropped without a word unless a later chunk proves the store had
// synced past it, which with Loom's sync pattern it rarely can. So the store
// reads each log itself just before Pebble replays it (recoveryFS.Open, the
// only place Pebble opens a log for reading), with Pebble's own record
// reader so that both stop at the same byte, and then looks past the stop
// point for intact chunks of the same log: those are data that was written
// and will not be replayed. What it finds is logged, and with
// Options.RefuseDamagedLog such a log makes Open fail before Pebble has
// replayed (and then deleted) it.

// Wire format of Pebble's log chunks (pebble/record): 32 KiB blocks, chunks
// never cross a block, each with a header of checksum (4), length (2),
// encoding (1), and in the recyclable and WAL-sync formats the log number
// (4) and for WAL-sync the synced offset (8).
const (
	walBlockSize      = 32 << 10
	walLegacyHeader   = 7
	walRecycleHeader  = walLegacyHeader + 4
	walSyncHeader     = walRecycleHeader + 8
	walBatchHeaderLen = 12 // sequence number (8), count (4)
)

var walCRC = crc32.MakeTable(crc32.Castagnoli)

// walChunkCRC is the masked checksum Pebble stores in a chunk header.
func walChunkCRC(b []byte) uint32 {
	c := crc32.Update(0, walCRC, b)
	return (c>>15 | c<<17) + 0xa282ead8
}

// walScan is what reading one write-ahead log found.
type walScan struct {
	path    string
	num     uint64
	size    int64
	newest  bool  // the highest-numbered log: an unclean end there is a crash's
	batches int   // write batches Pebble will replay
	changes int64 // keys in them
	good    int64 // bytes up to the end of the last whole batch

	// Past the stop point, when the log did not end cleanly:
	damaged     bool  // intact chunks of this log follow the stop point
	torn        bool  // the log ends in a partial batch
	lostBytes   int64 // from the stop point to the end of the last chunk of this log (or the partial batch)
	lostBatches int   // batches whose first chunk is intact past the stop point: a lower bound
	lostChanges int64 // keys in those: a lower bound of the changes lost
	cause       error // the reader's reason for stopping
}

// unreplayed says whether the scan found data that will not be replayed.
func (w *walScan) unreplayed() bool { return w.damaged || w.torn }

// refuse says whether RefuseDamagedLog keeps the store from opening on w: a
// damaged log, or any unclean end of a log older than the newest (Pebble
// refuses that one itself). A torn tail of the newest log is what a crash
// leaves, and opens.
func (w *walScan) refuse() bool { return w.damaged || (w.torn && !w.newest) }

// newWALReader builds Pebble's record reader. Its log-number parameter has a
// type in one of Pebble's internal packages; inference from NewReader's own
// signature names it without importing it.
func newWALReader[N ~uint64](mk func(io.Reader, N) *record.Reader, r io.Reader, num uint64) *record.Reader {
	return mk(r, N(num))
}

// scanWAL reads the log at path as Pebble's replay will, then looks past
// where it stops. An I/O error is returned; damage is in the result.
func scanWAL(fs vfs.FS, path string, num uint64) (w walScan, err error) {
	w = walScan{path: path, num: num}
	f, err := fs.Open(path)
	if err != nil {
		return w, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return w, err
	}
	w.size = st.Size()
	rr := newWALReader(record.NewReader, io.NewSectionReader(f, 0, w.size), num)
	var buf bytes.Buffer
	for {
		r, err := rr.Next()
		if err == nil {
			buf.Reset()
			_, err = io.Copy(&buf, r)
		}
		if errors.Is(err, io.EOF) {
			return w, nil // an end marker, or the end of the file at a record's end
		}
		if err != nil {
			if !record.IsInvalidRecord(err) {
				return w, err
			}
			w.cause = err
			break
		}
		w.batches++
		if b := buf.Bytes(); len(b) >= walBatchHeaderLen {
			w.changes += int64(binary.LittleEndian.Uint32(b[8:12]))
		}
		w.good = rr.Offset()
	}
	return w, w.scanTail(f)
}

// scanTail reads from w.good to the end of the file in whole blocks. It
// first follows the chunks as the writer laid them out, up to the first one
// that is not an intact chunk of this log (the bad point), then searches the
// rest byte by byte for intact chunks of this log.
func (w *walScan) scanTail(f io.ReaderAt) error {
	block := make([]byte, walBlockSize)
	var (
		bad     int64 = -1 // file offset of the bad point, once met
		ours    bool       // an intact chunk of this log lies past w.good
		lastEnd int64      // end of the last such chunk
		nonZero int64 = -1 // last non-zero byte past the bad point
		foreign bool       // the bad point holds an intact chunk of another log
		torn    int        // 1 if the bad point is the header of a batch of this log
	)
	for start := w.good &^ (walBlockSize - 1); start < w.size; start += walBlockSize {
		n := int(min(walBlockSize, w.size-start))
		if _, err := f.ReadAt(block[:n], start); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		b := block[:n]
		pos := 0
		if start < w.good {
			pos = int(w.good - start)
		}
		for pos < n {
			at := start + int64(pos)
			if bad < 0 {
				rest := b[pos:]
				if len(rest) < walRecycleHeader || (len(rest) < walSyncHeader && allZero(rest)) {
					break // the writer pads the end of a block with zeros
				}
				if end, first, count, ok := w.chunkAt(b, pos); ok {
					ours, lastEnd = true, start+int64(end)
					if first {
						w.lostBatches++
						w.lostChanges += count
					}
					pos = end
					continue
				}
				bad, foreign = at, otherLogChunk(b, pos, w.num)
				if _, position, num, ok := chunkHeader(b, pos); ok && num == uint32(w.num) && position <= 2 {
					// A batch whose first chunk is cut short or damaged:
					// count it, not its keys (its header is not trusted).
					torn = 1
				}
			}
			if b[pos] != 0 {
				nonZero = at
			}
			if end, first, count, ok := w.chunkAt(b, pos); ok {
				w.damaged, lastEnd = true, start+int64(end)
				if first {
					w.lostBatches++
					w.lostChanges += count
				}
				nonZero = lastEnd - 1
				pos = end
				continue
			}
			pos++
		}
	}
	w.lostBatches += torn
	switch {
	case w.damaged:
		w.lostBytes = lastEnd - w.good
	case ours:
		// A batch begun and not finished: the file ends inside it.
		w.torn, w.lostBytes = true, lastEnd-w.good
	case bad >= 0 && !foreign && nonZero >= 0:
		// Something that is no chunk: a header torn as it was written.
		w.torn, w.lostBytes = true, nonZero+1-w.good
	default:
		// Zeros of a preallocated file, or the old contents of a recycled
		// one: the log simply ends here.
		w.lostBatches, w.lostChanges = 0, 0
	}
	return nil
}

// chunkAt checks for an intact chunk of log w.num at b[pos:] (b one block).
// It returns where the chunk ends in b, whether it begins a batch, and the
// batch's key count if its header is in the chunk.
func (w *walScan) chunkAt(b []byte, pos int) (end int, first bool, count int64, ok bool) {
	hs, position, num, ok := chunkHeader(b, pos)
	if !ok || num != uint32(w.num) {
		return 0, false, 0, false
	}
	length := int(binary.LittleEndian.Uint16(b[pos+4:]))
	end = pos + hs + length
	if end > len(b) || binary.LittleEndian.Uint32(b[pos:]) != walChunkCRC(b[pos+6:end]) {
		return 0, false, 0, false
	}
	first = position == 1 || position == 2 // full or first
	if first && length >= walBatchHeaderLen {
		count = int64(binary.LittleEndian.Uint32(b[pos+hs+8:]))
	}
	return end, first, count, true
}

// otherLogChunk reports an intact chunk of another log at b[pos:]: the old
// contents of a recycled file, or the end marker (which carries the next
// log's number and no payload).
func otherLogChunk(b []byte, pos int, num uint64) bool {
	hs, _, n, ok := chunkHeader(b, pos)
	if !ok || n == uint32(num) {
		return false
	}
	end := pos + hs + int(binary.LittleEndian.Uint16(b[pos+4:]))
	if end > len(b) {
		return false
	}
	sum := binary.LittleEndian.Uint32(b[pos:])
	return sum == walChunkCRC(b[pos+6:end]) || (n == uint32(num)+1 && sum == 0 && end == pos+hs)
}

// chunkHeader decodes the header of a recyclable or WAL-sync chunk (the
// formats that carry a log number, the only ones Pebble writes at Loom's
// format version): its size, the chunk's position in its batch (1 full, 2
// first, 3 middle, 4 last) and the log number.
func chunkHeader(b []byte, pos int) (hs, position int, num uint32, ok bool) {
	if pos+walRecycleHeader > len(b) {
		return 0, 0, 0, false
	}
	switch enc := int(b[pos+6]); {
	case enc >= 5 && enc <= 8:
		hs, position = walRecycleHeader, enc-4
	case enc >= 9 && enc <= 12:
		hs, position = walSyncHeader, enc-8
	default:
		return 0, 0, 0, false
	}
	if pos+hs > len(b) {
		return 0, 0, 0, false
	}
	return hs, position, binary.LittleEndian.Uint32(b[pos+7:]), true
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// walNum is the number of a log file's name: "000002.log", or a failover
// segment "000002-001.log".
func walNum(base string) (uint64, bool) {
	name, ok := strings.CutSuffix(base, ".log")
	if !ok {
		return 0, false
	}
	name, _, _ = strings.Cut(name, "-")
	n, err := strconv.ParseUint(name, 10, 64)
	return n, err == nil
}

// ErrDamagedLog is wrapped by the error of an Open that
// Options.RefuseDamagedLog stopped.
var ErrDamagedLog = errors.New("persist: damaged write-ahead log")

// recoveryFS is Pebble's file system during Open: it scans each log as
// Pebble opens it for replay. Pebble opens logs for reading only then.
type recoveryFS struct {
	vfs.FS
	dir    string
	log    *slog.Logger
	refuse bool
	newest uint64 // highest log number in dir before Open
	active atomic.Bool

	mu    sync.Mutex
	scans []walScan
}

func newRecoveryFS(fs vfs.FS, o Options) *recoveryFS {
	if fs == nil {
		fs = vfs.Default
	}
	r := &recoveryFS{FS: fs, dir: o.Dir, log: o.Logger, refuse: o.RefuseDamagedLog}
	if names, err := fs.List(o.Dir); err == nil {
		for _, n := range names {
			if num, ok := walNum(n); ok && num > r.newest {
				r.newest = num
			}
		}
	}
	r.active.Store(true)
	return r
}

func (r *recoveryFS) Open(name string, opts ...vfs.OpenOption) (vfs.File, error) {
	if r.active.Load() {
		if num, ok := walNum(r.PathBase(name)); ok {
			w, err := scanWAL(r.FS, name, num)
			if err != nil {
				return nil, fmt.Errorf("persist: read write-ahead log %s: %w", name, err)
			}
			w.newest = num == r.newest
			r.mu.Lock()
			r.scans = append(r.scans, w)
			r.mu.Unlock()
			r.report(&w)
			if r.refuse && w.refuse() {
				return nil, fmt.Errorf("%w %s: %d bytes after offset %d (%d batches, %d changes) cannot be replayed; not opening the store (refuse-damaged-log): %v",
					ErrDamagedLog, name, w.lostBytes, w.good, w.lostBatches, w.lostChanges, w.cause)
			}
		}
	}
	return r.FS.Open(name, opts...)
}

// report logs what one scan found that will not be replayed.
func (r *recoveryFS) report(w *walScan) {
	if !w.unreplayed() {
		return
	}
	args := []any{"dir", r.dir, "file", w.path, "size", w.size,
		"replayed_bytes", w.good, "replayed_batches", w.batches,
		"lost_bytes", w.lostBytes, "lost_batches", w.lostBatches, "lost_changes", w.lostChanges,
		"cause", fmt.Sprint(w.cause)}
	switch {
	case w.damaged:
		r.log.Error("persist: write-ahead log is damaged: the data after the damage cannot be replayed and is lost", args...)
	case !w.newest:
		r.log.Error("persist: write-ahead log older than the newest ends in a partial batch", args...)
	default:
		r.log.Warn("persist: write-ahead log ends in a partial batch, dropped (normal after a crash or power loss)", args...)
	}
}

// finish ends scanning and logs what the logs held.
func (r *recoveryFS) finish() {
	r.active.Store(false)
	r.mu.Lock()
	defer r.mu.Unlock()
	var batches int
	var changes, good, lost int64
	damaged := 0
	for i := range r.scans {
		w := &r.scans[i]
		batches += w.batches
		changes += w.changes
		good += w.good
		lost += w.lostBytes
		if w.unreplayed() {
			damaged++
		}
	}
	r.log.Info("persist: write-ahead logs replayed", "dir", r.dir, "logs", len(r.scans),
		"batches", batches, "changes", changes, "bytes", good,
		"logs_not_fully_replayed", damaged, "bytes_not_replayed", lost)
}

// loadTally counts what Load hands its visitor.
type loadTally struct {
	wills, counters, sessions, subs, retained, pending, inbound int
}

// wrap returns v with each of its functions counting into t.
func (t *loadTally) wrap(v session.LoadVisitor) session.LoadVisitor {
	if f := v.Will; f != nil {
		v.Will = func(cid string, w session.WillRecord) { t.wills++; f(cid, w) }
	}
	if f := v.Counters; f != nil {
		v.Counters = func(c session.Counters) { t.counters++; f(c) }
	}
	if f := v.Session; f != nil {
		v.Session = func(r session.SessionRecord) { t.sessions++; f(r) }
	}
	if f := v.Subscription; f != nil {
		v.Subscription = func(cid, filter string, o router.SubOptions) { t.subs++; f(cid, filter, o) }
	}
	if f := v.Retained; f != nil {
		v.Retained = func(m *router.Message) { t.retained++; f(m) }
	}
	if f := v.Pending; f != nil {
		v.Pending = func(cid string, r session.PendingRecord) { t.pending++; f(cid, r) }
	}
	if f := v.Inbound; f != nil {
		v.Inbound = func(cid string, pid uint16) { t.inbound++; f(cid, pid) }
	}
	return v
}

func (t *loadTally) log(l *slog.Logger, dir string) {
	l.Info("persist: loaded", "dir", dir, "sessions", t.sessions, "subscriptions", t.subs,
		"retained", t.retained, "pending", t.pending, "inbound_qos2", t.inbound, "wills", t.wills)
}
