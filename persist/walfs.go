package persist

import (
	"sync"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// walFS is the file system the store gives Pebble under the "interval" and
// "none" policies. It lets every commit wait until its log record is
// written to the operating system, and no longer: an fsync of the
// write-ahead log is made only when the store asks for one (syncWAL).
//
// Why: a commit with pebble.NoSync returns as soon as its record is in the
// log writer's buffer in the process; Pebble's flusher goroutine writes it
// to the file a little later, so a kill of the process in between loses a
// commit that had returned — and, before this, a message already
// acknowledged to its publisher. A commit with pebble.Sync waits for the
// flusher to write the record and sync the file. With the WAL files' Sync
// made lazy here, such a commit means "written to the OS": it survives a
// kill of the process, and costs a write(2) rather than an fsync. The sync
// itself is left to the policy: every Interval under "interval", the OS's
// own writeback under "none". Other files (tables, MANIFEST, OPTIONS,
// directories) keep their real syncs: Pebble's structure stays consistent
// on a power loss, which may lose at most the unsynced tail of the log.
type walFS struct {
	vfs.FS
	mu    sync.Mutex
	dirty map[*walFile]struct{} // WAL files written since their last real sync
}

func newWALFS(fs vfs.FS) *walFS {
	return &walFS{FS: fs, dirty: make(map[*walFile]struct{})}
}

// walCategory is the category Pebble creates its write-ahead logs with.
const walCategory vfs.DiskWriteCategory = "pebble-wal"

func (fs *walFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, category)
	return fs.wrap(f, category), err
}

func (fs *walFS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, category)
	return fs.wrap(f, category), err
}

func (fs *walFS) wrap(f vfs.File, category vfs.DiskWriteCategory) vfs.File {
	if f == nil || category != walCategory {
		return f
	}
	return &walFile{File: f, fs: fs}
}

// syncWAL makes every commit so far durable: it fsyncs each WAL file
// written since its last sync.
func (fs *walFS) syncWAL() error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var first error
	for f := range fs.dirty {
		if err := f.File.SyncData(); err != nil && first == nil {
			first = err
		}
		delete(fs.dirty, f)
	}
	return first
}

// walFile is a write-ahead log whose syncs only mark it dirty.
type walFile struct {
	vfs.File
	fs *walFS
}

func (f *walFile) mark() {
	f.fs.mu.Lock()
	f.fs.dirty[f] = struct{}{}
	f.fs.mu.Unlock()
}

func (f *walFile) Sync() error     { f.mark(); return nil }
func (f *walFile) SyncData() error { f.mark(); return nil }

// SyncTo promises nothing (fullSync false), as its contract allows.
func (f *walFile) SyncTo(int64) (bool, error) { f.mark(); return false, nil }

// Close syncs a log that is still dirty: Pebble closes a log when it
// switches to the next one, and a policy's later syncWAL no longer reaches
// the closed file.
func (f *walFile) Close() error {
	f.fs.mu.Lock()
	_, dirty := f.fs.dirty[f]
	delete(f.fs.dirty, f)
	f.fs.mu.Unlock()
	var err error
	if dirty {
		err = f.File.SyncData()
	}
	if cerr := f.File.Close(); err == nil {
		err = cerr
	}
	return err
}
