// Package schema applies the stores' embedded schema migrations (the SQL
// files live in the top-level migrations/postgres and migrations/sqlite
// packages) with bun's migrate package, which stays internal: the store
// adapters hide bun.
// Locking against concurrent runs is the caller's: each store knows the
// right lock (a file lock for SQLite, an advisory lock for PostgreSQL).
package schema

import (
	"context"
	"fmt"
	"io/fs"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
	"github.com/uptrace/bun/migrate"
)

// Load returns the migrations held in fsys. The files are embedded, so a
// bad name is a build-time mistake and panics.
func Load(fsys fs.FS) *migrate.Migrations {
	ms := migrate.NewMigrations()
	if err := ms.Discover(fsys); err != nil {
		panic(err)
	}
	return ms
}

// Status is one migration and whether it has been applied.
type Status struct {
	Name      string
	Comment   string
	Applied   bool
	AppliedAt time.Time
}

func migrator(db *bun.DB, ms *migrate.Migrations) *migrate.Migrator {
	// Mark a migration applied only after it ran: a failed migration is
	// retried on the next start instead of being taken as done.
	return migrate.NewMigrator(db, ms, migrate.WithMarkAppliedOnSuccess(true))
}

// Up applies every migration not applied yet and returns their names.
func Up(ctx context.Context, db *bun.DB, ms *migrate.Migrations) ([]string, error) {
	m := migrator(db, ms)
	if err := m.Init(ctx); err != nil {
		return nil, fmt.Errorf("create migration tables: %w", err)
	}
	group, err := m.Migrate(ctx)
	var names []string
	if group != nil {
		for _, mg := range group.Migrations {
			names = append(names, mg.Name+"_"+mg.Comment)
		}
	}
	if err != nil {
		return names, fmt.Errorf("migrate up: %w", err)
	}
	return names, nil
}

// Down rolls back the last group of applied migrations and returns their names.
func Down(ctx context.Context, db *bun.DB, ms *migrate.Migrations) ([]string, error) {
	m := migrator(db, ms)
	if err := m.Init(ctx); err != nil {
		return nil, fmt.Errorf("create migration tables: %w", err)
	}
	group, err := m.Rollback(ctx)
	var names []string
	if group != nil {
		for _, mg := range group.Migrations {
			names = append(names, mg.Name+"_"+mg.Comment)
		}
	}
	if err != nil {
		return names, fmt.Errorf("migrate down: %w", err)
	}
	return names, nil
}

// List returns every known migration with its status, oldest first. It
// only reads: a database role without CREATE rights can ask, and a
// database never migrated has every migration pending.
func List(ctx context.Context, db *bun.DB, ms *migrate.Migrations) ([]Status, error) {
	exists, err := migrationTableExists(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	if !exists {
		out := []Status{}
		for _, mg := range ms.Sorted() {
			out = append(out, Status{Name: mg.Name, Comment: mg.Comment})
		}
		return out, nil
	}
	all, err := migrator(db, ms).MigrationsWithStatus(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	out := make([]Status, 0, len(all))
	for _, mg := range all {
		out = append(out, Status{Name: mg.Name, Comment: mg.Comment, Applied: mg.IsApplied(), AppliedAt: mg.MigratedAt})
	}
	return out, nil
}

// migrationTable is bun's default name for its record of applied migrations.
const migrationTable = "bun_migrations"

func migrationTableExists(ctx context.Context, db *bun.DB) (bool, error) {
	var exists bool
	var err error
	switch db.Dialect().Name() {
	case dialect.PG:
		err = db.NewRaw("SELECT to_regclass(?) IS NOT NULL", migrationTable).Scan(ctx, &exists)
	case dialect.SQLite:
		err = db.NewRaw("SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?", migrationTable).Scan(ctx, &exists)
	default:
		return false, fmt.Errorf("unsupported database dialect %s", db.Dialect().Name())
	}
	return exists, err
}

// Pending reports how many migrations are not applied yet.
func Pending(ctx context.Context, db *bun.DB, ms *migrate.Migrations) (int, error) {
	st, err := List(ctx, db, ms)
	n := 0
	for _, s := range st {
		if !s.Applied {
			n++
		}
	}
	return n, err
}
