package sentineltest

import (
	"context"
	"sync"
	"testing"

	sentinel "github.com/keyipsentinel/sentinel"
)

// RunFeed runs feed.Run with inv in a goroutine until the test ends (then
// it stops the feed and waits for Run to return, failing the test on an
// error), and returns once the feed follows the changes: its first
// InvalidateAll, the start signal, which is not passed on to inv.
func RunFeed(t testing.TB, feed sentinel.BindingChangeFeed, inv sentinel.BindingInvalidator) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &readyInvalidator{inv: inv, ready: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- feed.Run(ctx, r) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("feed: %v", err)
		}
	})
	select {
	case <-r.ready:
	case err := <-done:
		done <- err
		t.Fatalf("feed stopped before following: %v", err)
	}
}

type readyInvalidator struct {
	inv   sentinel.BindingInvalidator
	once  sync.Once
	ready chan struct{}
}

func (r *readyInvalidator) Invalidate(k sentinel.KeyHash) { r.inv.Invalidate(k) }

func (r *readyInvalidator) InvalidateAll() {
	first := false
	r.once.Do(func() { first = true; close(r.ready) })
	if !first {
		r.inv.InvalidateAll()
	}
}
