package httpproxy

import (
	"context"
	"sync"
	"time"
)

// decisionContext is a request's context with the decision deadline added,
// whose timer is made only when something waits on it (Done, or a context
// derived from it). A decision answered from an in-process cache never
// does, and so costs no timer: context.WithTimeout would add four
// allocations to every request. Call release when the decision is made.
// It reads the real time, not a Clock: it stands for a real timer.
type decisionContext struct {
	parent   context.Context
	deadline time.Time

	mu       sync.Mutex
	inner    context.Context // with the deadline, once needed
	cancel   context.CancelFunc
	released bool
}

var _ context.Context = (*decisionContext)(nil)

func newDecisionContext(parent context.Context, now time.Time, timeout time.Duration) *decisionContext {
	d := now.Add(timeout)
	if pd, ok := parent.Deadline(); ok && pd.Before(d) {
		d = pd
	}
	c := roomOf(parent).decisionRoom()
	c.parent, c.deadline = parent, d
	return c
}

// timed returns the context with a real timer, making it on first use.
func (c *decisionContext) timed() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inner == nil {
		c.inner, c.cancel = context.WithDeadline(c.parent, c.deadline)
		if c.released {
			c.cancel()
		}
	}
	return c.inner
}

// release ends the context, stopping its timer if one was made.
func (c *decisionContext) release() {
	c.mu.Lock()
	c.released = true
	cancel := c.cancel
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// Deadline implements context.Context.
func (c *decisionContext) Deadline() (time.Time, bool) { return c.deadline, true }

// Done implements context.Context.
func (c *decisionContext) Done() <-chan struct{} { return c.timed().Done() }

// Err implements context.Context without making a timer.
func (c *decisionContext) Err() error {
	c.mu.Lock()
	inner, released := c.inner, c.released
	c.mu.Unlock()
	switch {
	case inner != nil:
		return inner.Err()
	case released:
		return context.Canceled
	}
	if err := c.parent.Err(); err != nil {
		return err
	}
	if !time.Now().Before(c.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

// Value implements context.Context.
func (c *decisionContext) Value(key any) any { return c.parent.Value(key) }

// AfterFunc lets contexts derived from this one (context.WithTimeout in a
// store) follow it without a goroutine each.
func (c *decisionContext) AfterFunc(f func()) func() bool { return context.AfterFunc(c.timed(), f) }
