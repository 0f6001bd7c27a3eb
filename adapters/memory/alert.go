package memory

import (
	"context"
	"net/netip"
	"sync"
	"time"

	sentinel "github.com/keyipsentinel/sentinel"
)

// AlertCounter is the in-process sentinel.AlertCounter of the embedded
// default, where one process serves everything. Entries of a window are
// forgotten once a later window is in use. Safe for concurrent use.
type AlertCounter struct {
	mu      sync.Mutex
	windows map[alertSlot]*alertTally
	latest  time.Time // the latest window start seen, for pruning
}

var _ sentinel.AlertCounter = (*AlertCounter)(nil)

type alertSlot struct {
	key   sentinel.KeyHash
	start int64 // window start, Unix nanoseconds
}

type alertTally struct {
	end         time.Time
	count       int64
	ips         map[netip.Addr]int64
	first, last time.Time
	alerted     bool
}

// NewAlertCounter returns an empty counter.
func NewAlertCounter() *AlertCounter {
	return &AlertCounter{windows: map[alertSlot]*alertTally{}}
}

func (c *AlertCounter) slot(w sentinel.AlertWindow, key sentinel.KeyHash) *alertTally {
	if w.Start.After(c.latest) {
		c.latest = w.Start
		for s, t := range c.windows {
			if !t.end.After(c.latest) {
				delete(c.windows, s)
			}
		}
	}
	s := alertSlot{key: key, start: w.Start.UnixNano()}
	t := c.windows[s]
	if t == nil {
		t = &alertTally{end: w.End, ips: map[netip.Addr]int64{}}
		c.windows[s] = t
	}
	return t
}

// AddRefusal implements sentinel.AlertCounter.
func (c *AlertCounter) AddRefusal(_ context.Context, w sentinel.AlertWindow, key sentinel.KeyHash, ip netip.Addr, at time.Time) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.slot(w, key)
	t.count++
	if ip.IsValid() {
		if _, ok := t.ips[ip]; ok || len(t.ips) < sentinel.MaxAlertIPs {
			t.ips[ip]++
		}
	}
	if t.first.IsZero() || at.Before(t.first) {
		t.first = at
	}
	if at.After(t.last) {
		t.last = at
	}
	return t.count, nil
}

// Refusals implements sentinel.AlertCounter.
func (c *AlertCounter) Refusals(_ context.Context, w sentinel.AlertWindow, key sentinel.KeyHash) (sentinel.RefusalTally, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.windows[alertSlot{key: key, start: w.Start.UnixNano()}]
	if t == nil {
		return sentinel.RefusalTally{}, nil
	}
	out := sentinel.RefusalTally{Count: t.count, First: t.first, Last: t.last}
	for ip, n := range t.ips {
		out.IPs = append(out.IPs, sentinel.IPCount{IP: ip, Count: n})
	}
	sentinel.SortIPCounts(out.IPs)
	return out, nil
}

// MarkAlerted implements sentinel.AlertCounter.
func (c *AlertCounter) MarkAlerted(_ context.Context, w sentinel.AlertWindow, key sentinel.KeyHash) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.slot(w, key)
	if t.alerted {
		return false, nil
	}
	t.alerted = true
	return true, nil
}
