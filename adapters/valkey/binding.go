package valkey

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valkey-io/valkey-go"

	sentinel "github.com/keyipsentinel/sentinel"
)

// bindingSpace is the key space of cached bindings under the prefix; the
// client tracks exactly this prefix.
const bindingSpace = "b:"

// setIfNewer stores a binding (or the tombstone of a deleted one) unless
// Valkey already holds a version at least as new. Versions come from the
// authority and only grow, so a slow writer can never put back an older
// state over a newer one, not even over a deletion.
var setIfNewer = valkey.NewLuaScript(`
local cur = redis.call('GET', KEYS[1])
if cur then
  local v = tonumber(string.match(cur, '^(%d+)|'))
  if v and v >= tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
`)

// BindingStore is a sentinel.BindingStore that caches another in Valkey.
// Reads of warm keys are answered from process memory (client-side
// caching); Valkey pushes an invalidation to every proxy when any of them
// writes a key, so a change reaches all of them within milliseconds.
type BindingStore struct {
	c     *Client
	inner sentinel.BindingStore
	ttl   time.Duration
	memo  memo

	runMu sync.Mutex
	runID string // the server's run_id, to notice restarts

	pendingMu sync.Mutex
	pending   map[sentinel.KeyHash]sentinel.Binding // write-throughs to retry after an outage
	deleted   map[sentinel.KeyHash]bool

	// Counters for Stats; atomics, so the hot path pays no allocation.
	hits, misses, errors, innerErrors, invalidations atomic.Int64
	setErrors, innerWriteErrors                      atomic.Int64
}

// BindingStats counts the cache's lookups since start, for metrics.
type BindingStats struct {
	// Hits are lookups answered by Valkey (or its client-side copy),
	// Misses those that asked the authority (Valkey down included).
	Hits, Misses int64
	// Errors are Valkey reads that failed (the authority answered);
	// InnerErrors lookups the authority failed.
	Errors, InnerErrors int64
	// Invalidations are the authority's changes repaired into Valkey
	// (Invalidate; InvalidateAll counts one).
	Invalidations int64
	// SetErrors are write-throughs Valkey did not take (kept and retried
	// on recovery); InnerWriteErrors writes the authority failed
	// (unavailable or a fault; a conflict is an answer, not an error).
	SetErrors, InnerWriteErrors int64
}

// Stats returns the cache's counters.
func (s *BindingStore) Stats() BindingStats {
	return BindingStats{Hits: s.hits.Load(), Misses: s.misses.Load(), Errors: s.errors.Load(),
		InnerErrors: s.innerErrors.Load(), Invalidations: s.invalidations.Load(),
		SetErrors: s.setErrors.Load(), InnerWriteErrors: s.innerWriteErrors.Load()}
}

// wrote counts a failed write to the authority.
func (s *BindingStore) wrote(err error) {
	if code := sentinel.ErrorCode(err); err != nil && (code == sentinel.EUNAVAILABLE || code == sentinel.EINTERNAL) {
		s.innerWriteErrors.Add(1)
	}
}

// find asks the authority, counting the miss.
func (s *BindingStore) find(ctx context.Context, key sentinel.KeyHash) (sentinel.Binding, error) {
	s.misses.Add(1)
	b, err := s.inner.FindBinding(ctx, key)
	if err != nil && sentinel.ErrorCode(err) != sentinel.ENOTFOUND {
		s.innerErrors.Add(1)
	}
	return b, err
}

var _ sentinel.BindingStore = (*BindingStore)(nil)

// maxPending bounds the write-throughs kept for retry while Valkey is down;
// past it the entries simply expire on their TTL.
const maxPending = 100_000

// NewBindingStore returns inner cached in Valkey through c. Entries live
// for ttl (default 1h) without news; writes through any proxy refresh them.
func NewBindingStore(c *Client, inner sentinel.BindingStore, ttl time.Duration) *BindingStore {
	if ttl <= 0 {
		ttl = time.Hour
	}
	s := &BindingStore{c: c, inner: inner, ttl: ttl,
		pending: map[sentinel.KeyHash]sentinel.Binding{}, deleted: map[sentinel.KeyHash]bool{}}
	s.memo.init()
	c.onCatchUp(s.retryPending)
	c.onCatchUp(s.watchRestart)
	c.onInvalidation(s.invalidated)
	return s
}

// invalidated hears of the cached keys Valkey invalidated (nil: all):
// their memo entries are confirmed by Valkey's answer again before they
// are used (memo.stale).
func (s *BindingStore) invalidated(keys []string) {
	if keys == nil {
		s.memo.staleAll()
		return
	}
	space := s.c.opts.Prefix + bindingSpace
	for _, name := range keys {
		hex, ok := strings.CutPrefix(name, space)
		if !ok {
			continue // another space: the client tracks only this one
		}
		k, err := sentinel.ParseKeyHash(hex)
		if err != nil {
			s.memo.staleAll() // not a name this store writes: trust none
			return
		}
		s.memo.stale(k)
	}
}

func (s *BindingStore) cacheKey(k sentinel.KeyHash) string {
	return s.c.opts.Prefix + bindingSpace + k.String()
}

// FindBinding implements sentinel.BindingStore.
func (s *BindingStore) FindBinding(ctx context.Context, key sentinel.KeyHash) (sentinel.Binding, error) {
	vc, ok := s.c.get()
	if !ok {
		return s.find(ctx, key)
	}
	m, gen, known := s.memo.get(key)
	if known && m.checked == gen && !m.deleted {
		// Valkey's answer was this entry's, and no invalidation of the
		// key (or of everything: a lost connection) has come since: the
		// client-side copy DoCache would read is the same.
		s.hits.Add(1)
		return m.b, nil
	}
	if !known {
		m.key = s.cacheKey(key)
	}
	get := m.get
	if get == (valkey.Cacheable{}) {
		get = vc.B().Get().Key(m.key).Cache().Pin()
		if known {
			s.memo.keepGet(key, m.key, get)
		}
	}
	raw, err := vc.DoCache(ctx, get, s.ttl).ToString()
	stale := false // Valkey's answer may be older than this process's own write
	switch {
	case err == nil:
		if known && raw == m.raw {
			if !m.deleted {
				s.memo.confirm(key, raw, gen)
				s.hits.Add(1)
				return m.b, nil // the decoded copy of exactly what Valkey holds
			}
			break // a tombstone: the key has no binding unless the authority has a newer one
		}
		b, tombstone, derr := decodeBinding(key, raw)
		if derr == nil && !tombstone && b.Version >= m.floor {
			s.memo.raise(key, memoEntry{key: m.key, get: get, raw: raw, b: b, floor: b.Version})
			s.hits.Add(1)
			return b, nil
		}
		// Below the floor means this process wrote a newer state and the
		// invalidation of the old one is still on its way. (A tombstone, or
		// an answer that does not decode, goes to the authority.)
		stale = derr == nil && !tombstone
	case valkey.IsValkeyNil(err):
		// Possibly the absence this process had cached, while its own
		// first write of the key waits for Valkey's invalidation of it.
		stale = true
	default:
		s.errors.Add(1)
		s.c.failed(ctx, err)
		return s.find(ctx, key)
	}
	if stale && known && m.ownRecent() {
		s.hits.Add(1)
		return m.b, nil
	}
	b, err := s.find(ctx, key)
	if err == nil {
		s.publish(ctx, b, false)
	}
	return b, err
}

// CreateBinding implements sentinel.BindingStore.
func (s *BindingStore) CreateBinding(ctx context.Context, b sentinel.Binding) (sentinel.Binding, bool, error) {
	stored, created, err := s.inner.CreateBinding(ctx, b)
	s.wrote(err)
	if err == nil {
		s.publish(ctx, stored, false)
	}
	return stored, created, err
}

// LearnPrefix implements sentinel.BindingStore.
func (s *BindingStore) LearnPrefix(ctx context.Context, key sentinel.KeyHash, p netip.Prefix) (sentinel.Binding, bool, error) {
	b, learned, err := s.inner.LearnPrefix(ctx, key, p)
	s.wrote(err)
	if err == nil && learned {
		s.publish(ctx, b, false)
	}
	return b, learned, err
}

// UpdateBinding implements sentinel.BindingStore.
func (s *BindingStore) UpdateBinding(ctx context.Context, key sentinel.KeyHash, upd sentinel.BindingUpdate) (sentinel.Binding, error) {
	b, err := s.inner.UpdateBinding(ctx, key, upd)
	s.wrote(err)
	if err == nil {
		s.publish(ctx, b, false)
	}
	return b, err
}

// DeleteBinding implements sentinel.BindingStore. It leaves a tombstone
// with the deletion's version, so that no reader still holding the old
// binding can put it back.
func (s *BindingStore) DeleteBinding(ctx context.Context, key sentinel.KeyHash, version int64) (sentinel.Binding, error) {
	b, err := s.inner.DeleteBinding(ctx, key, version)
	s.wrote(err)
	if err == nil {
		s.publish(ctx, b, true)
	}
	return b, err
}

// TouchBindings implements sentinel.BindingStore, straight to the
// authority: decisions do not depend on last use, so caches need not churn.
func (s *BindingStore) TouchBindings(ctx context.Context, uses []sentinel.Use) error {
	return s.inner.TouchBindings(ctx, uses)
}

// ListBindings implements sentinel.BindingStore, from the authority.
func (s *BindingStore) ListBindings(ctx context.Context, f sentinel.BindingFilter) ([]sentinel.Binding, int, error) {
	return s.inner.ListBindings(ctx, f)
}

// publish writes b (or its tombstone) to Valkey if nothing newer is there.
// When Valkey cannot take it, the write is kept and retried on recovery:
// Valkey may still hold the old state when it comes back. The memo learns
// it first, so this process reads its own writes even before Valkey's
// invalidation of the old state arrives.
func (s *BindingStore) publish(ctx context.Context, b sentinel.Binding, deleted bool) {
	raw := encodeBinding(b, deleted)
	s.memo.raise(b.Key, memoEntry{key: s.cacheKey(b.Key), raw: raw, b: b, deleted: deleted, floor: b.Version, wrote: time.Now()})
	vc, ok := s.c.get()
	if ok {
		// The authority has changed: finish telling Valkey even if the
		// caller has given up, or every proxy would keep the old state.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.c.opts.Timeout)
		defer cancel()
		err := s.exec(ctx, vc, b.Key, b.Version, raw)
		if err == nil {
			return
		}
		s.c.failed(context.Background(), err) // even our own deadline passing is Valkey's failure
	}
	s.setErrors.Add(1)
	s.keepPending(b, deleted)
}

// keepPending queues a write-through for when Valkey is back.
func (s *BindingStore) keepPending(b sentinel.Binding, deleted bool) {
	s.pendingMu.Lock()
	defer s.pendingMu.Unlock()
	if old, ok := s.pending[b.Key]; ok && old.Version > b.Version {
		return
	}
	if _, ok := s.pending[b.Key]; !ok && len(s.pending) >= maxPending {
		return
	}
	s.pending[b.Key] = b
	s.deleted[b.Key] = deleted
}

func (s *BindingStore) exec(ctx context.Context, vc valkey.Client, key sentinel.KeyHash, version int64, raw string) error {
	return setIfNewer.Exec(ctx, vc, []string{s.cacheKey(key)},
		[]string{strconv.FormatInt(version, 10), raw, strconv.FormatInt(s.ttl.Milliseconds(), 10)}).Error()
}

// retryPending writes what failed to reach Valkey. What still fails is
// kept for the next attempt.
func (s *BindingStore) retryPending(ctx context.Context) error {
	s.pendingMu.Lock()
	if len(s.pending) == 0 {
		s.pendingMu.Unlock()
		return nil
	}
	pending, deleted := s.pending, s.deleted
	s.pending, s.deleted = map[sentinel.KeyHash]sentinel.Binding{}, map[sentinel.KeyHash]bool{}
	s.pendingMu.Unlock()
	vc := s.c.client.Load()
	var err error
	for k, b := range pending {
		if err == nil && vc != nil {
			err = s.exec(ctx, *vc, k, b.Version, encodeBinding(b, deleted[k]))
			if err == nil {
				continue
			}
		}
		s.keepPending(b, deleted[k])
	}
	if vc == nil && len(pending) > 0 {
		return sentinel.Errorf(sentinel.EUNAVAILABLE, "valkey: not connected")
	}
	return err
}

// encodeBinding writes "version|kind|status|limit|allowed|first|last|created|updated|lastused|hint",
// or "version|deleted" for a tombstone. The version leads so the Lua
// script can compare without decoding; the hint, which may hold '|', ends.
func encodeBinding(b sentinel.Binding, deleted bool) string {
	v := strconv.FormatInt(b.Version, 10)
	if deleted {
		return v + "|deleted"
	}
	var sb strings.Builder
	sb.Grow(96 + len(b.Hint))
	for i, f := range []string{
		v, string(b.Rule.Kind), string(b.Status), strconv.Itoa(b.Rule.Limit), b.Rule.Spec(),
		addrString(b.FirstIP), addrString(b.LastIP),
		strconv.FormatInt(micros(b.CreatedAt), 10), strconv.FormatInt(micros(b.UpdatedAt), 10),
		strconv.FormatInt(micros(b.LastUsedAt), 10), b.Hint,
	} {
		if i > 0 {
			sb.WriteByte('|')
		}
		sb.WriteString(f)
	}
	return sb.String()
}

func decodeBinding(key sentinel.KeyHash, raw string) (sentinel.Binding, bool, error) {
	f := strings.SplitN(raw, "|", 11)
	if len(f) == 2 && f[1] == "deleted" {
		return sentinel.Binding{}, true, nil
	}
	if len(f) != 11 {
		return sentinel.Binding{}, false, sentinel.Errorf(sentinel.EINTERNAL, "valkey: cached binding has %d fields", len(f))
	}
	var b sentinel.Binding
	var err error
	b.Key = key
	if b.Version, err = strconv.ParseInt(f[0], 10, 64); err != nil {
		return b, false, sentinel.Errorf(sentinel.EINTERNAL, "valkey: cached binding version is corrupt")
	}
	limit, _ := strconv.Atoi(f[3])
	ps, err := sentinel.ParsePrefixList(f[4])
	if err != nil {
		return b, false, err
	}
	b.Rule = sentinel.Rule{Kind: sentinel.RuleKind(f[1]), Prefixes: ps, Limit: limit}
	b.Status = sentinel.Status(f[2])
	b.FirstIP, _ = netip.ParseAddr(f[5])
	b.LastIP, _ = netip.ParseAddr(f[6])
	b.CreatedAt = fromMicros(f[7])
	b.UpdatedAt = fromMicros(f[8])
	b.LastUsedAt = fromMicros(f[9])
	b.Hint = f[10]
	return b, false, b.Validate()
}

func addrString(a netip.Addr) string { return sentinel.FormatAddr(a) }

func micros(t time.Time) int64 { return sentinel.UnixMicros(t) }

func fromMicros(s string) time.Time {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}
	}
	return sentinel.FromUnixMicros(v)
}

// memo keeps the decoded form of what Valkey last answered for each key,
// and the key's name, so a warm read neither allocates nor decodes: it
// compares Valkey's answer (from the client-side cache) with the memo's.
// Its floor is the newest version this process knows of, from its own
// writes or reads; an older answer from Valkey is stale.
type memo struct {
	shards [64]memoShard
}

type memoShard struct {
	mu sync.RWMutex
	m  map[sentinel.KeyHash]memoEntry
	// gen counts the invalidations of the shard's keys (and of all):
	// an entry whose checked is gen is what Valkey's client-side cache
	// holds, with nothing invalidated since. Starts at 1.
	gen uint64
}

type memoEntry struct {
	key string // Valkey key name
	// get is the GET of key, built once and pinned (never recycled by
	// valkey-go, so shared by every lookup: no builder work per request);
	// zero until first needed.
	get     valkey.Cacheable
	raw     string // encoded binding as Valkey last answered, or as this process last wrote it
	b       sentinel.Binding
	deleted bool // raw is a tombstone
	floor   int64
	wrote   time.Time // when this process wrote raw (publish); zero when read from Valkey
	// checked is the shard's gen when a DoCache answered raw; 0 (never a
	// gen) until then and for a state this process wrote.
	checked uint64
}

// ownWriteGrace is how long this process answers from its own write of a
// key when Valkey's answer is older (the invalidation of what this
// process had cached, an absence or an older state, is still on its way:
// normally milliseconds). Past it, such an answer goes to the authority;
// it is short because a key removed from Valkey by another process in
// that time (an unbind) is still answered from this process's write.
const ownWriteGrace = 250 * time.Millisecond

// ownRecent reports whether e is a live binding this process wrote within
// ownWriteGrace: Valkey holds it (or something newer, whose invalidation
// is on its way too, as for any cached answer).
func (e memoEntry) ownRecent() bool {
	return !e.deleted && !e.wrote.IsZero() && time.Since(e.wrote) < ownWriteGrace
}

const memoShardMax = 1_000_000 / 64

func (m *memo) init() {
	for i := range m.shards {
		m.shards[i].m = make(map[sentinel.KeyHash]memoEntry)
		m.shards[i].gen = 1
	}
}

// get returns k's entry and its shard's gen.
func (m *memo) get(k sentinel.KeyHash) (memoEntry, uint64, bool) {
	s := &m.shards[k[0]%64]
	s.mu.RLock()
	e, ok := s.m[k]
	gen := s.gen
	s.mu.RUnlock()
	return e, gen, ok
}

// confirm records that Valkey answered raw for k, read under gen: unless
// k's entry changed or an invalidation came since, the next lookup needs
// no DoCache.
func (m *memo) confirm(k sentinel.KeyHash, raw string, gen uint64) {
	s := &m.shards[k[0]%64]
	s.mu.Lock()
	if e, ok := s.m[k]; ok && s.gen == gen && e.raw == raw && e.checked != gen {
		e.checked = gen
		s.m[k] = e
	}
	s.mu.Unlock()
}

// stale makes k's entry (and, as the count is the shard's, its shard's)
// wait for Valkey's answer again.
func (m *memo) stale(k sentinel.KeyHash) {
	s := &m.shards[k[0]%64]
	s.mu.Lock()
	s.gen++
	s.mu.Unlock()
}

// staleAll makes every entry wait for Valkey's answer again.
func (m *memo) staleAll() {
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		s.gen++
		s.mu.Unlock()
	}
}

// raise records a state this process wrote or read, unless it knows a
// newer one.
func (m *memo) raise(k sentinel.KeyHash, e memoEntry) {
	s := &m.shards[k[0]%64]
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.m[k]; ok && old.floor > e.floor {
		return
	}
	m.putLocked(s, k, e)
}

// keepGet records get, the pinned GET of the Valkey key name key, in k's
// entry.
func (m *memo) keepGet(k sentinel.KeyHash, key string, get valkey.Cacheable) {
	s := &m.shards[k[0]%64]
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[k]; ok && e.key == key && e.get == (valkey.Cacheable{}) {
		e.get = get
		s.m[k] = e
	}
}

func (m *memo) putLocked(s *memoShard, k sentinel.KeyHash, e memoEntry) {
	old, ok := s.m[k]
	if ok && e.get == (valkey.Cacheable{}) && old.key == e.key {
		e.get = old.get // the same key's GET
	}
	if !ok && len(s.m) >= memoShardMax {
		for old := range s.m {
			delete(s.m, old)
			break
		}
	}
	s.m[k] = e
}
