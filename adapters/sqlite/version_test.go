package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/sqlite"
	"github.com/keyipsentinel/sentinel/sentineltest"
)

// keyRecorder records invalidated keys.
type keyRecorder chan sentinel.KeyHash

func (r keyRecorder) Invalidate(k sentinel.KeyHash) { r <- k }
func (r keyRecorder) InvalidateAll()                {}

// TestPlainSQLBanBumpsVersionAndFeeds: a ban written with plain SQL,
// leaving version alone, gets a new version from the database and reaches
// the change feed, so every process's cache drops the old state.
func TestPlainSQLBanBumpsVersionAndFeeds(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sentinel.db")
	db, err := sqlite.Open(ctx, path, sqlite.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	store := sqlite.NewBindingStore(db)
	key := sentineltest.Key("plain-sql")
	stored, _, err := store.CreateBinding(ctx, sentineltest.NewBinding(t, key, "192.0.2.1"))
	require.NoError(t, err)
	rec := make(keyRecorder, 16)
	sentineltest.RunFeed(t, sqlite.NewBindingFeed(db, sqlite.FeedOptions{Interval: 10 * time.Millisecond}), rec)

	other, err := sql.Open("sqlite", "file:"+path)
	require.NoError(t, err)
	t.Cleanup(func() { other.Close() })
	_, err = other.ExecContext(ctx, `UPDATE token_bindings SET status = 'banned' WHERE key_hash = ?`, key[:])
	require.NoError(t, err)
	select {
	case k := <-rec:
		require.Equal(t, key, k)
	case <-time.After(5 * time.Second):
		t.Fatal("the plain SQL ban did not reach the change feed")
	}
	b, err := store.FindBinding(ctx, key)
	require.NoError(t, err)
	require.Equal(t, sentinel.StatusBanned, b.Status)
	require.Greater(t, b.Version, stored.Version)
}
