package postgres_test

import (
	"io/fs"
	"strings"
	"testing"

	pgmigrations "github.com/keyipsentinel/sentinel/migrations/postgres"
)

// Applying and rolling back against a real database is tested with the
// store, in adapters/postgres; this checks what needs no database: every
// up migration has its down migration.
func TestEveryMigrationCanBeRolledBack(t *testing.T) {
	ups, err := fs.Glob(pgmigrations.FS, "*.up.sql")
	if err != nil || len(ups) == 0 {
		t.Fatalf("no up migrations embedded (err %v)", err)
	}
	for _, up := range ups {
		down := strings.TrimSuffix(up, ".up.sql") + ".down.sql"
		if _, err := fs.Stat(pgmigrations.FS, down); err != nil {
			t.Errorf("%s has no down migration %s", up, down)
		}
	}
}
