package postgres

import (
	"time"

	"github.com/uptrace/bun"
)

// Translate exposes translate to the table-driven tests.
var Translate = translate

// Bun exposes the bun handle, for tests that capture the SQL the stores
// run and look at its plans.
func (db *DB) Bun() *bun.DB { return db.bun }

// SetIdleCheck shortens how long the change feed waits in silence before
// it checks its connection. Call it before the feed runs.
func (db *DB) SetIdleCheck(d time.Duration) { db.idleCheck = d }
