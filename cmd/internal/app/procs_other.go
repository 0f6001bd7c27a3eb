//go:build !unix

package app

import "time"

// processCPU is not read off Unix: GOMAXPROCS stays Go's default there.
func processCPU() (time.Duration, bool) { return 0, false }
