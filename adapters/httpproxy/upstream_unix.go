//go:build unix

package httpproxy

import (
	"net"
	"syscall"
)

// peerClosed reports whether an idle connection can no longer carry a
// request: the downstream closed it, reset it or sent something unasked.
// One non-blocking MSG_PEEK instead of http.Transport's reader goroutine
// per idle connection.
func peerClosed(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	var b [1]byte
	unusable := false
	err = rc.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK || rerr == syscall.EINTR:
		default: // EOF (n == 0), an error, or unsolicited bytes
			unusable = rerr != nil || n >= 0
		}
		return true
	})
	return unusable || err != nil
}
