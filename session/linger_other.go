//go:build !unix

package session

import "errors"

// shutdownWrite is not available here: the connection is closed instead.
func shutdownWrite(int) error { return errors.New("session: no half-close on this system") }
