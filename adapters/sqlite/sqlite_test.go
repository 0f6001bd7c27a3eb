package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

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
