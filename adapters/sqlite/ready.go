package sqlite

import (
	"context"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/internal/schema"
)

// Ready reports whether the embedded database can serve this build: it
// answers and its schema has every migration applied (Open migrates, so
// only a rollback by another process behind this one's back fails the
// second part). It returns EUNAVAILABLE when either is not so.
func (db *DB) Ready(ctx context.Context) error {
	if err := db.Ping(ctx); err != nil {
		return err
	}
	n, err := schema.Pending(ctx, db.bun, migrationSet)
	if err != nil {
		return translate(err, "read the schema version")
	}
	if n > 0 {
		return sentinel.Errorf(sentinel.EUNAVAILABLE, "sqlite: the schema is %d migration(s) behind", n)
	}
	return nil
}
