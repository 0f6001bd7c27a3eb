//go:build linux && race

package httpproxy

import (
	"errors"
	"syscall"
)

// Under the race detector the reads and writes go through package
// syscall, whose annotations tell the detector that bytes sent on one
// socket and read on another order the two goroutines, as with net.Conn.
// Raw system calls carry no such annotation, and tests that synchronise
// through the network would be reported as races. Readiness, deadlines
// and the rest of rawIOConn's path stay the same.

func sysRead(fd uintptr, p []byte) (int, syscall.Errno) {
	n, err := syscall.Read(int(fd), p)
	return max(n, 0), errnoOf(err)
}

func sysWrite(fd uintptr, p []byte) (int, syscall.Errno) {
	n, err := syscall.Write(int(fd), p)
	return max(n, 0), errnoOf(err)
}

func errnoOf(err error) syscall.Errno {
	var e syscall.Errno
	if err != nil && !errors.As(err, &e) {
		return syscall.EIO
	}
	return e
}
