package reactor

import (
	"reflect"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// pollerFD finds the epoll descriptor of gnet's event loop el, or -1.
// gnet v2 keeps it in eventloop.poller.fd; reading an unexported field
// through reflect is allowed, writing is not (and not needed). If a gnet
// release moves it, pausing is off rather than wrong: the result is checked
// against the kernel on first use (setInterest fails on a descriptor that
// is not an epoll set holding the connection).
func pollerFD(el gnet.EventLoop) int {
	v := reflect.ValueOf(el)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return -1
	}
	p := v.Elem().FieldByName("poller")
	if !p.IsValid() || p.Kind() != reflect.Pointer || p.IsNil() || p.Elem().Kind() != reflect.Struct {
		return -1
	}
	fd := p.Elem().FieldByName("fd")
	if !fd.IsValid() || fd.Kind() != reflect.Int {
		return -1
	}
	return int(fd.Int())
}

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
