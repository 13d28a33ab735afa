//go:build linux && !poll_opt

package reactor

import "golang.org/x/sys/unix"

// setInterest sets the events the loop's epoll set watches on fd, as gnet's
// own poller does (level-triggered, the descriptor in the event data; gnet
// built without its poll_opt tag).
func setInterest(poller, fd int, read, write bool) error {
	var ev uint32
	if read {
		ev |= unix.EPOLLIN | unix.EPOLLPRI
	}
	if write {
		ev |= unix.EPOLLOUT
	}
	return unix.EpollCtl(poller, unix.EPOLL_CTL_MOD, fd, &unix.EpollEvent{Fd: int32(fd), Events: ev})
}
