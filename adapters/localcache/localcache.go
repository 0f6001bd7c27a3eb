// Package localcache is an in-process cache of bindings: a
// sentinel.BindingStore that wraps another and answers warm keys from
// memory without allocating. Writes made through it update it at once;
// writes made elsewhere (another process, an admin tool) reach it through
// Invalidate, fed by the store's change feed, or at the latest after the TTL.
package localcache

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	sentinel "github.com/keyipsentinel/sentinel"
)

const shardCount = 64

// Options configure a cache; zero fields take defaults.
type Options struct {
	// TTL bounds how long an entry is trusted without news from the store.
	// Default 1 minute.
	TTL time.Duration
	// MaxEntries bounds memory; past it arbitrary entries are evicted.
	// Default 1 000 000 (a few hundred MB at most).
	MaxEntries int
	// Clock tells the time for expiry; default the real time. Tests pass
	// a manual one to expire entries without waiting.
	Clock sentinel.Clock
}

// BindingStore is the caching sentinel.BindingStore.
type BindingStore struct {
	inner    sentinel.BindingStore
	ttl      time.Duration
	perShard int
	clock    sentinel.Clock
	epoch    time.Time // base for expiry stamps (monotonic with the real clock)
	shards   [shardCount]shard

	// Counters for Stats; atomics, so the hot path pays no allocation.
	hits, misses, invalidations, errors, writeErrors atomic.Int64
}

// Stats counts the cache's lookups since start, for metrics.
type Stats struct {
	// Hits are lookups answered from memory, Misses those that asked the
	// wrapped store, Errors those the wrapped store failed.
	Hits, Misses, Errors int64
	// Invalidations are keys forgotten because they changed elsewhere
	// (Invalidate; InvalidateAll counts one).
	Invalidations int64
	// WriteErrors are writes through the cache that the wrapped store
	// failed (unavailable or a fault; a conflict or a missing key is an
	// answer, not an error).
	WriteErrors int64
}

// Stats returns the cache's counters.
func (c *BindingStore) Stats() Stats {
	return Stats{Hits: c.hits.Load(), Misses: c.misses.Load(), Errors: c.errors.Load(),
		Invalidations: c.invalidations.Load(), WriteErrors: c.writeErrors.Load()}
}

type shard struct {
	mu sync.RWMutex
	m  map[sentinel.KeyHash]entry
	// gen counts invalidations; a fill that raced with one is dropped.
	gen uint64
}

type entry struct {
	b       sentinel.Binding
	expires time.Duration // since epoch
}

var _ sentinel.BindingStore = (*BindingStore)(nil)

// New returns a cache in front of inner.
func New(inner sentinel.BindingStore, opts Options) *BindingStore {
	if opts.TTL <= 0 {
		opts.TTL = time.Minute
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = 1_000_000
	}
	if opts.Clock == nil {
		opts.Clock = sentinel.SystemClock{}
	}
	c := &BindingStore{
		clock:    opts.Clock,
		inner:    inner,
		ttl:      opts.TTL,
		perShard: max(1, opts.MaxEntries/shardCount),
		epoch:    opts.Clock.Now(),
	}
	for i := range c.shards {
		c.shards[i].m = make(map[sentinel.KeyHash]entry)
	}
	return c
}

func (c *BindingStore) shard(k sentinel.KeyHash) *shard {
	return &c.shards[k[0]%shardCount] // HMAC output: uniformly spread
}

func (c *BindingStore) now() time.Duration { return c.clock.Now().Sub(c.epoch) }

// FindBinding implements sentinel.BindingStore.
func (c *BindingStore) FindBinding(ctx context.Context, key sentinel.KeyHash) (sentinel.Binding, error) {
	s := c.shard(key)
	s.mu.RLock()
	e, ok := s.m[key]
	gen := s.gen
	s.mu.RUnlock()
	if ok && e.expires > c.now() {
		c.hits.Add(1)
		return e.b, nil
	}
	c.misses.Add(1)
	b, err := c.inner.FindBinding(ctx, key)
	if err != nil {
		if sentinel.ErrorCode(err) != sentinel.ENOTFOUND {
			c.errors.Add(1)
		}
		return b, err
	}
	c.fill(s, gen, b)
	return b, nil
}

// fill stores b unless an invalidation happened since gen was read or a
// newer version is already there.
func (c *BindingStore) fill(s *shard, gen uint64, b sentinel.Binding) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen != gen {
		return
	}
	c.putLocked(s, b)
}

func (c *BindingStore) putLocked(s *shard, b sentinel.Binding) {
	if old, ok := s.m[b.Key]; ok && old.b.Version > b.Version {
		return
	}
	if _, ok := s.m[b.Key]; !ok && len(s.m) >= c.perShard {
		for k := range s.m { // evict an arbitrary entry
			delete(s.m, k)
			break
		}
	}
	s.m[b.Key] = entry{b: b, expires: c.now() + c.ttl}
}

// generation returns key's shard and its invalidation count, read before
// a write so that the write's result is not cached over a newer change
// that another process made meanwhile (whose invalidation came first).
func (c *BindingStore) generation(key sentinel.KeyHash) (*shard, uint64) {
	s := c.shard(key)
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s, s.gen
}

// Invalidate forgets key; the next lookup asks the wrapped store.
func (c *BindingStore) Invalidate(key sentinel.KeyHash) {
	c.invalidations.Add(1)
	c.forget(key)
}

// forget drops key after a write through the cache (not counted as an
// invalidation: nothing changed elsewhere).
func (c *BindingStore) forget(key sentinel.KeyHash) {
	s := c.shard(key)
	s.mu.Lock()
	delete(s.m, key)
	s.gen++
	s.mu.Unlock()
}

// InvalidateAll forgets every key.
func (c *BindingStore) InvalidateAll() {
	c.invalidations.Add(1)
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		clear(s.m)
		s.gen++
		s.mu.Unlock()
	}
}

// len returns the number of cached bindings (for tests: export_test.go).
func (c *BindingStore) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}

// CreateBinding implements sentinel.BindingStore.
func (c *BindingStore) CreateBinding(ctx context.Context, b sentinel.Binding) (sentinel.Binding, bool, error) {
	s, gen := c.generation(b.Key)
	stored, created, err := c.inner.CreateBinding(ctx, b)
	c.afterWrite(s, gen, b.Key, stored, err)
	return stored, created, err
}

// LearnPrefix implements sentinel.BindingStore.
func (c *BindingStore) LearnPrefix(ctx context.Context, key sentinel.KeyHash, p netip.Prefix) (sentinel.Binding, bool, error) {
	s, gen := c.generation(key)
	b, learned, err := c.inner.LearnPrefix(ctx, key, p)
	c.afterWrite(s, gen, key, b, err)
	return b, learned, err
}

// UpdateBinding implements sentinel.BindingStore.
func (c *BindingStore) UpdateBinding(ctx context.Context, key sentinel.KeyHash, upd sentinel.BindingUpdate) (sentinel.Binding, error) {
	s, gen := c.generation(key)
	b, err := c.inner.UpdateBinding(ctx, key, upd)
	c.afterWrite(s, gen, key, b, err)
	return b, err
}

func (c *BindingStore) afterWrite(s *shard, gen uint64, key sentinel.KeyHash, b sentinel.Binding, err error) {
	if err == nil {
		c.fill(s, gen, b)
		return
	}
	c.countWrite(err)
	c.forget(key) // the write's outcome is unknown, or the key is gone
}

// countWrite counts a failed write: the store was unavailable or at fault.
func (c *BindingStore) countWrite(err error) {
	if code := sentinel.ErrorCode(err); code == sentinel.EUNAVAILABLE || code == sentinel.EINTERNAL {
		c.writeErrors.Add(1)
	}
}

// DeleteBinding implements sentinel.BindingStore.
func (c *BindingStore) DeleteBinding(ctx context.Context, key sentinel.KeyHash, version int64) (sentinel.Binding, error) {
	b, err := c.inner.DeleteBinding(ctx, key, version)
	if err != nil {
		c.countWrite(err)
	}
	c.forget(key)
	return b, err
}

// TouchBindings implements sentinel.BindingStore. Cached copies keep their
// LastUsedAt: decisions do not depend on it.
func (c *BindingStore) TouchBindings(ctx context.Context, uses []sentinel.Use) error {
	return c.inner.TouchBindings(ctx, uses)
}

// ListBindings implements sentinel.BindingStore, always from the wrapped store.
func (c *BindingStore) ListBindings(ctx context.Context, f sentinel.BindingFilter) ([]sentinel.Binding, int, error) {
	return c.inner.ListBindings(ctx, f)
}
