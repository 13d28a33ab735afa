//go:build unix

package session

import "syscall"

// shutdownWrite ends the sending direction of socket fd: the peer reads
// the end of the stream after what was sent.
func shutdownWrite(fd int) error { return syscall.Shutdown(fd, syscall.SHUT_WR) }
