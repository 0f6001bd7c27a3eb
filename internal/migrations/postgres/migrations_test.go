package postgres_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	pgmigrations "github.com/keyipsentinel/sentinel/internal/migrations/postgres"
)

// Applying and rolling back against a real database is tested with the
// store, in adapters/postgres; this checks what needs no database.
func TestEveryMigrationCanBeRolledBack(t *testing.T) {
	ms := pgmigrations.Migrations.Sorted()
	require.NotEmpty(t, ms)
	for _, m := range ms {
		require.NotNil(t, m.Up, "%s has no up migration", m)
		require.NotNil(t, m.Down, "%s has no down migration", m)
	}
}
