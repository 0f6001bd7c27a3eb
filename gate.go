package sentinel

import (
	"context"
	"errors"
	"sync"
)

// ErrBusy is returned by a Gate when its bound of authority calls in
// flight is reached. It is an EUNAVAILABLE error, but not an outage: the
// HTTP side answers it 503 without applying the failsafe mode (an open
// failsafe must never forward a request because of load).
var ErrBusy = &Error{Code: EUNAVAILABLE, Message: "too many binding lookups in flight; try again shortly"}

// BusyError returns an EUNAVAILABLE error for a store call refused or cut
// short by load rather than by an outage (a database locked by other
// writers, out of connections, a statement timeout): errors.Is(err,
// ErrBusy) holds, so it is answered like the Gate's own refusal, never by
// the failsafe mode. cause is kept for logs.
func BusyError(cause error, message string) error {
	return &Error{Code: EUNAVAILABLE, Message: message, Err: errors.Join(ErrBusy, cause)}
}

// DefaultGateInflight is a Gate's bound when GateOptions.MaxInflight is zero.
const DefaultGateInflight = 64

// GateOptions configure a Gate.
type GateOptions struct {
	// MaxInflight bounds the FindBinding and CreateBinding calls the
	// authority runs at once for this process; past it they fail with
	// ErrBusy at once instead of queueing. Default DefaultGateInflight.
	MaxInflight int
}

// Gate wraps the authoritative BindingStore behind a cache: lookups of
// the same key in flight together share one call (single flight), and the
// calls in flight are bounded. Keys the cache knows never reach it, so a
// flood of unknown keys queues here, apart from known keys' decisions,
// and cannot push the authority past its deadline. Other methods pass
// through.
type Gate struct {
	BindingStore
	slots   chan struct{}
	mu      sync.Mutex
	calls   map[KeyHash]*gateCall // lookups in flight
	creates map[KeyHash]*gateCall // first uses in flight
}

type gateCall struct {
	done chan struct{}
	b    Binding
	err  error
}

var _ BindingStore = (*Gate)(nil)

// NewGate returns a Gate in front of store.
func NewGate(store BindingStore, opts GateOptions) *Gate {
	if opts.MaxInflight <= 0 {
		opts.MaxInflight = DefaultGateInflight
	}
	return &Gate{BindingStore: store, slots: make(chan struct{}, opts.MaxInflight), calls: make(map[KeyHash]*gateCall), creates: make(map[KeyHash]*gateCall)}
}

func (g *Gate) acquire() bool {
	select {
	case g.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

func (g *Gate) release() { <-g.slots }

// FindBinding implements BindingStore, one call per key at a time.
func (g *Gate) FindBinding(ctx context.Context, key KeyHash) (Binding, error) {
	g.mu.Lock()
	if c, ok := g.calls[key]; ok {
		g.mu.Unlock()
		select {
		case <-c.done:
			return c.b, c.err
		case <-ctx.Done():
			return Binding{}, WrapError(EUNAVAILABLE, ctx.Err(), "binding lookup abandoned")
		}
	}
	if !g.acquire() {
		g.mu.Unlock()
		return Binding{}, ErrBusy
	}
	c := &gateCall{done: make(chan struct{})}
	g.calls[key] = c
	g.mu.Unlock()
	// The followers share this call: a leader whose client goes away must
	// not cancel it for them, so only its deadline carries over.
	lctx := context.WithoutCancel(ctx)
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		lctx, cancel = context.WithDeadline(lctx, dl)
		defer cancel()
	}
	c.b, c.err = g.BindingStore.FindBinding(lctx, key)
	g.release()
	g.mu.Lock()
	delete(g.calls, key)
	g.mu.Unlock()
	close(c.done)
	return c.b, c.err
}

// CreateBinding implements BindingStore, one call per key at a time: the
// first use of a key racing from many clients at once takes one slot, the
// first caller's binding is stored, and the others get it back with
// created false, as if they had lost the race in the store.
func (g *Gate) CreateBinding(ctx context.Context, b Binding) (Binding, bool, error) {
	g.mu.Lock()
	if c, ok := g.creates[b.Key]; ok {
		g.mu.Unlock()
		select {
		case <-c.done:
			return c.b, false, c.err
		case <-ctx.Done():
			return Binding{}, false, WrapError(EUNAVAILABLE, ctx.Err(), "first use abandoned")
		}
	}
	if !g.acquire() {
		g.mu.Unlock()
		return Binding{}, false, ErrBusy
	}
	c := &gateCall{done: make(chan struct{})}
	g.creates[b.Key] = c
	g.mu.Unlock()
	lctx := context.WithoutCancel(ctx) // shared: see FindBinding
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		lctx, cancel = context.WithDeadline(lctx, dl)
		defer cancel()
	}
	var created bool
	c.b, created, c.err = g.BindingStore.CreateBinding(lctx, b)
	g.release()
	g.mu.Lock()
	delete(g.creates, b.Key)
	g.mu.Unlock()
	close(c.done)
	return c.b, created, c.err
}

var _ AuditedBindingDeleter = (*Gate)(nil)

// DeleteBindingAudited implements AuditedBindingDeleter by passing the
// call to the authority: the deletion and its audit row share its
// transaction. EINTERNAL when the authority cannot audit deletions.
func (g *Gate) DeleteBindingAudited(ctx context.Context, key KeyHash, version int64, audit AuditEntry) (Binding, error) {
	d, ok := g.BindingStore.(AuditedBindingDeleter)
	if !ok {
		return Binding{}, Errorf(EINTERNAL, "the binding store cannot audit deletions")
	}
	return d.DeleteBindingAudited(ctx, key, version, audit)
}
