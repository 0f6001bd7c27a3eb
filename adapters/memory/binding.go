package memory

import (
	"bytes"
	"cmp"
	"context"
	"net/netip"
	"slices"
	"sync"
	"time"

	sentinel "github.com/keyipsentinel/sentinel"
)

// BindingStoreOptions configure a BindingStore; zero fields take defaults.
type BindingStoreOptions struct {
	// Clock stamps updates and learning; default the real time.
	Clock sentinel.Clock
}

// BindingStore is a sentinel.BindingStore in a map behind one lock. It
// passes the same contract suite as the database stores. Like the caches,
// it hands out bindings whose Rule.Prefixes share memory with its own
// copy: the domain never modifies a rule in place (Learn and Apply make
// new slices), and neither may callers.
type BindingStore struct {
	clock sentinel.Clock

	mu       sync.RWMutex
	bindings map[sentinel.KeyHash]sentinel.Binding
	version  int64 // last version handed out: versions only grow, across keys
}

var _ sentinel.BindingStore = (*BindingStore)(nil)

// NewBindingStore returns an empty store.
func NewBindingStore(opts BindingStoreOptions) *BindingStore {
	if opts.Clock == nil {
		opts.Clock = sentinel.SystemClock{}
	}
	return &BindingStore{clock: opts.Clock, bindings: make(map[sentinel.KeyHash]sentinel.Binding)}
}

// clone returns b with a rule that shares no memory with the caller's.
func clone(b sentinel.Binding) sentinel.Binding {
	b.Rule.Prefixes = slices.Clone(b.Rule.Prefixes)
	return b
}

func notFound() error { return sentinel.Errorf(sentinel.ENOTFOUND, "memory: binding not found") }

// FindBinding implements sentinel.BindingStore.
func (s *BindingStore) FindBinding(ctx context.Context, key sentinel.KeyHash) (sentinel.Binding, error) {
	s.mu.RLock()
	b, ok := s.bindings[key]
	s.mu.RUnlock()
	if !ok {
		return sentinel.Binding{}, notFound()
	}
	return b, nil
}

// CreateBinding implements sentinel.BindingStore.
func (s *BindingStore) CreateBinding(ctx context.Context, b sentinel.Binding) (sentinel.Binding, bool, error) {
	if err := b.Validate(); err != nil {
		return sentinel.Binding{}, false, err
	}
	b = clone(b.Sanitized())
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.bindings[b.Key]; ok {
		return old, false, nil
	}
	s.version++
	b.Version = s.version
	s.bindings[b.Key] = b
	return b, true, nil
}

// modify applies change to key's binding under the lock and stores the
// result under a new version when change reports a change.
func (s *BindingStore) modify(key sentinel.KeyHash, change func(b *sentinel.Binding, now time.Time) (bool, error)) (sentinel.Binding, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.bindings[key]
	if !ok {
		return sentinel.Binding{}, false, notFound()
	}
	b := old // Learn and Apply replace the prefixes, never write into them
	changed, err := change(&b, s.clock.Now())
	if err != nil || !changed {
		return old, false, err // Learn and Apply leave only valid bindings
	}
	s.version++
	b.Version = s.version
	s.bindings[key] = b
	return b, true, nil
}

// LearnPrefix implements sentinel.BindingStore.
func (s *BindingStore) LearnPrefix(ctx context.Context, key sentinel.KeyHash, p netip.Prefix) (sentinel.Binding, bool, error) {
	if !p.IsValid() {
		return sentinel.Binding{}, false, sentinel.Errorf(sentinel.EINVALID, "memory: learn prefix: invalid prefix")
	}
	return s.modify(key, func(b *sentinel.Binding, now time.Time) (bool, error) { return b.Learn(p, now), nil })
}

// UpdateBinding implements sentinel.BindingStore.
func (s *BindingStore) UpdateBinding(ctx context.Context, key sentinel.KeyHash, upd sentinel.BindingUpdate) (sentinel.Binding, error) {
	b, _, err := s.modify(key, func(b *sentinel.Binding, now time.Time) (bool, error) { return b.Apply(upd, now) })
	return b, err
}

// DeleteBinding implements sentinel.BindingStore.
func (s *BindingStore) DeleteBinding(ctx context.Context, key sentinel.KeyHash, version int64) (sentinel.Binding, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.bindings[key]
	if !ok {
		return sentinel.Binding{}, notFound()
	}
	if version != 0 && b.Version != version {
		return sentinel.Binding{}, sentinel.VersionConflict(version, b.Version)
	}
	delete(s.bindings, key)
	s.version++
	b.Version = s.version
	return b, nil
}

// TouchBindings implements sentinel.BindingStore.
func (s *BindingStore) TouchBindings(ctx context.Context, uses []sentinel.Use) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range uses {
		b, ok := s.bindings[u.Key]
		if !ok || !u.At.After(b.LastUsedAt) {
			continue
		}
		b.LastUsedAt, b.LastIP = u.At.UTC(), u.Addr
		s.bindings[u.Key] = b
	}
	return nil
}

// ListBindings implements sentinel.BindingStore.
func (s *BindingStore) ListBindings(ctx context.Context, f sentinel.BindingFilter) ([]sentinel.Binding, int, error) {
	if err := f.Validate(); err != nil {
		return nil, 0, err
	}
	s.mu.RLock()
	var match []sentinel.Binding
	for _, b := range s.bindings {
		if matches(b, f) {
			match = append(match, b)
		}
	}
	s.mu.RUnlock()
	// Newest first, then by key hash, as the database stores order.
	slices.SortFunc(match, func(a, b sentinel.Binding) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(bytes.Compare(a.Key[:], b.Key[:]), 0)
	})
	total := len(match)
	lo := min(f.Offset, total)
	hi := min(lo+sentinel.PageLimit(f.Limit), total)
	return match[lo:hi], total, nil
}

func matches(b sentinel.Binding, f sentinel.BindingFilter) bool {
	switch {
	case f.Key != nil && *f.Key != b.Key,
		f.Status != "" && f.Status != b.Status,
		f.Kind != "" && f.Kind != b.Rule.Kind,
		f.Net.IsValid() && !b.Concerns(f.Net):
		return false
	}
	return true
}
