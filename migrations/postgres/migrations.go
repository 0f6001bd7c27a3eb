// Package postgres holds the PostgreSQL schema migrations as embedded SQL
// files (bun migrate naming: <id>_<name>[.tx].up.sql / .down.sql). They run
// as an explicit step (sentinel-admin migrate, or at start when asked),
// never implicitly when a store opens: in production several processes
// share the database and schema changes deserve an operator's attention.
package postgres

import "embed"

// FS holds the migration files.
//
//go:embed *.sql
var FS embed.FS
