package sentinel

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// Daily dashboard metrics, as named in the DailyCounter.
const (
	MetricAllowed     = "allowed"
	MetricRefused     = "refused"
	MetricNewBindings = "new_bindings"
)

// TallyOptions configure a Tally.
type TallyOptions struct {
	Interval time.Duration // how often counts are flushed; default 1s
	Clock    Clock         // dates the flushed counts; default the real time
	Logger   *slog.Logger
}

// Tally counts the proxy's allowed and refused requests and new bindings
// in memory (atomic adds, no allocation, no I/O on the request path) and
// flushes them to a DailyCounter from Run, at most one write per metric
// per interval. Counts are dated when flushed, so a few around midnight
// may land on the next day.
type Tally struct {
	counter DailyCounter
	opts    TallyOptions
	allowed atomic.Int64
	refused atomic.Int64
	created atomic.Int64
}

// NewTally returns a Tally flushing into counter.
func NewTally(counter DailyCounter, opts TallyOptions) *Tally {
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.Clock == nil {
		opts.Clock = SystemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Tally{counter: counter, opts: opts}
}

// Allowed counts one allowed request.
func (t *Tally) Allowed() { t.allowed.Add(1) }

// Refused counts one refused (or, in monitor mode, would-be refused) request.
func (t *Tally) Refused() { t.refused.Add(1) }

// NewBinding counts one binding created by a first use.
func (t *Tally) NewBinding() { t.created.Add(1) }

// Flush writes the counts gathered so far. Counts that could not be
// written are kept for the next flush.
func (t *Tally) Flush(ctx context.Context) error {
	now := t.opts.Clock.Now()
	var first error
	for _, m := range []struct {
		name string
		n    *atomic.Int64
	}{{MetricAllowed, &t.allowed}, {MetricRefused, &t.refused}, {MetricNewBindings, &t.created}} {
		n := m.n.Swap(0)
		if n == 0 {
			continue
		}
		if err := t.counter.AddDaily(ctx, now, m.name, n); err != nil {
			m.n.Add(n)
			if first == nil {
				first = err
			}
		}
	}
	return first
}

// Run flushes every interval until ctx is done, then once more.
func (t *Tally) Run(ctx context.Context) error {
	tick := time.NewTicker(t.opts.Interval)
	defer tick.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			return t.Flush(fctx)
		case <-tick.C:
			err := t.Flush(ctx)
			if err != nil && !failing {
				t.opts.Logger.Warn("dashboard counts not written; keeping them", "error", err)
			}
			failing = err != nil
		}
	}
}
