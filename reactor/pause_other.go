//go:build !linux || poll_opt

package reactor

import "errors"

// setInterest: pausing a connection is implemented for gnet's default epoll
// poller only (pause_linux.go). On other systems publishers are read at full
// speed. Under gnet's poll_opt build tag the epoll event data holds a
// pointer of gnet's, which rewriting the event with a descriptor would
// corrupt: pausing is off there too.
func setInterest(int, int, bool, bool) error {
	return errors.New("reactor: pausing reads is not supported here")
}
