package httpproxy

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type countingCloser struct{ closed atomic.Int32 }

func (c *countingCloser) Close() error {
	c.closed.Add(1)
	return nil
}

func (c *countingCloser) waitClosed(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool { return c.closed.Load() == 1 }, 5*time.Second, time.Millisecond)
}

type ctxKey struct{}

func TestRequestContextIsAWithCancel(t *testing.T) {
	conn := context.WithValue(context.Background(), ctxKey{}, "conn")
	rc := newRequestContext(conn)
	require.Equal(t, "conn", rc.Value(ctxKey{}))
	require.Same(t, rc, rc.Value(requestContextKey{}))
	_, has := rc.Deadline()
	require.False(t, has)
	require.NoError(t, rc.Err())
	done := rc.Done()
	require.Equal(t, done, rc.Done())
	select {
	case <-done:
		t.Fatal("done before cancel")
	default:
	}

	child, stopChild := context.WithTimeout(rc, time.Hour)
	defer stopChild()
	fired := make(chan struct{})
	context.AfterFunc(rc, func() { close(fired) })

	rc.cancel()
	rc.cancel()
	<-done
	require.ErrorIs(t, rc.Err(), context.Canceled)
	require.ErrorIs(t, context.Cause(rc), context.Canceled)
	<-child.Done()
	require.ErrorIs(t, child.Err(), context.Canceled)
	<-fired

	late := newRequestContext(conn)
	late.cancel()
	<-late.Done() // asked only after the cancellation
	ran := make(chan struct{})
	require.False(t, late.AfterFunc(func() { close(ran) })())
	<-ran
}

func TestRequestContextForgetsStoppedAfterFuncs(t *testing.T) {
	rc := newRequestContext(context.Background())
	for range 100 {
		ctx, cancel := context.WithCancel(rc)
		_ = ctx.Done()
		cancel()
	}
	stop := rc.AfterFunc(func() { t.Error("a stopped AfterFunc ran") })
	require.True(t, stop())
	require.False(t, stop())
	rc.mu.Lock()
	require.Empty(t, rc.afters)
	rc.mu.Unlock()
	rc.cancel()
	time.Sleep(10 * time.Millisecond)
}

func TestWatchCancelClosesOnTheRequestsCancellation(t *testing.T) {
	rc := newRequestContext(context.Background())
	ctx := context.WithValue(rc, ctxKey{}, "v") // values only: the request's own cancellation
	var c countingCloser
	w := watchCancel(ctx, &c)
	require.Same(t, rc, w.rc, "no context.AfterFunc for the request's own context")
	require.True(t, w.stop())
	require.False(t, w.stop())

	w = watchCancel(ctx, &c)
	var other countingCloser
	w2 := watchCancel(ctx, &other) // the place is taken: context.AfterFunc
	require.Nil(t, w2.rc)
	rc.cancel()
	c.waitClosed(t)
	other.waitClosed(t)
	require.False(t, w.stop(), "the cancellation closed it")
	require.False(t, w2.stop())

	var after countingCloser
	w = watchCancel(rc, &after) // already cancelled: closed at once
	after.waitClosed(t)
	require.False(t, w.stop())
}

func TestWatchCancelFollowsACancellationOfItsOwn(t *testing.T) {
	rc := newRequestContext(context.Background())
	defer rc.cancel()
	ctx, cancel := context.WithCancel(rc) // a handler's own cancellation in between
	var c countingCloser
	w := watchCancel(ctx, &c)
	require.Nil(t, w.rc)
	cancel()
	c.waitClosed(t)
	require.False(t, w.stop())
}
