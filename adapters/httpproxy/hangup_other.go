//go:build !linux

package httpproxy

import "context"

// hangupWatch does nothing outside Linux: a client that hangs up is seen
// when the answer's next write fails.
type hangupWatch struct{}

func (h *hangupWatch) arm(*serverConn, context.CancelFunc) {}

func (h *hangupWatch) disarm() {}
