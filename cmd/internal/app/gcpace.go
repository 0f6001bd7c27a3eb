package app

import (
	"context"
	"log/slog"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The proxy's garbage collector runs at most about gcCyclesPerSec times a
// second under a burst of small requests: GOGC rises with the rate the
// heap is allocated at, so that the garbage of half a second fits between
// two collections, and falls back to 100 as the rate falls.
//
// Why: a proxied request leaves about 3 KB of garbage and the proxy's live
// heap is a few MB (caches, pools), so at 25 000 requests a second GOGC=100
// collects about ten times a second, each collection costing some 2.5 ms
// of CPU plus the write barrier and assists while it runs: 3-5 % of the
// proxy's CPU per request (GOGC=400 measured against 100, docs/performance.md,
// rounds 10 and 11). Thousands of open streams allocate little (an event is
// a few hundred bytes) and keep GOGC=100, so their resident memory, which
// the heap's growth between collections adds to, is as before. The heap a
// burst may add is capped (gcHeadroomMax); GOMEMLIMIT, when set, still
// bounds it (the runtime honours the limit over GOGC). An operator's GOGC
// is left alone.

const (
	gcCyclesPerSec = 2
	gcHeadroomMax  = 64 << 20 // bytes of garbage a burst may add over GOGC=100's heap
	gcBase         = 100
	gcInterval     = 250 * time.Millisecond
)

// gcPolicy turns the last interval's allocation rate and the live heap
// into a GOGC. Pure, for the tests.
type gcPolicy struct {
	cur int
}

// next returns the GOGC for the coming interval given the bytes allocated
// a second and the live heap, and whether it changed enough to set (a
// quarter, so a steady load does not set it every interval).
func (p *gcPolicy) next(allocPerSec, live float64) (int, bool) {
	want := gcBase
	if live > 0 {
		headroom := min(allocPerSec/gcCyclesPerSec, gcHeadroomMax)
		want = max(gcBase, int(100*headroom/live))
	}
	if p.cur == 0 {
		p.cur = gcBase
	}
	diff := want - p.cur
	if diff < 0 {
		diff = -diff
	}
	if want == p.cur || (diff*4 < p.cur && want != gcBase) {
		return p.cur, false
	}
	p.cur = want
	return want, true
}

// readHeap returns the bytes allocated since the start and the live heap
// as the last collection left it, read into s.
func readHeap(s []metrics.Sample) (allocs, live uint64, ok bool) {
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 || s[1].Value.Kind() != metrics.KindUint64 {
		return 0, 0, false
	}
	return s[0].Value.Uint64(), s[1].Value.Uint64(), true
}

// paceGC runs the policy until ctx ends, then restores GOGC=100, and
// reports whether it does: not when GOGC is set in the environment.
func paceGC(ctx context.Context, log *slog.Logger) bool {
	if os.Getenv("GOGC") != "" {
		return false
	}
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}, {Name: "/gc/heap/live:bytes"}}
	last, _, ok := readHeap(s)
	if !ok {
		return false
	}
	var p gcPolicy
	every(ctx, gcInterval, func(elapsed time.Duration) {
		allocs, live, _ := readHeap(s)
		rate := float64(allocs-last) / elapsed.Seconds()
		last = allocs
		if n, changed := p.next(rate, float64(live)); changed {
			debug.SetGCPercent(n)
			log.Debug("GOGC follows the allocation rate", "gogc", n, "alloc_mb_per_sec", rate/1e6, "live_mb", float64(live)/1e6)
		}
	}, func() {
		if p.cur > gcBase {
			debug.SetGCPercent(gcBase)
		}
	})
	return true
}
