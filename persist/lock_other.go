//go:build !unix

package persist

// lockHolder cannot ask who holds a lock here; Open's error stays Pebble's.
func lockHolder(string) (pid int, held bool) { return 0, false }
