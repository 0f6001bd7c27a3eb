package valkey_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	vk "github.com/valkey-io/valkey-go"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/postgres"
	"github.com/keyipsentinel/sentinel/adapters/sqlite"
	"github.com/keyipsentinel/sentinel/adapters/valkey"
	"github.com/keyipsentinel/sentinel/sentineltest"
	"github.com/keyipsentinel/sentinel/test/relay"
	"github.com/keyipsentinel/sentinel/test/testenv"
)

// testLog writes a client's log into the test's output until the test
// ends (the client's goroutines may outlive it briefly).
type testLog struct {
	t    testing.TB
	done *atomic.Bool
}

func (w testLog) Write(p []byte) (int, error) {
	if !w.done.Load() {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

func connect(t testing.TB, addr, prefix string) *valkey.Client {
	t.Helper()
	w := testLog{t: t, done: &atomic.Bool{}}
	t.Cleanup(func() { w.done.Store(true) }) // runs after the client is closed
	c, err := valkey.Connect(valkey.Options{Addr: addr, Prefix: prefix, Timeout: 500 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

func sqliteStore(t testing.TB) sentinel.BindingStore {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"), sqlite.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return sqlite.NewBindingStore(db)
}

func postgresStore(t testing.TB) sentinel.BindingStore {
	t.Helper()
	ctx := context.Background()
	db, err := postgres.Open(ctx, testenv.Postgres(t), postgres.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	_, err = db.Migrate(ctx)
	require.NoError(t, err)
	return postgres.NewBindingStore(db)
}

// TestContract runs the store contract through the Valkey cache, standalone
// and cluster, in front of both authorities.
func TestContract(t *testing.T) {
	authorities := map[string]func(t testing.TB) sentinel.BindingStore{"sqlite": sqliteStore, "postgres": postgresStore}
	topologies := map[string]func(t *testing.T) string{
		"standalone": func(t *testing.T) string { a, _ := testenv.Redis(t); return a },
		"cluster":    func(t *testing.T) string { a, _ := testenv.RedisCluster(t); return strings.Join(a, ",") },
	}
	for topo, addrOf := range topologies {
		t.Run(topo, func(t *testing.T) {
			addr := addrOf(t)
			for name, authority := range authorities {
				t.Run(name, func(t *testing.T) {
					sentineltest.TestBindingStore(t, func(t *testing.T) sentinel.BindingStore {
						return valkey.NewBindingStore(connect(t, addr, testenv.Unique("t")+":"), authority(t), time.Hour)
					})
				})
			}
		})
	}
}

// TestChangesReachEveryProxy: two clients stand for two proxies; one
// caches a key, the other bans and then unbinds it.
func TestChangesReachEveryProxy(t *testing.T) {
	for name, addr := range map[string]func(t *testing.T) string{
		"standalone": func(t *testing.T) string { a, _ := testenv.Redis(t); return a },
		"cluster":    func(t *testing.T) string { a, _ := testenv.RedisCluster(t); return strings.Join(a, ",") },
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			a := addr(t)
			prefix := testenv.Unique("t") + ":"
			authority := sqliteStore(t)
			proxyA := valkey.NewBindingStore(connect(t, a, prefix), authority, time.Hour)
			proxyB := valkey.NewBindingStore(connect(t, a, prefix), authority, time.Hour)

			b := sentineltest.NewBinding(t, sentineltest.Key("k"), "192.0.2.1")
			_, _, err := proxyA.CreateBinding(ctx, b)
			require.NoError(t, err)
			got, err := proxyA.FindBinding(ctx, b.Key)
			require.NoError(t, err)
			require.Equal(t, sentinel.StatusActive, got.Status)

			banned := sentinel.StatusBanned
			_, err = proxyB.UpdateBinding(ctx, b.Key, sentinel.BindingUpdate{Status: &banned})
			require.NoError(t, err)
			start := time.Now()
			require.Eventually(t, func() bool {
				got, err := proxyA.FindBinding(ctx, b.Key)
				return err == nil && got.Status == sentinel.StatusBanned
			}, time.Second, time.Millisecond, "a ban reaches the other proxy within a second")
			t.Logf("ban seen by the other proxy after %v", time.Since(start))

			_, err = proxyB.DeleteBinding(ctx, b.Key, 0)
			require.NoError(t, err)
			require.Eventually(t, func() bool {
				_, err := proxyA.FindBinding(ctx, b.Key)
				return sentinel.ErrorCode(err) == sentinel.ENOTFOUND
			}, time.Second, time.Millisecond, "an unbind reaches the other proxy within a second")
		})
	}
}

// countingStore counts the reads that reach the authority.
type countingStore struct {
	sentinel.BindingStore
	finds atomic.Int64
}

func (c *countingStore) FindBinding(ctx context.Context, k sentinel.KeyHash) (sentinel.Binding, error) {
	c.finds.Add(1)
	return c.BindingStore.FindBinding(ctx, k)
}

// TestOwnWriteIsReadBackBeforeItsInvalidation: right after this process
// writes a key, Valkey's invalidation of what it had cached may still be on
// its way, and a read then meets the old answer (an absence on a first
// use). For a short grace the process answers from its own write instead
// of asking the authority, which may be unreachable just then (a proxy
// that bound a key and then lost PostgreSQL answered the key's next
// request from the failsafe). Here the key is removed from Valkey behind
// the store's back, so every read after the invalidation meets an absence:
// within the grace it is answered from the write, after it the authority
// is asked.
func TestOwnWriteIsReadBackBeforeItsInvalidation(t *testing.T) {
	ctx := context.Background()
	addr, prefix := testenv.Redis(t)
	inner := &countingStore{BindingStore: sqliteStore(t)}
	s := valkey.NewBindingStore(connect(t, addr, prefix), inner, time.Hour)
	// Another process, whose authority has no such key.
	other := valkey.NewBindingStore(connect(t, addr, prefix), sqliteStore(t), time.Hour)
	b := sentineltest.NewBinding(t, sentineltest.Key("own-write"), "192.0.2.1")
	written := time.Now()
	_, created, err := s.CreateBinding(ctx, b)
	require.NoError(t, err)
	require.True(t, created)
	other.Invalidate(b.Key) // removes the key from Valkey
	// Reads well inside the grace (250 ms from the write; on a loaded
	// machine the invalidation may land after these, and they are cache
	// hits).
	for time.Since(written) < 150*time.Millisecond {
		got, err := s.FindBinding(ctx, b.Key)
		require.NoError(t, err)
		require.Equal(t, b.Key, got.Key)
	}
	require.Zero(t, inner.finds.Load(), "within the grace the authority is not asked")
	require.Eventually(t, func() bool {
		_, err := s.FindBinding(ctx, b.Key)
		return err == nil && inner.finds.Load() > 0
	}, 5*time.Second, 50*time.Millisecond, "after the grace an absence in Valkey is the authority's question again")
}

// TestWarmKeysCostNoRoundTrip reads Valkey's own command statistics on a
// server of this test's own: after the first read, warm reads send
// nothing.
func TestWarmKeysCostNoRoundTrip(t *testing.T) {
	ctx := context.Background()
	addr := testenv.PrivateRedis(t)
	c := connect(t, addr, "t:")
	inner := &countingStore{BindingStore: sqliteStore(t)}
	s := valkey.NewBindingStore(c, inner, time.Hour)
	var keys []sentinel.KeyHash
	for i := range 50 {
		b := sentineltest.NewBinding(t, sentineltest.Key(string(rune('a'+i))), "192.0.2.1")
		_, _, err := s.CreateBinding(ctx, b)
		require.NoError(t, err)
		keys = append(keys, b.Key)
		_, err = s.FindBinding(ctx, b.Key) // warm up: one GET per key
		require.NoError(t, err)
	}
	before := testenv.CommandCalls(t, addr)
	const reads = 20_000
	for i := range reads {
		b, err := s.FindBinding(ctx, keys[i%len(keys)])
		require.NoError(t, err)
		require.Equal(t, keys[i%len(keys)], b.Key, "each key's own GET, reused")
	}
	after := testenv.CommandCalls(t, addr)
	require.Zero(t, after["get"]-before["get"], "no GET for warm keys")
	total := int64(0)
	for cmd, n := range after {
		if cmd != "info" {
			total += n - before[cmd]
		}
	}
	t.Logf("Valkey commands during %d warm reads: %d (%.5f per read)", reads, total, float64(total)/reads)
	require.Zero(t, inner.finds.Load(), "the authority was never asked")
	st := s.Stats()
	require.Equal(t, valkey.BindingStats{Hits: reads + int64(len(keys))}, st, "every read a hit, counted for metrics")
	_, err := s.FindBinding(ctx, sentineltest.Key("unknown"))
	sentineltest.RequireCode(t, sentinel.ENOTFOUND, err)
	require.Equal(t, int64(1), s.Stats().Misses-st.Misses, "an unknown key asks the authority")
	require.Zero(t, s.Stats().InnerErrors, "not found is no error")
}

// TestLostConnectionDropsWhatItConfirmed: a warm key is answered without
// asking the client-side cache (no invalidation of it came since Valkey's
// answer was seen), so a connection that dies takes that knowledge with
// it: the change another proxy makes while this one is disconnected (its
// invalidation never reaches this one) is still seen, not the old state
// for ever.
func TestLostConnectionDropsWhatItConfirmed(t *testing.T) {
	ctx := context.Background()
	addr := testenv.PrivateRedis(t)
	authority := sqliteStore(t)
	proxyA := valkey.NewBindingStore(connect(t, addr, "t:"), authority, time.Hour)
	proxyB := valkey.NewBindingStore(connect(t, addr, "t:"), authority, time.Hour)
	b := sentineltest.NewBinding(t, sentineltest.Key("lost-connection"), "192.0.2.1")
	_, _, err := proxyA.CreateBinding(ctx, b)
	require.NoError(t, err)
	for range 3 { // the second read on is answered from what the first confirmed
		got, err := proxyA.FindBinding(ctx, b.Key)
		require.NoError(t, err)
		require.Equal(t, sentinel.StatusActive, got.Status)
	}

	admin, err := vk.NewClient(vk.ClientOption{InitAddress: []string{addr}, DisableCache: true, ForceSingleClient: true})
	require.NoError(t, err)
	defer admin.Close()
	require.NoError(t, admin.Do(ctx, admin.B().ClientKill().TypeNormal().SkipmeYes().Build()).Error())
	banned := sentinel.StatusBanned
	_, err = proxyB.UpdateBinding(ctx, b.Key, sentinel.BindingUpdate{Status: &banned})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		got, err := proxyA.FindBinding(ctx, b.Key)
		return err == nil && got.Status == sentinel.StatusBanned
	}, 5*time.Second, 10*time.Millisecond, "the ban made while this proxy's connection was down is seen")
}

func TestValkeyOutageFallsBackAndRecovers(t *testing.T) {
	ctx := context.Background()
	addr, prefix := testenv.Redis(t)
	r := relay.Start(t, addr)
	authority := sqliteStore(t)
	c := connect(t, r.Addr(), prefix)
	s := valkey.NewBindingStore(c, authority, time.Hour)
	other := valkey.NewBindingStore(connect(t, addr, prefix), authority, time.Hour) // another proxy, not cut off

	b := sentineltest.NewBinding(t, sentineltest.Key("k"), "192.0.2.1")
	_, _, err := s.CreateBinding(ctx, b)
	require.NoError(t, err)
	_, err = s.FindBinding(ctx, b.Key)
	require.NoError(t, err)

	r.Cut()
	// Decisions keep coming, and right, while the client notices.
	require.Eventually(t, func() bool {
		got, err := s.FindBinding(ctx, b.Key)
		require.NoError(t, err)
		require.Equal(t, sentinel.StatusActive, got.Status)
		return !c.Up()
	}, 5*time.Second, time.Millisecond)
	// A change made while this proxy is cut off from Valkey...
	banned := sentinel.StatusBanned
	_, err = s.UpdateBinding(ctx, b.Key, sentinel.BindingUpdate{Status: &banned})
	require.NoError(t, err)
	got, err := s.FindBinding(ctx, b.Key)
	require.NoError(t, err)
	require.Equal(t, sentinel.StatusBanned, got.Status, "no wrong answer during the outage")

	r.Restore()
	require.Eventually(t, c.Up, 5*time.Second, 10*time.Millisecond, "Valkey use resumes without a restart")
	// ...reaches Valkey once it is back, so the other proxies see it too.
	require.Eventually(t, func() bool {
		got, err := other.FindBinding(ctx, b.Key)
		return err == nil && got.Status == sentinel.StatusBanned
	}, 5*time.Second, 10*time.Millisecond)
	got, err = s.FindBinding(ctx, b.Key)
	require.NoError(t, err)
	require.Equal(t, sentinel.StatusBanned, got.Status)
}

func TestConnectWhileDownThenRecover(t *testing.T) {
	ctx := context.Background()
	addr, prefix := testenv.Redis(t)
	r := relay.Start(t, addr)
	r.Cut()
	c := connect(t, r.Addr(), prefix)
	require.False(t, c.Up(), "a server that is down at start is not fatal")
	s := valkey.NewBindingStore(c, sqliteStore(t), time.Hour)
	b := sentineltest.NewBinding(t, sentineltest.Key("k"), "192.0.2.1")
	_, _, err := s.CreateBinding(ctx, b)
	require.NoError(t, err)
	r.Restore()
	require.Eventually(t, c.Up, 5*time.Second, 10*time.Millisecond)
	_, err = s.FindBinding(ctx, b.Key)
	require.NoError(t, err)
}

func TestBadAddress(t *testing.T) {
	for _, a := range []string{"", "no-port", "redis://[::1", "a:1,b"} {
		_, err := valkey.Connect(valkey.Options{Addr: a})
		require.Equal(t, sentinel.EINVALID, sentinel.ErrorCode(err), a)
	}
}

func BenchmarkFindWarm(b *testing.B) {
	addr, prefix := testenv.Redis(b)
	s := valkey.NewBindingStore(connect(b, addr, prefix), sqliteStore(b), time.Hour)
	ctx := context.Background()
	bind := sentineltest.NewBinding(b, sentineltest.Key("k"), "192.0.2.1")
	if _, _, err := s.CreateBinding(ctx, bind); err != nil {
		b.Fatal(err)
	}
	if _, err := s.FindBinding(ctx, bind.Key); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.FindBinding(ctx, bind.Key); err != nil {
			b.Fatal(err)
		}
	}
}

// TestStalledValkeyWriteIsRetried: a change whose write to Valkey times out
// (a stalled server, not a dead one) still reaches the other proxies once
// Valkey moves again, instead of waiting for the cached copy's TTL.
func TestStalledValkeyWriteIsRetried(t *testing.T) {
	ctx := context.Background()
	addr, prefix := testenv.Redis(t)
	r := relay.Start(t, addr)
	authority := sqliteStore(t)
	admin := valkey.NewBindingStore(connect(t, r.Addr(), prefix), authority, time.Hour)
	other := valkey.NewBindingStore(connect(t, addr, prefix), authority, time.Hour)

	b := sentineltest.NewBinding(t, sentineltest.Key("k"), "192.0.2.1")
	_, _, err := admin.CreateBinding(ctx, b)
	require.NoError(t, err)
	got, err := other.FindBinding(ctx, b.Key)
	require.NoError(t, err)
	require.Equal(t, sentinel.StatusActive, got.Status)

	r.Freeze()
	banned := sentinel.StatusBanned
	_, err = admin.UpdateBinding(ctx, b.Key, sentinel.BindingUpdate{Status: &banned})
	require.NoError(t, err, "the authority took the ban; Valkey did not answer in time")
	got, err = other.FindBinding(ctx, b.Key)
	require.NoError(t, err)
	require.Equal(t, sentinel.StatusActive, got.Status, "the other proxy has not heard yet")

	// The held write is lost with the connection, as in a failover.
	r.Cut()
	r.Thaw()
	r.Restore()
	require.Eventually(t, func() bool {
		got, err := other.FindBinding(ctx, b.Key)
		return err == nil && got.Status == sentinel.StatusBanned
	}, 5*time.Second, 10*time.Millisecond, "the ban reaches the other proxy once Valkey moves again")
}
