package postgres

import (
	"context"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/internal/schema"
)

// Ready reports whether the database can serve this build: it answers
// within the query timeout (or ctx's deadline) and its schema has every
// migration applied. It reads the migration table without the migration
// lock, so a readiness probe never queues behind a running migration. It
// returns EUNAVAILABLE when either is not so.
func (db *DB) Ready(ctx context.Context) error {
	ctx, cancel := db.bounded(ctx)
	defer cancel()
	if err := db.bun.PingContext(ctx); err != nil {
		return translate(err, "ping")
	}
	n, err := schema.Pending(ctx, db.bun, migrationSet)
	if err != nil {
		return translate(err, "read the schema version")
	}
	if n > 0 {
		return sentinel.Errorf(sentinel.EUNAVAILABLE, "postgres: the schema is %d migration(s) behind", n)
	}
	return nil
}
