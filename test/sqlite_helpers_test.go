package test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/sqlite"
)

func openSQLite(t *testing.T, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// countBindings returns the first address of every binding in the file.
func countBindings(t *testing.T, path string) []string {
	t.Helper()
	bs, _, err := sqlite.NewBindingStore(openSQLite(t, path)).ListBindings(context.Background(), sentinel.BindingFilter{Limit: sentinel.MaxPageSize})
	require.NoError(t, err)
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.FirstIP.String()
	}
	return out
}

func countIntercepts(t *testing.T, path string) int {
	t.Helper()
	_, total, err := sqlite.NewInterceptStore(openSQLite(t, path)).ListIntercepts(context.Background(), sentinel.InterceptFilter{})
	require.NoError(t, err)
	return total
}

func lastUsedAfterCreation(t *testing.T, path string) bool {
	t.Helper()
	bs, _, err := sqlite.NewBindingStore(openSQLite(t, path)).ListBindings(context.Background(), sentinel.BindingFilter{})
	require.NoError(t, err)
	require.Len(t, bs, 1)
	return bs[0].LastUsedAt.After(bs[0].CreatedAt)
}
