//go:build !linux

package httpproxy

import "net"

// withRawIO returns c as it is: raw-system-call I/O is built for Linux
// only (rawio_linux.go).
func withRawIO(c net.Conn) net.Conn { return c }
