package httpproxy

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestDrainWakesWhenTheLastRequestEnds: a waiting Drain returns when the
// last request in flight leaves, not before, and not only at its deadline.
func TestDrainWakesWhenTheLastRequestEnds(t *testing.T) {
	p := &Proxy{}
	p.enter()
	p.enter()
	done := make(chan error, 1)
	go func() { done <- p.Drain(context.Background()) }()
	require.Eventually(t, func() bool { return p.waiting.Load() == 1 }, 5*time.Second, time.Millisecond)
	p.leave()
	select {
	case err := <-done:
		t.Fatalf("Drain returned (%v) with a request in flight", err)
	case <-time.After(20 * time.Millisecond):
	}
	p.leave()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Drain still waits after the last request left")
	}
	require.NoError(t, p.Drain(context.Background()), "idle: at once")
}

// TestDrainUnderChurn: requests coming and going on every core never let
// a Drain through while one request stays in flight; once it leaves, the
// next Drain returns.
func TestDrainUnderChurn(t *testing.T) {
	p := &Proxy{}
	p.enter() // the one that stays
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					p.enter()
					p.leave()
				}
			}
		})
	}
	for range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Millisecond)
		require.ErrorIs(t, p.Drain(ctx), context.DeadlineExceeded)
		cancel()
	}
	p.leave()
	close(stop)
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, p.Drain(ctx))
}

// TestDrainIgnoresAStaleZero: a request that brought the count to zero
// but has not yet looked for a waiting Drain when another request comes
// in and a Drain starts waiting for it must not end that Drain.
func TestDrainIgnoresAStaleZero(t *testing.T) {
	p := &Proxy{}
	done := make(chan error, 1)
	p.testHookLeft = func() {
		p.testHookLeft = nil
		p.enter() // B comes in behind A's zero
		go func() { done <- p.Drain(context.Background()) }()
		require.Eventually(t, func() bool { return p.waiting.Load() == 1 }, 5*time.Second, time.Millisecond)
	}
	p.enter() // A
	p.leave() // A's zero, then the hook, then its look at the Drain
	select {
	case err := <-done:
		t.Fatalf("Drain returned (%v) with B in flight", err)
	case <-time.After(20 * time.Millisecond):
	}
	p.leave() // B
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Drain still waits after B left")
	}
}
