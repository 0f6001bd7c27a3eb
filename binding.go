package sentinel

import (
	"context"
	"net/netip"
	"slices"
	"time"
)

// Status is whether a binding's key may be used at all.
type Status string

// Binding statuses.
const (
	StatusActive Status = "active"
	StatusBanned Status = "banned"
)

// Validate returns EINVALID for an unknown status.
func (s Status) Validate() error {
	switch s {
	case StatusActive, StatusBanned:
		return nil
	}
	return Errorf(EINVALID, "unknown status %q; use active or banned", truncate(string(s), 32))
}

// Binding ties a key to the client addresses allowed to use it.
type Binding struct {
	Key     KeyHash
	Hint    string // masked key, e.g. "sk-abcd…wxyz"; never the key itself
	Rule    Rule
	Status  Status
	FirstIP netip.Addr // client of the first use
	LastIP  netip.Addr // client of the latest allowed use (refreshed in batches)

	CreatedAt  time.Time
	UpdatedAt  time.Time // last change of rule or status
	LastUsedAt time.Time // refreshed in batches, see Recorder

	// Version is assigned by the store and changes with every change that
	// affects decisions (creation, rule, status, learning, deletion). A
	// store's versions only grow, across all keys, so a cache can tell a
	// stale copy from a fresh one even across delete and re-create. Touching
	// LastUsedAt/LastIP does not change it.
	Version int64
}

// Validate returns EINVALID when the binding cannot be stored.
func (b Binding) Validate() error {
	if b.Key.IsZero() {
		return Errorf(EINVALID, "binding has no key hash")
	}
	if err := b.Rule.Validate(); err != nil {
		return err
	}
	return b.Status.Validate()
}

// MaxHintLen is the longest hint stored, in bytes.
const MaxHintLen = 32

// Sanitized returns b with its free text (the hint, the masked form of
// whatever a client sent as its key, which may hold a NUL byte or invalid
// UTF-8: "key=%00…") made safe for any store, as Intercept.Sanitized does:
// binding must never fail over a cosmetic field. Every store applies it.
func (b Binding) Sanitized() Binding {
	b.Hint = clipText(b.Hint, MaxHintLen)
	return b
}

// VersionConflict is the error of a change conditional on version when the
// binding is now at current: somebody changed it meanwhile.
func VersionConflict(version, current int64) *Error {
	return Errorf(ECONFLICT, "binding changed since version %d (now %d)", version, current)
}

// Use is one allowed use of a key, for the batched last-use refresh.
type Use struct {
	Key  KeyHash
	Addr netip.Addr
	At   time.Time
}

// BindingUpdate changes a binding; nil fields are left alone.
type BindingUpdate struct {
	Rule   *Rule
	Status *Status
	// Audit, when set, is written to the admin audit log in the same
	// transaction as the change, with Before and After filled by the store
	// (AuditBinding of the binding before and after), also when nothing
	// changed. Caches pass it through with the update.
	Audit *AuditEntry
}

// BindingFilter selects bindings for listing. Zero fields match everything.
type BindingFilter struct {
	Key    *KeyHash
	Status Status
	Kind   RuleKind
	// Net selects bindings whose allowed prefixes overlap it, or whose first
	// or last client falls inside it: "which bindings concern this address
	// or subnet". A host prefix asks about one address.
	Net netip.Prefix
	// Sort orders the listing, by creation time (the default) or by last
	// use; Ascending turns the default newest-first order around.
	Sort      BindingSort
	Ascending bool

	Offset int
	Limit  int // 0 means DefaultPageSize; at most MaxPageSize
}

// Validate returns EINVALID for a filter no store can apply.
func (f BindingFilter) Validate() error {
	if f.Offset < 0 {
		return Errorf(EINVALID, "offset must not be negative")
	}
	if f.Status != "" {
		if err := f.Status.Validate(); err != nil {
			return err
		}
	}
	if f.Kind != "" {
		if err := (Rule{Kind: f.Kind}).validKind(); err != nil {
			return err
		}
	}
	switch f.Sort {
	case "", SortCreatedAt, SortLastUsedAt:
	default:
		return Errorf(EINVALID, "unknown sort %q; use created_at or last_used_at", truncate(string(f.Sort), 32))
	}
	return nil
}

// BindingSort names the order of a binding listing.
type BindingSort string

// Binding listing orders.
const (
	SortCreatedAt  BindingSort = "created_at"
	SortLastUsedAt BindingSort = "last_used_at"
)

// Page sizes for listings.
const (
	DefaultPageSize = 50
	MaxPageSize     = 1000
)

// PageLimit returns the effective page size for a requested limit.
func PageLimit(limit int) int {
	switch {
	case limit <= 0:
		return DefaultPageSize
	case limit > MaxPageSize:
		return MaxPageSize
	}
	return limit
}

// BindingStore is the authoritative home of bindings, or a cache wrapping
// one (a cache takes a BindingStore and is one). Every method may return
// EUNAVAILABLE when the store cannot be reached.
type BindingStore interface {
	// FindBinding returns the binding of key, or ENOTFOUND.
	FindBinding(ctx context.Context, key KeyHash) (Binding, error)

	// CreateBinding stores b unless key already has a binding, atomically:
	// of any number of concurrent callers, across processes, exactly one
	// stores its binding. It returns the binding now stored (b with its
	// Version set, or the one that was there) and whether b was stored.
	// EINVALID when b is not valid.
	CreateBinding(ctx context.Context, b Binding) (stored Binding, created bool, err error)

	// LearnPrefix adds p to the prefixes of key's learn rule if the rule
	// has room and does not contain p yet, atomically, and returns the
	// binding after the change and whether p was added. A binding with any
	// other rule, or with a full learn rule, is returned unchanged.
	// ENOTFOUND when key has no binding.
	LearnPrefix(ctx context.Context, key KeyHash, p netip.Prefix) (b Binding, learned bool, err error)

	// UpdateBinding applies upd to key's binding and returns the result.
	// ENOTFOUND when key has no binding; EINVALID when upd is not valid.
	UpdateBinding(ctx context.Context, key KeyHash, upd BindingUpdate) (Binding, error)

	// DeleteBinding removes key's binding; the key binds again on its next
	// use. With version 0 it removes whatever is there; otherwise only a
	// binding still at that version, and ECONFLICT if it changed. It returns
	// the binding as it was, with Version set to the version of the
	// deletion. ENOTFOUND when key has no binding.
	DeleteBinding(ctx context.Context, key KeyHash, version int64) (Binding, error)

	// TouchBindings refreshes LastUsedAt and LastIP from uses (one per key
	// is enough; the latest wins), skipping keys that have no binding. It
	// never moves LastUsedAt backwards.
	TouchBindings(ctx context.Context, uses []Use) error

	// ListBindings returns one page of the bindings matching f, newest
	// first, and how many match in all. EINVALID for a bad filter.
	ListBindings(ctx context.Context, f BindingFilter) ([]Binding, int, error)
}

// Learn adds p to the prefixes of a learn rule that has room and does not
// hold p yet, at time now, and reports whether it did.
func (b *Binding) Learn(p netip.Prefix, now time.Time) bool {
	if !b.Rule.CanLearn() || slices.Contains(b.Rule.Prefixes, p) {
		return false
	}
	b.Rule.Prefixes = append(slices.Clip(b.Rule.Prefixes), p)
	b.UpdatedAt = now.UTC()
	return true
}

// Apply applies upd at time now and reports whether anything changed.
// It returns EINVALID, leaving b alone, when upd is not valid or the
// binding would not be; stores need not validate its result again.
func (b *Binding) Apply(upd BindingUpdate, now time.Time) (bool, error) {
	if upd.Rule != nil {
		if err := upd.Rule.Validate(); err != nil {
			return false, err
		}
	}
	if upd.Status != nil {
		if err := upd.Status.Validate(); err != nil {
			return false, err
		}
	}
	old := *b
	changed := false
	if upd.Rule != nil && !upd.Rule.Equal(b.Rule) {
		b.Rule = Rule{Kind: upd.Rule.Kind, Prefixes: slices.Clone(upd.Rule.Prefixes), Limit: upd.Rule.Limit}
		changed = true
	}
	if upd.Status != nil && *upd.Status != b.Status {
		b.Status = *upd.Status
		changed = true
	}
	if !changed {
		return false, nil
	}
	if err := b.Validate(); err != nil {
		*b = old
		return false, err
	}
	b.UpdatedAt = now.UTC()
	return true, nil
}

// Concerns reports whether b has to do with the addresses in net: one of
// its allowed prefixes overlaps net, or its first or last client is inside.
// A rule of kind all concerns no particular address.
func (b *Binding) Concerns(net netip.Prefix) bool {
	for _, p := range b.Rule.Prefixes {
		if p.Overlaps(net) {
			return true
		}
	}
	return (b.FirstIP.IsValid() && net.Contains(b.FirstIP)) || (b.LastIP.IsValid() && net.Contains(b.LastIP))
}
