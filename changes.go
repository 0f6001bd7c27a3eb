package sentinel

import "context"

// BindingInvalidator is told which bindings changed elsewhere: an
// in-process cache that must drop its copies.
type BindingInvalidator interface {
	Invalidate(key KeyHash)
	InvalidateAll()
}

// BindingChangeFeed follows the changes that any process makes to bindings
// (rule, status, learning, deletion), so in-process caches stay coherent
// across processes. Each authoritative store that can share its data
// between processes has one.
type BindingChangeFeed interface {
	// Run reports every changed key to inv until ctx is done, then returns
	// nil; the caller owns the goroutine it runs in, and the feed touches
	// its store no more once Run has returned. As soon as it follows the
	// changes it calls inv.InvalidateAll once, so whatever was cached
	// before is read again and nothing is missed. A store that cannot be
	// reached is retried, at start too, so a feed never takes a process
	// down for an outage; it returns an error only for a fault that no
	// retry mends.
	Run(ctx context.Context, inv BindingInvalidator) error
}
