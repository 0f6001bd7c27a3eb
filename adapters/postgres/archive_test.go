package postgres_test

import (
	"testing"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/postgres"
	"github.com/keyipsentinel/sentinel/sentineltest"
)

func TestArchiveStore(t *testing.T) {
	sentineltest.TestArchiveStore(t, func(t *testing.T) sentineltest.ArchiveStores {
		db, dsn := migratedDB(t)
		return sentineltest.ArchiveStores{
			Bindings: postgres.NewBindingStore(db), Intercepts: postgres.NewInterceptStore(db), Archive: postgres.NewArchiveStore(db),
			// A pool of its own stands for a second process.
			OpenAgain: func(t *testing.T) sentinel.ArchiveStore {
				return postgres.NewArchiveStore(openDB(t, dsn, postgres.Options{}))
			},
		}
	})
}
