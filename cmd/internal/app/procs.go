package app

import (
	"context"
	"log/slog"
	"os"
	"runtime"
	"time"
)

// The proxy's GOMAXPROCS follows its load: one P while it uses little CPU,
// Go's default (the machine's or the container's CPUs) once it needs more.
//
// Why: a proxy holding thousands of slow streams uses a fraction of a core,
// and with two or more Ps every event it moves is handed between threads:
// the poller's thread wakes, a second thread is woken to spin in case there
// is more to run, and both go back to sleep (futex, epoll_wait and a
// context switch each time). With one P that hand-off mostly goes away.
// Measured (docs/performance.md, round 5): 18 % less CPU per streamed event
// at 1 000 open streams; but 14 % fewer small requests a second at full
// load with one P, hence the switch back as soon as the load asks for it.
// An operator's GOMAXPROCS is left alone.

// procsPolicy decides the next P count from the CPU the process used in
// the last interval (in cores). Pure, for the tests.
type procsPolicy struct {
	max int // Go's default: what "up" restores
	// up: with one P, at least this many cores used switches to max at
	// once. down: with max Ps, less than this for downAfter intervals in a
	// row switches to one.
	up, down  float64
	downAfter int

	cur, low int
}

func newProcsPolicy(max int) *procsPolicy {
	return &procsPolicy{max: max, up: 0.5, down: 0.25, downAfter: 8, cur: max}
}

// next returns the P count for the coming interval given the last one's
// use, and whether it changed.
func (p *procsPolicy) next(used float64) (int, bool) {
	switch {
	case p.cur == 1 && used >= p.up:
		p.cur, p.low = p.max, 0
		return p.cur, true
	case p.cur > 1 && used < p.down:
		if p.low++; p.low >= p.downAfter {
			p.cur, p.low = 1, 0
			return p.cur, true
		}
	default:
		p.low = 0
	}
	return p.cur, false
}

// procsInterval is how often the load is looked at: a burst of requests
// waits at most this long (on one P) for the second.
const procsInterval = 250 * time.Millisecond

// adaptProcs runs the policy until ctx ends, then restores Go's default,
// and reports whether it does. It does not when GOMAXPROCS is set in the
// environment, when Go's default is already one P, or where the process's
// CPU time cannot be read.
func adaptProcs(ctx context.Context, log *slog.Logger) bool {
	if os.Getenv("GOMAXPROCS") != "" {
		return false
	}
	max := runtime.GOMAXPROCS(0)
	last, ok := processCPU()
	if max < 2 || !ok {
		return false
	}
	p := newProcsPolicy(max)
	every(ctx, procsInterval, func(elapsed time.Duration) {
		cpu, _ := processCPU()
		used := float64(cpu-last) / float64(elapsed)
		last = cpu
		n, changed := p.next(used)
		if !changed {
			return
		}
		if n == p.max {
			runtime.SetDefaultGOMAXPROCS() // Go's own default again, kept current by the runtime
		} else {
			runtime.GOMAXPROCS(n)
		}
		log.Debug("GOMAXPROCS follows the load", "gomaxprocs", runtime.GOMAXPROCS(0), "cores_used", used)
	}, func() {
		if p.cur != p.max {
			runtime.SetDefaultGOMAXPROCS()
		}
	})
	return true
}

// every runs tick every interval, given the time since the last tick (or
// the start), on a goroutine of its own until ctx ends, and then stop:
// the loop of the runtime's two load-following settings (GOMAXPROCS here,
// GOGC in gcpace.go).
func every(ctx context.Context, interval time.Duration, tick func(elapsed time.Duration), stop func()) {
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		last := time.Now()
		for {
			select {
			case <-ctx.Done():
				stop()
				return
			case now := <-t.C:
				tick(now.Sub(last))
				last = now
			}
		}
	}()
}
