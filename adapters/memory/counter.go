package memory

import (
	"context"
	"sync"
	"time"

	sentinel "github.com/keyipsentinel/sentinel"
)

// WindowCounter is an in-process sentinel.WindowCounter for the embedded
// default: login lockouts and alert windows of one process. Safe for
// concurrent use.
type WindowCounter struct {
	clock   sentinel.Clock
	mu      sync.Mutex
	w       map[string]window
	sweepAt int // the map size that triggers the next sweep
}

type window struct {
	n     int64
	until time.Time
}

var _ sentinel.WindowCounter = (*WindowCounter)(nil)

// NewWindowCounter returns an empty counter reading time from clock (nil
// means the real time).
func NewWindowCounter(clock sentinel.Clock) *WindowCounter {
	if clock == nil {
		clock = sentinel.SystemClock{}
	}
	return &WindowCounter{clock: clock, w: make(map[string]window)}
}

// Hit implements sentinel.WindowCounter.
func (c *WindowCounter) Hit(_ context.Context, name string, d time.Duration) (int64, error) {
	if d <= 0 {
		return 0, sentinel.Errorf(sentinel.EINVALID, "window must be positive, got %v", d)
	}
	now := c.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	w, ok := c.w[name]
	if !ok || !now.Before(w.until) {
		c.sweepLocked(now)
		w = window{until: now.Add(d)}
	}
	w.n++
	c.w[name] = w
	return w.n, nil
}

// sweepLocked drops closed windows once the map has grown, so a flood of
// names cannot grow it without bound between hits. The next sweep waits
// until the map has doubled again: a sweep costs its size, so the cost
// per new name stays constant however many windows are open.
func (c *WindowCounter) sweepLocked(now time.Time) {
	if len(c.w) < max(c.sweepAt, 1024) {
		return
	}
	for k, w := range c.w {
		if !now.Before(w.until) {
			delete(c.w, k)
		}
	}
	c.sweepAt = 2 * len(c.w)
}

// Count implements sentinel.WindowCounter.
func (c *WindowCounter) Count(_ context.Context, name string) (int64, error) {
	now := c.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	w, ok := c.w[name]
	if !ok || !now.Before(w.until) {
		return 0, nil
	}
	return w.n, nil
}

// TTL returns how long name's open window has left, 0 when none is open;
// the admin API uses it for Retry-After.
func (c *WindowCounter) TTL(_ context.Context, name string) (time.Duration, error) {
	now := c.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	w, ok := c.w[name]
	if !ok || !now.Before(w.until) {
		return 0, nil
	}
	return w.until.Sub(now), nil
}

// Clear implements sentinel.WindowCounter.
func (c *WindowCounter) Clear(_ context.Context, name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.w, name)
	return nil
}

// DailyCounter is an in-process sentinel.DailyCounter: the dashboard's
// counts of one process, lost on restart. Safe for concurrent use.
type DailyCounter struct {
	mu   sync.Mutex
	days map[string]map[string]int64
}

var _ sentinel.DailyCounter = (*DailyCounter)(nil)

// NewDailyCounter returns an empty counter.
func NewDailyCounter() *DailyCounter {
	return &DailyCounter{days: make(map[string]map[string]int64)}
}

func day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// AddDaily implements sentinel.DailyCounter.
func (c *DailyCounter) AddDaily(_ context.Context, t time.Time, metric string, n int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.days[day(t)]
	if d == nil {
		d = make(map[string]int64)
		c.days[day(t)] = d
	}
	d[metric] += n
	return nil
}

// Daily implements sentinel.DailyCounter.
func (c *DailyCounter) Daily(_ context.Context, t time.Time) (map[string]int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int64, len(c.days[day(t)]))
	for k, v := range c.days[day(t)] {
		out[k] = v
	}
	return out, nil
}
