package httpproxy

import (
	"context"

	sentinel "github.com/keyipsentinel/sentinel"
)

// ResolveOffPath settles c's off-path candidates (see Credentials.OffPath):
// each is hashed with h and looked up with bound (never bound itself); an
// unbound one is dropped, a bound one is promoted (Promote), so that beside
// a different key the request is ErrMultipleKeys and alone it is decided on
// as the request's key. A later New API could read the place it sits in, so
// a bound key there must never pass unchecked. An error of bound is
// returned as it is; the Middleware then answers as it answers a failed
// Decide (the failsafe mode for EUNAVAILABLE).
func (c Credentials) ResolveOffPath(ctx context.Context, h *sentinel.Hasher,
	bound func(context.Context, sentinel.KeyHash) (bool, error)) (Credentials, error) {
	off := c.OffPath
	c.OffPath = nil
	for _, t := range off {
		ok, err := bound(ctx, h.Hash(t))
		if err != nil {
			return c, err
		}
		if !ok {
			continue
		}
		if c, err = c.Promote(t); err != nil {
			return c, err
		}
	}
	return c, nil
}

// BoundIn returns a lookup for ResolveOffPath backed by store (a cache
// wrapper is the right one: most off-path values are placeholders that are
// never bound, and a negative answer should be cheap).
func BoundIn(store sentinel.BindingStore) func(context.Context, sentinel.KeyHash) (bool, error) {
	return func(ctx context.Context, k sentinel.KeyHash) (bool, error) {
		_, err := store.FindBinding(ctx, k)
		switch sentinel.ErrorCode(err) {
		case "":
			return true, nil
		case sentinel.ENOTFOUND:
			return false, nil
		}
		return false, err
	}
}
