//go:build unix

package httpproxy_test

import (
	"syscall"
	"testing"
	"time"
)

// processCPU is the CPU time this process has used so far (user and
// system). Per op it is steadier than wall time on a shared machine:
// neighbours' load stretches the wall clock, not this process's work.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time since start per op (client, proxy and
// upstream together: the engines differ only in the proxy's share).
func reportCPU(b *testing.B, start time.Duration) {
	b.Helper()
	b.ReportMetric(float64(processCPU()-start)/float64(time.Microsecond)/float64(b.N), "cpu-µs/op")
}
