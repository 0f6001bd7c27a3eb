package sentinel

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// Recorder is the port the proxy records refusals and uses through. Its
// methods never block and never fail the request: recording happens after
// the response, in batches.
type Recorder interface {
	// RecordIntercept queues the audit record of a refusal.
	RecordIntercept(Intercept)
	// RecordUse queues a last-use refresh of a key.
	RecordUse(Use)
}

// Toucher is the part of BindingStore the recorder writes uses to.
type Toucher interface {
	TouchBindings(ctx context.Context, uses []Use) error
}

// InterceptAdder is the part of InterceptStore the recorder writes to.
type InterceptAdder interface {
	AddIntercepts(ctx context.Context, is []Intercept) error
}

// BatchRecorderOptions configure a BatchRecorder; zero fields take defaults.
type BatchRecorderOptions struct {
	// UseInterval is how often last uses are written: one write per key per
	// interval at most. Default 5s.
	UseInterval time.Duration
	// InterceptInterval is how often queued intercepts are written.
	// Default 1s; a full batch is written at once.
	InterceptInterval time.Duration
	// BatchSize is the most intercepts written in one call. Default 500.
	BatchSize int
	// MaxPendingIntercepts bounds the intercepts kept while the store is
	// down; past it the oldest are dropped (and counted). Default 100 000.
	MaxPendingIntercepts int
	// MaxPendingUses bounds the keys with a pending last use. Default 1 000 000.
	MaxPendingUses int
	// MaxBackoff caps the wait between retries after a failed write. Default 10s.
	MaxBackoff time.Duration
	Logger     *slog.Logger
	// Clock tells the time for retry backoff and log throttling; default
	// the real time.
	Clock Clock
}

// RecorderStats counts what a BatchRecorder has done.
type RecorderStats struct {
	InterceptsWritten, InterceptsDropped, InterceptsPending int64
	UsesWritten, UsesDropped, UsesPending                   int64
	WriteFailures                                           int64
}

// BatchRecorder is the Recorder: it queues in memory and writes in batches
// from Run's goroutine, retrying failed writes with backoff and keeping
// what failed (bounded) until the store takes it.
type BatchRecorder struct {
	touch      Toucher
	intercepts InterceptAdder
	opts       BatchRecorderOptions
	log        *slog.Logger

	mu         sync.Mutex
	uses       map[KeyHash]Use
	pending    []Intercept
	removed    int64 // intercepts ever taken off the front of pending
	stats      RecorderStats
	full       chan struct{} // a batch of intercepts is ready
	flushMu    sync.Mutex    // one flush at a time
	failing    bool
	nextTry    time.Time
	backoff    time.Duration
	lastDrops  int64
	dropLogged time.Time
}

var _ Recorder = (*BatchRecorder)(nil)

// NewBatchRecorder returns a recorder writing uses to touch and intercepts
// to intercepts. Call Run to start writing and Flush when stopping.
func NewBatchRecorder(touch Toucher, intercepts InterceptAdder, opts BatchRecorderOptions) *BatchRecorder {
	if opts.UseInterval <= 0 {
		opts.UseInterval = 5 * time.Second
	}
	if opts.InterceptInterval <= 0 {
		opts.InterceptInterval = time.Second
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 500
	}
	if opts.MaxPendingIntercepts <= 0 {
		opts.MaxPendingIntercepts = 100_000
	}
	if opts.MaxPendingUses <= 0 {
		opts.MaxPendingUses = 1_000_000
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = SystemClock{}
	}
	return &BatchRecorder{
		touch:      touch,
		intercepts: intercepts,
		opts:       opts,
		log:        opts.Logger,
		uses:       make(map[KeyHash]Use),
		full:       make(chan struct{}, 1),
	}
}

// RecordUse implements Recorder. Only the latest use of a key per interval
// is kept.
func (r *BatchRecorder) RecordUse(u Use) {
	r.mu.Lock()
	if old, ok := r.uses[u.Key]; ok {
		if u.At.After(old.At) {
			r.uses[u.Key] = u
		}
	} else if len(r.uses) < r.opts.MaxPendingUses {
		r.uses[u.Key] = u
	} else {
		r.stats.UsesDropped++
	}
	r.mu.Unlock()
}

// RecordIntercept implements Recorder.
func (r *BatchRecorder) RecordIntercept(i Intercept) {
	r.mu.Lock()
	r.pending = append(r.pending, i)
	r.trimLocked()
	ready := len(r.pending) >= r.opts.BatchSize
	r.mu.Unlock()
	if ready {
		select {
		case r.full <- struct{}{}:
		default:
		}
	}
}

// trimLocked drops the oldest intercepts beyond the bound, a tenth at a
// time so a long outage does not shift the slice on every record.
func (r *BatchRecorder) trimLocked() {
	max := r.opts.MaxPendingIntercepts
	if len(r.pending) <= max {
		return
	}
	drop := len(r.pending) - max + max/10
	if drop > len(r.pending) {
		drop = len(r.pending)
	}
	n := copy(r.pending, r.pending[drop:])
	clear(r.pending[n:])
	r.pending = r.pending[:n]
	r.removed += int64(drop)
	r.stats.InterceptsDropped += int64(drop)
}

// Stats returns the recorder's counters.
func (r *BatchRecorder) Stats() RecorderStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats
	s.InterceptsPending = int64(len(r.pending))
	s.UsesPending = int64(len(r.uses))
	return s
}

// Run writes batches until ctx is done, then returns nil; the caller owns
// the goroutine it runs in. It does not flush at the end: call Flush with a
// deadline for that.
func (r *BatchRecorder) Run(ctx context.Context) error {
	useTick := time.NewTicker(r.opts.UseInterval)
	defer useTick.Stop()
	icTick := time.NewTicker(r.opts.InterceptInterval)
	defer icTick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-useTick.C:
			r.flushIfDue(ctx, true)
		case <-icTick.C:
			r.flushIfDue(ctx, false)
		case <-r.full:
			r.flushIfDue(ctx, false)
		}
	}
}

func (r *BatchRecorder) flushIfDue(ctx context.Context, withUses bool) {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	if r.failing && r.opts.Clock.Now().Before(r.nextTry) {
		return
	}
	err := r.flushLocked(ctx, withUses)
	if err == nil {
		if r.failing {
			r.log.Info("recorder: store accepts writes again; backlog written")
		}
		r.failing, r.backoff = false, 0
		return
	}
	if ctx.Err() != nil {
		return
	}
	r.backoff = min(max(2*r.backoff, time.Second), r.opts.MaxBackoff)
	r.nextTry = r.opts.Clock.Now().Add(r.backoff)
	if !r.failing {
		r.log.Warn("recorder: writing intercepts or last uses failed; keeping them and retrying with backoff",
			"err", err, "retry_in", r.backoff)
	}
	r.failing = true
}

// Flush writes everything queued now, stopping at ctx's deadline. What is
// left unwritten stays queued.
func (r *BatchRecorder) Flush(ctx context.Context) error {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	return r.flushLocked(ctx, true)
}

func (r *BatchRecorder) flushLocked(ctx context.Context, withUses bool) error {
	var errs []error
	for {
		r.mu.Lock()
		n := min(len(r.pending), r.opts.BatchSize)
		batch := make([]Intercept, n)
		copy(batch, r.pending[:n])
		head := r.removed
		r.mu.Unlock()
		if n == 0 {
			break
		}
		for i := range batch {
			batch[i] = batch[i].Sanitized()
		}
		if err := r.intercepts.AddIntercepts(ctx, batch); err != nil {
			errs = append(errs, err)
			r.countFailure()
			break
		}
		r.mu.Lock()
		// Meanwhile new intercepts were appended, and trimming may have
		// dropped part of this batch from the front already.
		if left := head + int64(n) - r.removed; left > 0 {
			clear(r.pending[:left])
			r.pending = r.pending[left:]
			r.removed += left
		}
		r.stats.InterceptsWritten += int64(n)
		r.mu.Unlock()
		if n < r.opts.BatchSize {
			break
		}
	}
	if withUses {
		if err := r.flushUses(ctx); err != nil {
			errs = append(errs, err)
			r.countFailure()
		}
	}
	r.logDrops()
	return errors.Join(errs...)
}

func (r *BatchRecorder) flushUses(ctx context.Context) error {
	r.mu.Lock()
	if len(r.uses) == 0 {
		r.mu.Unlock()
		return nil
	}
	taken := r.uses
	r.uses = make(map[KeyHash]Use, len(taken))
	r.mu.Unlock()

	batch := make([]Use, 0, len(taken))
	for _, u := range taken {
		batch = append(batch, u)
	}
	for start := 0; start < len(batch); start += r.opts.BatchSize {
		end := min(start+r.opts.BatchSize, len(batch))
		if err := r.touch.TouchBindings(ctx, batch[start:end]); err != nil {
			r.requeueUses(batch[start:])
			return err
		}
		r.mu.Lock()
		r.stats.UsesWritten += int64(end - start)
		r.mu.Unlock()
	}
	return nil
}

// requeueUses puts back uses that could not be written, unless a newer use
// of the same key arrived meanwhile.
func (r *BatchRecorder) requeueUses(us []Use) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, u := range us {
		if old, ok := r.uses[u.Key]; ok && !u.At.After(old.At) {
			continue
		}
		if _, ok := r.uses[u.Key]; !ok && len(r.uses) >= r.opts.MaxPendingUses {
			r.stats.UsesDropped++
			continue
		}
		r.uses[u.Key] = u
	}
}

func (r *BatchRecorder) countFailure() {
	r.mu.Lock()
	r.stats.WriteFailures++
	r.mu.Unlock()
}

// logDrops reports dropped intercepts at most once a minute.
func (r *BatchRecorder) logDrops() {
	r.mu.Lock()
	dropped := r.stats.InterceptsDropped + r.stats.UsesDropped
	r.mu.Unlock()
	if dropped == r.lastDrops || r.opts.Clock.Now().Sub(r.dropLogged) < time.Minute {
		return
	}
	r.log.Warn("recorder: queue bound reached while the store was unavailable; oldest records dropped",
		"dropped_total", dropped)
	r.lastDrops, r.dropLogged = dropped, r.opts.Clock.Now()
}
