package sqlite_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/sqlite"
	"github.com/keyipsentinel/sentinel/sentineltest"
)

func TestArchiveStore(t *testing.T) {
	sentineltest.TestArchiveStore(t, func(t *testing.T) sentineltest.ArchiveStores {
		path := filepath.Join(t.TempDir(), "sentinel.db")
		open := func(t *testing.T) *sqlite.DB {
			db, err := sqlite.Open(context.Background(), path, sqlite.Options{})
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			return db
		}
		db := open(t)
		return sentineltest.ArchiveStores{
			Bindings: sqlite.NewBindingStore(db), Intercepts: sqlite.NewInterceptStore(db), Archive: sqlite.NewArchiveStore(db),
			// A second handle on the file stands for a second process.
			OpenAgain: func(t *testing.T) sentinel.ArchiveStore { return sqlite.NewArchiveStore(open(t)) },
		}
	})
}

type recordingInvalidator struct {
	mu   sync.Mutex
	keys map[sentinel.KeyHash]bool
	all  int
}

func (r *recordingInvalidator) Invalidate(k sentinel.KeyHash) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.keys == nil {
		r.keys = map[sentinel.KeyHash]bool{}
	}
	r.keys[k] = true
}

func (r *recordingInvalidator) InvalidateAll() { r.mu.Lock(); r.all++; r.mu.Unlock() }

func (r *recordingInvalidator) heard(keys []sentinel.KeyHash) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.all > 0 {
		return true // forgetting everything covers the keys too
	}
	for _, k := range keys {
		if !r.keys[k] {
			return false
		}
	}
	return true
}

// TestArchiveFeedsChanges: archived keys reach the binding_changes feed
// that every process sharing the file follows.
func TestArchiveFeedsChanges(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db := openDB(t)
	inv := &recordingInvalidator{}
	sentineltest.RunFeed(t, sqlite.NewBindingFeed(db, sqlite.FeedOptions{Interval: 5 * time.Millisecond}), inv)
	keys := sentineltest.SeedBindings(t, sqlite.NewBindingStore(db), "n", 5, 100*24*time.Hour)
	moved, err := sqlite.NewArchiveStore(db).ArchiveBindings(ctx, sentineltest.ArchiveNow.Add(-90*24*time.Hour), 100, sentineltest.ArchiveNow)
	require.NoError(t, err)
	require.Len(t, moved, 5)
	require.Eventually(t, func() bool { return inv.heard(keys) }, 10*time.Second, 5*time.Millisecond)
	require.Zero(t, inv.all, "five changes are followed key by key")
}
