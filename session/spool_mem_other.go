//go:build !unix

package session

// Without mmap the spool's blocks come from Go's heap.
func mapBlock(n int) []byte { return make([]byte, n) }

func unmapBlock([]byte) {}
