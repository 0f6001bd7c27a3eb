//go:build !unix

package httpproxy

import "net"

// peerClosed cannot look without reading here; a connection closed while
// idle fails its next request, which is retried when it has no body.
func peerClosed(net.Conn) bool { return false }
