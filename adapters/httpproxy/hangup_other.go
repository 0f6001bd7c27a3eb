//go:build !linux

package httpproxy

// hangupWatch does nothing outside Linux: a client that hangs up is seen
// when the answer's next write fails.
type hangupWatch struct{}

func (h *hangupWatch) arm(*serverConn, *requestContext) {}

func (h *hangupWatch) disarm() {}
