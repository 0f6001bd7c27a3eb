package postgres_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/postgres"
	"github.com/keyipsentinel/sentinel/test/testenv"
)

func TestReadyWantsTheSchemaCurrent(t *testing.T) {
	ctx := context.Background()
	db, err := postgres.Open(ctx, testenv.Postgres(t), postgres.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	err = db.Ready(ctx)
	require.Error(t, err, "a fresh schema is behind")
	require.Equal(t, sentinel.EUNAVAILABLE, sentinel.ErrorCode(err))
	require.Contains(t, err.Error(), "migration(s) behind")
	_, err = db.Migrate(ctx)
	require.NoError(t, err)
	require.NoError(t, db.Ready(ctx))
	db.Close()
	require.Error(t, db.Ready(ctx), "a closed pool is not ready")
}
