//go:build !linux

package reactor

import (
	"errors"

	"github.com/panjf2000/gnet/v2"
)

// pollerFD: pausing a connection is implemented for epoll only; on other
// systems publishers are read at full speed.
func pollerFD(gnet.EventLoop) int { return -1 }

func setInterest(int, int, bool, bool) error {
	return errors.New("reactor: pausing reads is not supported here")
}
