package reactor

import (
	"errors"
	"net"
	"syscall"
)

// fdBudget is the connection cap for a process whose soft open-file limit
// is what getrlimit says, keeping reserve descriptors free.
func fdBudget(reserve int) int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == 0 {
		return 1024 - reserve
	}
	limit := int(min(rl.Cur, 1<<30))
	if limit-reserve < 16 {
		return 16
	}
	return limit - reserve
}

// RaiseFileLimit lifts the soft open-file limit to the hard one, for the
// standalone binary (a library leaves the process's limits alone).
func RaiseFileLimit() (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			return 0, err
		}
	}
	return uint64(rl.Cur), nil // int64 on FreeBSD
}

// sockName reads the bound address of a duplicated listener descriptor and
// closes the duplicate.
func sockName(fd int) (net.Addr, error) {
	defer syscall.Close(fd)
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		return nil, err
	}
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]).To16(), Port: a.Port}, nil
	case *syscall.SockaddrInet6:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}, nil
	case *syscall.SockaddrUnix:
		return &net.UnixAddr{Name: a.Name, Net: "unix"}, nil
	}
	return nil, errors.New("reactor: unknown listener address type")
}

// shutdownWrite half-closes fd: the client reads what was sent, then the
// end of the stream.
func shutdownWrite(fd int) error { return syscall.Shutdown(fd, syscall.SHUT_WR) }
