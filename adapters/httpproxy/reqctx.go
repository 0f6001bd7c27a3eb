package httpproxy

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
)

// requestContext is the context of a request Server answers: the
// connection's context (its values; never cancelled, no deadline) and a
// cancellation of its own, fired when the answer is done, the client hangs
// up or a write of the answer fails. It is what context.WithCancel of the
// connection's context gives, in one allocation instead of three, and it
// closes the connection of a downstream exchange on cancellation without
// context.AfterFunc's four allocations and map entry (onCancel).
//
// Contexts derived from it (context.WithTimeout, AfterFunc) follow it
// through its AfterFunc method, without a goroutine each.
type requestContext struct {
	context.Context // the connection's

	mu     sync.Mutex
	done   chan struct{} // made on first Done
	err    error
	closer io.Closer // closed on cancellation: an exchange's connection
	afters []*afterFunc

	// room is where the Middleware's decision context and the Proxy's
	// forwarding of the request are made, the first time each is asked
	// for: in the request's own allocation instead of two of their own.
	// Nothing is ever made twice in it, so a reference kept past the
	// request (a decider's goroutine still holding the context) sees what
	// it saw, and only keeps the request's memory a little longer.
	room struct {
		decision      decisionContext
		fwd           forwarding
		decisionTaken atomic.Bool
		fwdTaken      atomic.Bool
	}
}

// roomOf is the requestContext ctx is, or nil.
func roomOf(ctx context.Context) *requestContext {
	rc, _ := ctx.(*requestContext)
	return rc
}

// decisionRoom is the room's decision context the first time it is asked
// for (zero: untouched until then), else a new one; rc may be nil.
func (rc *requestContext) decisionRoom() *decisionContext {
	if rc != nil && rc.room.decisionTaken.CompareAndSwap(false, true) {
		return &rc.room.decision
	}
	return new(decisionContext)
}

// forwardingRoom is decisionRoom for the Proxy's forwarding.
func (rc *requestContext) forwardingRoom() *forwarding {
	if rc != nil && rc.room.fwdTaken.CompareAndSwap(false, true) {
		return &rc.room.fwd
	}
	return new(forwarding)
}

type afterFunc struct{ f func() }

// requestContextKey is the key under which a requestContext answers Value
// with itself.
type requestContextKey struct{}

// closedDone is the Done of a context cancelled before anyone asked.
var closedDone = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

func newRequestContext(conn context.Context) *requestContext {
	return &requestContext{Context: conn}
}

// Done implements context.Context.
func (r *requestContext) Done() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done == nil {
		if r.err != nil {
			return closedDone
		}
		r.done = make(chan struct{})
	}
	return r.done
}

// Err implements context.Context.
func (r *requestContext) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Value implements context.Context.
func (r *requestContext) Value(key any) any {
	if _, ok := key.(requestContextKey); ok {
		return r
	}
	return r.Context.Value(key)
}

// AfterFunc arranges for f to run in its own goroutine once r is
// cancelled, as context.AfterFunc does; context uses it for the contexts
// derived from r.
func (r *requestContext) AfterFunc(f func()) (stop func() bool) {
	a := &afterFunc{f: f}
	r.mu.Lock()
	if r.err != nil {
		r.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	r.afters = append(r.afters, a)
	r.mu.Unlock()
	return func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		for i, b := range r.afters {
			if b == a {
				r.afters = append(r.afters[:i], r.afters[i+1:]...)
				return true
			}
		}
		return false
	}
}

// cancel cancels r (context.Canceled); later calls do nothing.
func (r *requestContext) cancel() {
	r.mu.Lock()
	if r.err != nil {
		r.mu.Unlock()
		return
	}
	r.err = context.Canceled
	if r.done != nil {
		close(r.done)
	}
	closer, afters := r.closer, r.afters
	r.closer, r.afters = nil, nil
	r.mu.Unlock()
	if closer != nil {
		// Its own goroutine, as context.AfterFunc's: a TLS connection's
		// Close may wait for a write in flight, and the hang-up watch
		// cancels under the server connection's lock.
		go closer.Close()
	}
	for _, a := range afters {
		go a.f()
	}
}

// onCancel arranges for c to be closed when r is cancelled; false when
// another closer holds the place (then the caller uses context.AfterFunc).
// On a cancelled r, c is closed at once.
func (r *requestContext) onCancel(c io.Closer) bool {
	r.mu.Lock()
	if r.err != nil {
		r.mu.Unlock()
		go c.Close()
		return true
	}
	if r.closer != nil {
		r.mu.Unlock()
		return false
	}
	r.closer = c
	r.mu.Unlock()
	return true
}

// offCancel undoes onCancel(c): true when c was not closed by a
// cancellation (nor will be), as the stop of context.AfterFunc.
func (r *requestContext) offCancel(c io.Closer) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closer == c {
		r.closer = nil
		return true
	}
	return false
}

// cancelWatch closes an exchange's connection when the exchange's context
// ends: through the Server's request context when ctx is that (or only
// adds values to it), through context.AfterFunc otherwise.
type cancelWatch struct {
	rc        *requestContext
	c         io.Closer
	afterStop func() bool
}

func watchCancel(ctx context.Context, c io.Closer) cancelWatch {
	rc, ok := ctx.(*requestContext) // (its Done channel is made on demand: not asked for here)
	if !ok {
		rc, ok = ctx.Value(requestContextKey{}).(*requestContext)
		ok = ok && ctx.Done() == rc.Done()
	}
	if ok && rc.onCancel(c) {
		return cancelWatch{rc: rc, c: c}
	}
	return cancelWatch{afterStop: context.AfterFunc(ctx, func() { c.Close() })}
}

// stop ends the watch: false when the cancellation closed (or is closing)
// the connection.
func (w cancelWatch) stop() bool {
	if w.rc != nil {
		return w.rc.offCancel(w.c)
	}
	return w.afterStop()
}
