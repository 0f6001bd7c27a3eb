package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyipsentinel/sentinel/adapters/sqlite"
)

func TestReady(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "s.db"), sqlite.Options{})
	require.NoError(t, err)
	require.NoError(t, db.Ready(ctx), "Open migrates")
	require.NoError(t, db.Close())
	require.Error(t, db.Ready(ctx), "a closed database is not ready")
}
