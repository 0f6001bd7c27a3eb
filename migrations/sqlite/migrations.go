// Package sqlite holds the embedded store's schema migrations as embedded
// SQL files (bun migrate naming). The store applies them when it opens the
// database file.
package sqlite

import "embed"

// FS holds the migration files.
//
//go:embed *.sql
var FS embed.FS
