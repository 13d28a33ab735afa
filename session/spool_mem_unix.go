//go:build unix

package session

import "golang.org/x/sys/unix"

// mapBlock maps n bytes of anonymous memory, outside Go's heap: the
// collector neither scans nor counts it, and unmapBlock returns it to the
// system at once. If the system refuses, the block comes from the heap.
func mapBlock(n int) []byte {
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return make([]byte, n)
	}
	return b
}

func unmapBlock(b []byte) {
	// A block from the heap is not known to Munmap, which says so and
	// leaves it to the collector.
	_ = unix.Munmap(b)
}
