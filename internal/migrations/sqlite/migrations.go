// Package sqlite holds the embedded store's schema migrations. The store
// applies them when it opens the database file.
package sqlite

import (
	"embed"

	"github.com/uptrace/bun/migrate"
)

//go:embed *.sql
var files embed.FS

// Migrations are the SQLite schema migrations, oldest first.
var Migrations = migrate.NewMigrations()

func init() {
	if err := Migrations.Discover(files); err != nil {
		panic(err) // the files are embedded: a bad name is a build-time mistake
	}
}
