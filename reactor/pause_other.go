//go:build !linux

package reactor

import "errors"

// setInterest: pausing a connection is implemented for epoll only; on other
// systems publishers are read at full speed.
func setInterest(int, int, bool, bool) error {
	return errors.New("reactor: pausing reads is not supported here")
}
