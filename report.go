package sentinel

import (
	"context"
	"net/netip"
	"time"
)

// KeyCount is how many refusals one key had.
type KeyCount struct {
	Key   KeyHash
	Hint  string
	Count int64
}

// IPCount is how often one client address was refused (dashboard tops,
// alert payloads).
type IPCount struct {
	IP    netip.Addr
	Count int64
}

// BindingCounts are the totals of bindings for the dashboard.
type BindingCounts struct {
	Total  int
	Active int
	Banned int
	ByRule map[RuleKind]int
}

// MaxTopN bounds the length of a "top refused" list.
const MaxTopN = 100

// InterceptReport reads the intercept log for the admin API beyond
// paging. Every method may return EUNAVAILABLE.
type InterceptReport interface {
	// EachIntercept calls fn with every intercept matching f (Offset and
	// Limit ignored), newest first, streaming from a database cursor so
	// memory stays flat whatever the count. It stops at fn's first error
	// and returns it. EINVALID for a bad filter.
	EachIntercept(ctx context.Context, f InterceptFilter, fn func(Intercept) error) error

	// TopRefusedKeys returns the n keys with the most intercepts since t,
	// most first (ties by key). n is 1..MaxTopN, else EINVALID.
	TopRefusedKeys(ctx context.Context, since time.Time, n int) ([]KeyCount, error)

	// TopRefusedIPs returns the n client addresses with the most
	// intercepts since t, most first. n is 1..MaxTopN, else EINVALID.
	TopRefusedIPs(ctx context.Context, since time.Time, n int) ([]IPCount, error)
}

// BindingReport counts bindings for the dashboard. It may return
// EUNAVAILABLE.
type BindingReport interface {
	// CountBindings returns the totals by status and rule kind.
	CountBindings(ctx context.Context) (BindingCounts, error)
}

// ValidateTopN returns EINVALID unless n is 1..MaxTopN.
func ValidateTopN(n int) error {
	if n < 1 || n > MaxTopN {
		return Errorf(EINVALID, "top list length must be from 1 to %d, got %d", MaxTopN, n)
	}
	return nil
}
