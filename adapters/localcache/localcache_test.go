package localcache_test

import (
	"context"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/clock"
	"github.com/keyipsentinel/sentinel/adapters/localcache"
	"github.com/keyipsentinel/sentinel/adapters/sqlite"
	"github.com/keyipsentinel/sentinel/sentineltest"
)

func openStore(t testing.TB, path string) (*sqlite.DB, *sqlite.BindingStore) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db, sqlite.NewBindingStore(db)
}

func TestContract(t *testing.T) {
	sentineltest.TestBindingStore(t, func(t *testing.T) sentinel.BindingStore {
		_, s := openStore(t, filepath.Join(t.TempDir(), "s.db"))
		return localcache.New(s, localcache.Options{})
	})
}

// TestWarmReadsSkipTheStore shows a warm key is answered from memory: the
// binding is deleted behind the cache's back and the cache still answers,
// until it is told.
func TestWarmReadsSkipTheStore(t *testing.T) {
	ctx := context.Background()
	_, inner := openStore(t, filepath.Join(t.TempDir(), "s.db"))
	c := localcache.New(inner, localcache.Options{TTL: time.Hour})
	b := sentineltest.NewBinding(t, sentineltest.Key("k"), "192.0.2.1")
	_, _, err := c.CreateBinding(ctx, b)
	require.NoError(t, err)

	_, err = inner.DeleteBinding(ctx, b.Key, 0)
	require.NoError(t, err)
	_, err = c.FindBinding(ctx, b.Key)
	require.NoError(t, err, "answered from memory")

	c.Invalidate(b.Key)
	_, err = c.FindBinding(ctx, b.Key)
	sentineltest.RequireCode(t, sentinel.ENOTFOUND, err)
}

func TestExpiry(t *testing.T) {
	ctx := context.Background()
	_, inner := openStore(t, filepath.Join(t.TempDir(), "s.db"))
	clk := clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	c := localcache.New(inner, localcache.Options{TTL: time.Minute, Clock: clk})
	b := sentineltest.NewBinding(t, sentineltest.Key("k"), "192.0.2.1")
	_, _, err := c.CreateBinding(ctx, b)
	require.NoError(t, err)
	_, err = inner.DeleteBinding(ctx, b.Key, 0)
	require.NoError(t, err)
	clk.Advance(59 * time.Second)
	_, err = c.FindBinding(ctx, b.Key)
	require.NoError(t, err, "still trusted within the TTL")
	clk.Advance(2 * time.Second)
	_, err = c.FindBinding(ctx, b.Key)
	sentineltest.RequireCode(t, sentinel.ENOTFOUND, err)
}

func TestMaxEntries(t *testing.T) {
	ctx := context.Background()
	_, inner := openStore(t, filepath.Join(t.TempDir(), "s.db"))
	c := localcache.New(inner, localcache.Options{MaxEntries: 64})
	for i := range 500 {
		b := sentineltest.NewBinding(t, sentineltest.Key(string(rune('a'+i%26))+string(rune(i))), "192.0.2.1")
		_, _, err := c.CreateBinding(ctx, b)
		require.NoError(t, err)
	}
	require.LessOrEqual(t, c.Len(), 64)
}

// TestWatchAcrossProcesses: two handles on one file stand for two
// processes; a change made through one reaches the other's cache through
// the change feed.
func TestWatchAcrossProcesses(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	path := filepath.Join(t.TempDir(), "shared.db")
	_, storeA := openStore(t, path)
	dbB, storeB := openStore(t, path)
	cacheB := localcache.New(storeB, localcache.Options{TTL: time.Hour})
	sentineltest.RunFeed(t, sqlite.NewBindingFeed(dbB, sqlite.FeedOptions{Interval: 20 * time.Millisecond}), cacheB)

	b := sentineltest.NewBinding(t, sentineltest.Key("k"), "192.0.2.1")
	_, _, err := storeA.CreateBinding(ctx, b)
	require.NoError(t, err)
	got, err := cacheB.FindBinding(ctx, b.Key)
	require.NoError(t, err)
	require.Equal(t, sentinel.StatusActive, got.Status)

	banned := sentinel.StatusBanned
	_, err = storeA.UpdateBinding(ctx, b.Key, sentinel.BindingUpdate{Status: &banned})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		got, err := cacheB.FindBinding(ctx, b.Key)
		return err == nil && got.Status == sentinel.StatusBanned
	}, 2*time.Second, 10*time.Millisecond, "a ban made elsewhere reaches the cache")

	_, err = storeA.DeleteBinding(ctx, b.Key, 0)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, err := cacheB.FindBinding(ctx, b.Key)
		return sentinel.ErrorCode(err) == sentinel.ENOTFOUND
	}, 2*time.Second, 10*time.Millisecond, "an unbind made elsewhere reaches the cache")

	// Touching last use does not churn the other caches.
	_, _, err = storeA.CreateBinding(ctx, b)
	require.NoError(t, err)
	_, err = cacheB.FindBinding(ctx, b.Key)
	require.NoError(t, err)
	marker := sentineltest.NewBinding(t, sentineltest.Key("marker"), "192.0.2.2")
	_, _, err = storeA.CreateBinding(ctx, marker)
	require.NoError(t, err)
	_, err = cacheB.FindBinding(ctx, marker.Key)
	require.NoError(t, err)
	require.Equal(t, 2, cacheB.Len())
	require.NoError(t, storeA.TouchBindings(ctx, []sentinel.Use{{Key: b.Key, Addr: netip.MustParseAddr("192.0.2.1"), At: time.Now()}}))
	// The feed reads changes in order: once the marker's ban has reached
	// the cache, an invalidation for the touch would have too.
	_, err = storeA.UpdateBinding(ctx, marker.Key, sentinel.BindingUpdate{Status: &banned})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return cacheB.Len() < 2 }, 2*time.Second, 5*time.Millisecond, "the marker's ban reaches the cache")
	_, err = cacheB.FindBinding(ctx, marker.Key) // would refill the marker only
	require.NoError(t, err)
	require.Equal(t, 2, cacheB.Len(), "the touched binding is still cached")
}

func BenchmarkFindWarm(b *testing.B) {
	ctx := context.Background()
	_, inner := openStore(b, filepath.Join(b.TempDir(), "s.db"))
	c := localcache.New(inner, localcache.Options{})
	bind := sentineltest.NewBinding(b, sentineltest.Key("k"), "192.0.2.1")
	if _, _, err := c.CreateBinding(ctx, bind); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.FindBinding(ctx, bind.Key); err != nil {
			b.Fatal(err)
		}
	}
}

// racingStore lets a test act between a write and the cache seeing its result.
type racingStore struct {
	sentinel.BindingStore
	afterUpdate func()
}

func (r *racingStore) UpdateBinding(ctx context.Context, k sentinel.KeyHash, u sentinel.BindingUpdate) (sentinel.Binding, error) {
	b, err := r.BindingStore.UpdateBinding(ctx, k, u)
	r.afterUpdate()
	return b, err
}

// TestWriteResultNeverShadowsANewerChange: another process changes the key
// after our write and its invalidation arrives before our write returns;
// the cache must not keep our now-stale result.
func TestWriteResultNeverShadowsANewerChange(t *testing.T) {
	ctx := context.Background()
	_, inner := openStore(t, filepath.Join(t.TempDir(), "s.db"))
	rs := &racingStore{BindingStore: inner, afterUpdate: func() {}}
	c := localcache.New(rs, localcache.Options{TTL: time.Hour})
	b := sentineltest.NewBinding(t, sentineltest.Key("k"), "192.0.2.1")
	_, _, err := c.CreateBinding(ctx, b)
	require.NoError(t, err)

	rs.afterUpdate = func() {
		banned := sentinel.StatusBanned
		_, err := inner.UpdateBinding(ctx, b.Key, sentinel.BindingUpdate{Status: &banned}) // the other process
		require.NoError(t, err)
		c.Invalidate(b.Key) // its change feed reaches us
	}
	all := sentinel.Rule{Kind: sentinel.RuleAll}
	_, err = c.UpdateBinding(ctx, b.Key, sentinel.BindingUpdate{Rule: &all})
	require.NoError(t, err)

	got, err := c.FindBinding(ctx, b.Key)
	require.NoError(t, err)
	require.Equal(t, sentinel.StatusBanned, got.Status)
}

// TestStats counts what metrics read: a miss fills, a hit answers from
// memory, an invalidation forgets, and a missing key is a miss, not an
// error.
func TestStats(t *testing.T) {
	ctx := context.Background()
	_, inner := openStore(t, filepath.Join(t.TempDir(), "s.db"))
	c := localcache.New(inner, localcache.Options{TTL: time.Hour})
	b := sentineltest.NewBinding(t, sentineltest.Key("k"), "192.0.2.1")
	_, _, err := inner.CreateBinding(ctx, b)
	require.NoError(t, err)

	_, err = c.FindBinding(ctx, b.Key) // miss, filled
	require.NoError(t, err)
	_, err = c.FindBinding(ctx, b.Key) // hit
	require.NoError(t, err)
	c.Invalidate(b.Key)
	_, err = c.FindBinding(ctx, sentineltest.Key("unknown")) // miss, not found
	sentineltest.RequireCode(t, sentinel.ENOTFOUND, err)
	require.Equal(t, localcache.Stats{Hits: 1, Misses: 2, Invalidations: 1}, c.Stats())
	_, err = c.DeleteBinding(ctx, sentineltest.Key("unknown"), 0) // an answer, not a failure
	sentineltest.RequireCode(t, sentinel.ENOTFOUND, err)
	require.Equal(t, localcache.Stats{Hits: 1, Misses: 2, Invalidations: 1}, c.Stats(), "own writes are no invalidation")

	require.Zero(t, testing.AllocsPerRun(100, func() {
		c.FindBinding(ctx, b.Key)
	}), "a warm lookup allocates nothing, counters included")
}
