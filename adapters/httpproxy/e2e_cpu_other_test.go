//go:build !unix

package httpproxy_test

import (
	"testing"
	"time"
)

// processCPU is not measured here.
func processCPU() time.Duration { return 0 }

// reportCPU reports nothing where process CPU time is not measured.
func reportCPU(*testing.B, time.Duration) {}
