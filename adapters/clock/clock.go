// Package clock adapts time to the sentinel.Clock port: the real clock for
// the binaries, and a manual clock that tests set and advance instead of
// sleeping (lockouts, session expiry, daily counters, alert windows,
// archive ages).
package clock

import (
	"sync"
	"time"

	sentinel "github.com/keyipsentinel/sentinel"
)

// System is the real clock: sentinel.SystemClock, the default of every
// option taking a Clock, named here for wiring beside Manual.
type System = sentinel.SystemClock

var _ sentinel.Clock = System{}

// Manual is a clock that moves only when told. Safe for concurrent use.
type Manual struct {
	mu  sync.Mutex
	now time.Time
}

var _ sentinel.Clock = (*Manual)(nil)

// NewManual returns a Manual clock showing t.
func NewManual(t time.Time) *Manual { return &Manual{now: t} }

// Now returns the clock's time.
func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

// Advance moves the clock forward by d and returns the new time.
func (m *Manual) Advance(d time.Duration) time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.now = m.now.Add(d)
	return m.now
}

// Set moves the clock to t.
func (m *Manual) Set(t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.now = t
}
