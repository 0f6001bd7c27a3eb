package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/sqlite"
	"github.com/keyipsentinel/sentinel/sentineltest"
)

func openDB(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "sentinel.db"), sqlite.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

func TestBindingStore(t *testing.T) {
	sentineltest.TestBindingStore(t, func(t *testing.T) sentinel.BindingStore {
		return sqlite.NewBindingStore(openDB(t))
	})
}

func TestInterceptStore(t *testing.T) {
	sentineltest.TestInterceptStore(t, func(t *testing.T) sentinel.InterceptStore {
		return sqlite.NewInterceptStore(openDB(t))
	})
}

func TestBindingFeed(t *testing.T) {
	sentineltest.TestBindingChangeFeed(t, func(t *testing.T) (sentinel.BindingChangeFeed, sentinel.BindingStore) {
		path := filepath.Join(t.TempDir(), "shared.db")
		open := func() *sqlite.DB {
			db, err := sqlite.Open(context.Background(), path, sqlite.Options{})
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			return db
		}
		// Two handles on one file stand for two processes.
		watcher, writer := open(), open()
		return sqlite.NewBindingFeed(watcher, sqlite.FeedOptions{Interval: 10 * time.Millisecond}), sqlite.NewBindingStore(writer)
	})
}
