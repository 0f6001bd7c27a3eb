// Package postgres holds the PostgreSQL schema migrations. They run as an
// explicit step (sentinel-admin migrate, or at start when asked), never
// implicitly when a store opens: in production several processes share the
// database and schema changes deserve an operator's attention.
package postgres

import (
	"embed"

	"github.com/uptrace/bun/migrate"
)

//go:embed *.sql
var files embed.FS

// Migrations are the PostgreSQL schema migrations, oldest first.
var Migrations = migrate.NewMigrations()

func init() {
	if err := Migrations.Discover(files); err != nil {
		panic(err) // the files are embedded: a bad name is a build-time mistake
	}
}
