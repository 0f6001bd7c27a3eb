package app

import (
	"context"
	"log/slog"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestGCPolicyFollowsTheAllocationRate(t *testing.T) {
	var p gcPolicy
	const mb = 1 << 20
	// Streams: a few MB a second over a 16 MB live heap keep GOGC=100.
	n, changed := p.next(4*mb, 16*mb)
	require.False(t, changed)
	require.Equal(t, gcBase, n)

	// A burst of small requests: 80 MB a second over 8 MB live. Half a
	// second's garbage (40 MB) fits between collections: GOGC=500.
	n, changed = p.next(80*mb, 8*mb)
	require.True(t, changed)
	require.Equal(t, 500, n)
	// A steadier rate near it changes nothing (less than a quarter).
	_, changed = p.next(90*mb, 8*mb)
	require.False(t, changed)

	// Far more: the headroom is capped at gcHeadroomMax.
	n, _ = p.next(1000*mb, 8*mb)
	require.Equal(t, 100*gcHeadroomMax/(8*mb), n)

	// The burst ends: back to 100 at once, whatever the step.
	n, changed = p.next(1*mb, 8*mb)
	require.True(t, changed)
	require.Equal(t, gcBase, n)
	_, changed = p.next(1*mb, 8*mb)
	require.False(t, changed)

	// No live heap known yet (before the first collection): 100.
	var q gcPolicy
	n, _ = q.next(80*mb, 0)
	require.Equal(t, gcBase, n)
}

func TestPaceGCLeavesAnOperatorsGOGC(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	t.Setenv("GOGC", "200")
	require.False(t, paceGC(t.Context(), log), "GOGC set: the operator's value stays")
}

// gogc is the GOGC in effect.
func gogc(t *testing.T) int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	require.Equal(t, metrics.KindUint64, s[0].Value.Kind())
	return int(s[0].Value.Uint64())
}

var allocSink []byte

func TestPaceGCRaisesGOGCUnderAllocationAndRestoresIt(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	t.Setenv("GOGC", "") // (restored at the end)
	os.Unsetenv("GOGC")
	t.Cleanup(func() { debug.SetGCPercent(gcBase) })
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	require.True(t, paceGC(ctx, log))
	require.Equal(t, gcBase, gogc(t))
	// Allocate as a busy proxy does (far faster, in fact) until the pacer
	// sees it: a few intervals.
	require.Eventually(t, func() bool {
		for range 20_000 {
			allocSink = make([]byte, 4<<10)
		}
		return gogc(t) > gcBase
	}, 10*time.Second, time.Millisecond, "GOGC rises with the allocation rate")
	cancel()
	require.Eventually(t, func() bool { return gogc(t) == gcBase }, 10*time.Second, 10*time.Millisecond,
		"and is 100 again once the pacer stops")
}
