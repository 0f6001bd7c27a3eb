package sentineltest

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/clock"
)

// ArchiveStores are the stores of one fresh, empty database, as the
// archive contract needs them. OpenAgain, when set, opens a second handle
// on the same database (another process's view), for the lock test.
type ArchiveStores struct {
	Bindings   sentinel.BindingStore
	Intercepts sentinel.InterceptStore
	Archive    sentinel.ArchiveStore
	OpenAgain  func(t *testing.T) sentinel.ArchiveStore
}

// ArchiveNow is the time the archive contract runs at.
var ArchiveNow = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// SeedBindings creates n bindings named prefix0… last used age before
// ArchiveNow, and returns their keys.
func SeedBindings(t testing.TB, s sentinel.BindingStore, prefix string, n int, age time.Duration) []sentinel.KeyHash {
	t.Helper()
	keys := make([]sentinel.KeyHash, n)
	for i := range n {
		keys[i] = Key(fmt.Sprintf("%s%d", prefix, i))
		b := NewBinding(t, keys[i], fmt.Sprintf("192.0.2.%d", i%250+1))
		b.CreatedAt = ArchiveNow.Add(-age - time.Hour)
		b.UpdatedAt, b.LastUsedAt = b.CreatedAt, ArchiveNow.Add(-age)
		_, created, err := s.CreateBinding(context.Background(), b)
		require.NoError(t, err)
		require.True(t, created)
	}
	return keys
}

func archiveSettings(t testing.TB, days int) *sentinel.LiveSettings {
	t.Helper()
	l, err := sentinel.NewLiveSettings(sentinel.Settings{
		EnforceMode: sentinel.ModeEnforce, FailsafeMode: sentinel.FailsafeClosed,
		AlertThresholdCount: 5, AlertWindow: 5 * time.Minute, ArchiveDays: days,
	})
	require.NoError(t, err)
	return l
}

// batchCounter wraps an ArchiveStore, recording every batch's size.
type batchCounter struct {
	sentinel.ArchiveStore
	mu    sync.Mutex
	sizes []int
}

func (b *batchCounter) ArchiveBindings(ctx context.Context, cutoff time.Time, limit int, at time.Time) ([]sentinel.Binding, error) {
	out, err := b.ArchiveStore.ArchiveBindings(ctx, cutoff, limit, at)
	b.mu.Lock()
	b.sizes = append(b.sizes, len(out))
	b.mu.Unlock()
	return out, err
}

// TestArchiveStore runs the sentinel.ArchiveStore contract, through the
// Archiver service, against stores made by open.
func TestArchiveStore(t *testing.T, open func(t *testing.T) ArchiveStores) {
	ctx := context.Background()
	day := 24 * time.Hour

	t.Run("stale archived in bounded batches, fresh kept", func(t *testing.T) {
		st := open(t)
		stale := SeedBindings(t, st.Bindings, "stale", 25, 91*day)
		fresh := SeedBindings(t, st.Bindings, "fresh", 10, 89*day)
		before, err := st.Bindings.FindBinding(ctx, stale[0])
		require.NoError(t, err)
		counted := &batchCounter{ArchiveStore: st.Archive}
		a := sentinel.NewArchiver(counted, archiveSettings(t, 90),
			sentinel.ArchiverOptions{BatchSize: 10, Clock: clock.NewManual(ArchiveNow)})
		rep, err := a.RunOnce(ctx)
		require.NoError(t, err)
		assert.False(t, rep.Skipped)
		assert.Equal(t, 25, rep.Archived)
		assert.Equal(t, []int{10, 10, 5}, counted.sizes, "batches are bounded")
		for _, k := range stale {
			_, err := st.Bindings.FindBinding(ctx, k)
			RequireCode(t, sentinel.ENOTFOUND, err)
		}
		for _, k := range fresh {
			_, err := st.Bindings.FindBinding(ctx, k)
			require.NoError(t, err)
		}
		list, total, err := a.ListArchived(ctx, sentinel.ArchiveFilter{Key: &stale[0]})
		require.NoError(t, err)
		require.Equal(t, 1, total)
		assert.Equal(t, ArchiveNow, list[0].ArchivedAt)
		assert.Equal(t, before.Rule, list[0].Binding.Rule)
		assert.Equal(t, before.Hint, list[0].Binding.Hint)
		assert.Equal(t, before.LastUsedAt, list[0].Binding.LastUsedAt)
		_, total, err = a.ListArchived(ctx, sentinel.ArchiveFilter{Limit: 5})
		require.NoError(t, err)
		assert.Equal(t, 25, total)

		rep, err = a.RunOnce(ctx)
		require.NoError(t, err)
		assert.Zero(t, rep.Archived, "nothing left to archive")
	})

	t.Run("deletion versions are newer", func(t *testing.T) {
		st := open(t)
		keys := SeedBindings(t, st.Bindings, "v", 3, 100*day)
		var maxBefore int64
		for _, k := range keys {
			b, err := st.Bindings.FindBinding(ctx, k)
			require.NoError(t, err)
			maxBefore = max(maxBefore, b.Version)
		}
		moved, err := st.Archive.ArchiveBindings(ctx, ArchiveNow.Add(-90*day), 10, ArchiveNow)
		require.NoError(t, err)
		require.Len(t, moved, 3)
		seen := map[int64]bool{}
		for _, b := range moved {
			assert.Greater(t, b.Version, maxBefore)
			assert.False(t, seen[b.Version], "each deletion has its own version")
			seen[b.Version] = true
		}
	})

	t.Run("archive days 0 archives nothing", func(t *testing.T) {
		st := open(t)
		SeedBindings(t, st.Bindings, "old", 3, 1000*day)
		a := sentinel.NewArchiver(st.Archive, archiveSettings(t, 0), sentinel.ArchiverOptions{Clock: clock.NewManual(ArchiveNow)})
		rep, err := a.RunOnce(ctx)
		require.NoError(t, err)
		assert.Zero(t, rep.Archived)
	})

	t.Run("archived key binds afresh, restore", func(t *testing.T) {
		st := open(t)
		keys := SeedBindings(t, st.Bindings, "r", 2, 100*day)
		clk := clock.NewManual(ArchiveNow)
		a := sentinel.NewArchiver(st.Archive, archiveSettings(t, 90), sentinel.ArchiverOptions{Clock: clk})
		_, err := a.RunOnce(ctx)
		require.NoError(t, err)
		list, _, err := a.ListArchived(ctx, sentinel.ArchiveFilter{})
		require.NoError(t, err)
		require.Len(t, list, 2)
		ids := map[sentinel.KeyHash]int64{}
		for _, ab := range list {
			ids[ab.Binding.Key] = ab.ID
		}

		// keys[0] binds afresh from a new address: restoring it conflicts.
		nb := NewBinding(t, keys[0], "198.51.100.77")
		_, created, err := st.Bindings.CreateBinding(ctx, nb)
		require.NoError(t, err)
		require.True(t, created, "an archived key binds afresh")
		_, err = a.Restore(ctx, ids[keys[0]], nil)
		RequireCode(t, sentinel.ECONFLICT, err)
		_, total, err := a.ListArchived(ctx, sentinel.ArchiveFilter{Key: &keys[0]})
		require.NoError(t, err)
		assert.Equal(t, 1, total, "a refused restore keeps the archived row")

		clk.Advance(time.Hour)
		restored, err := a.Restore(ctx, ids[keys[1]], nil)
		require.NoError(t, err)
		assert.Equal(t, ArchiveNow.Add(time.Hour), restored.LastUsedAt)
		got, err := st.Bindings.FindBinding(ctx, keys[1])
		require.NoError(t, err)
		RequireSameBinding(t, restored, got)
		_, err = a.Restore(ctx, ids[keys[1]], nil)
		RequireCode(t, sentinel.ENOTFOUND, err)
		rep, err := a.RunOnce(ctx)
		require.NoError(t, err)
		assert.Zero(t, rep.Archived, "a restored binding is not archived again at once")
	})

	t.Run("retention deletes old intercepts only, in batches", func(t *testing.T) {
		st := open(t)
		var is []sentinel.Intercept
		for i := range 30 {
			age := 181 * day
			if i%3 == 0 {
				age = 179 * day
			}
			is = append(is, sentinel.Intercept{Key: Key("i"), ClientIP: netip.MustParseAddr("203.0.113.1"),
				Reason: sentinel.ReasonIPNotAllowed, Enforced: true, Method: "GET", Path: "/v1/models",
				At: ArchiveNow.Add(-age - time.Duration(i)*time.Second)})
		}
		require.NoError(t, st.Intercepts.AddIntercepts(ctx, is))
		a := sentinel.NewArchiver(st.Archive, archiveSettings(t, 90),
			sentinel.ArchiverOptions{BatchSize: 7, Clock: clock.NewManual(ArchiveNow)})
		rep, err := a.RunOnce(ctx)
		require.NoError(t, err)
		assert.Equal(t, 20, rep.Purged)
		assert.GreaterOrEqual(t, rep.Batches, 3)
		left, total, err := st.Intercepts.ListIntercepts(ctx, sentinel.InterceptFilter{Limit: 100})
		require.NoError(t, err)
		assert.Equal(t, 10, total)
		for _, i := range left {
			assert.True(t, i.At.After(ArchiveNow.Add(-180*day)), "kept %v", i.At)
		}
	})

	t.Run("concurrent batches move each row once", func(t *testing.T) {
		st := open(t)
		SeedBindings(t, st.Bindings, "c", 300, 100*day)
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			moved = map[sentinel.KeyHash]int{}
		)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					bs, err := st.Archive.ArchiveBindings(ctx, ArchiveNow.Add(-90*day), 7, ArchiveNow)
					if !assert.NoError(t, err) {
						return
					}
					mu.Lock()
					for _, b := range bs {
						moved[b.Key]++
					}
					mu.Unlock()
					if len(bs) == 0 {
						return
					}
				}
			}()
		}
		wg.Wait()
		assert.Len(t, moved, 300)
		for k, n := range moved {
			assert.Equal(t, 1, n, "key %s moved %d times", k, n)
		}
		_, total, err := st.Archive.ListArchivedBindings(ctx, sentinel.ArchiveFilter{})
		require.NoError(t, err)
		assert.Equal(t, 300, total, "one archived row per binding")
	})

	t.Run("one archiver at a time", func(t *testing.T) {
		st := open(t)
		other := st.Archive
		if st.OpenAgain != nil {
			other = st.OpenAgain(t)
		}
		ran, err := st.Archive.WithArchiveLock(ctx, func(ctx context.Context) error {
			inner, err := other.WithArchiveLock(ctx, func(context.Context) error {
				t.Error("a second archiver ran while the first held the lock")
				return nil
			})
			require.NoError(t, err)
			assert.False(t, inner)
			return nil
		})
		require.NoError(t, err)
		assert.True(t, ran)
		ran, err = other.WithArchiveLock(ctx, func(context.Context) error { return nil })
		require.NoError(t, err)
		assert.True(t, ran, "released after the first finished")
	})

	t.Run("two archivers started together archive each row once", func(t *testing.T) {
		st := open(t)
		SeedBindings(t, st.Bindings, "t", 200, 100*day)
		other := st.Archive
		if st.OpenAgain != nil {
			other = st.OpenAgain(t)
		}
		var wg sync.WaitGroup
		reps := make([]sentinel.ArchiveReport, 2)
		for i, s := range []sentinel.ArchiveStore{st.Archive, other} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a := sentinel.NewArchiver(s, archiveSettings(t, 90),
					sentinel.ArchiverOptions{BatchSize: 10, Clock: clock.NewManual(ArchiveNow)})
				// Whoever loses the lock runs again until all is done, as
				// the interval mode would.
				for {
					rep, err := a.RunOnce(ctx)
					if !assert.NoError(t, err) {
						return
					}
					reps[i].Archived += rep.Archived
					if !rep.Skipped {
						return
					}
				}
			}()
		}
		wg.Wait()
		assert.Equal(t, 200, reps[0].Archived+reps[1].Archived)
		_, total, err := st.Archive.ListArchivedBindings(ctx, sentinel.ArchiveFilter{})
		require.NoError(t, err)
		assert.Equal(t, 200, total)
	})
}
