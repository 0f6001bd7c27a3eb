package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/sqlite"
	"github.com/keyipsentinel/sentinel/sentineltest"
)

func TestArchiveStore(t *testing.T) {
	sentineltest.TestArchiveStore(t, func(t *testing.T) sentineltest.ArchiveStores {
		path := filepath.Join(t.TempDir(), "sentinel.db")
		open := func(t *testing.T) *sqlite.DB {
			db, err := sqlite.Open(context.Background(), path)
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			return db
		}
		db := open(t)
		return sentineltest.ArchiveStores{
			Bindings: sqlite.NewBindingStore(db), Intercepts: sqlite.NewInterceptStore(db), Archive: sqlite.NewArchiveStore(db),
			// A second handle on the file stands for a second process.
			OpenAgain: func(t *testing.T) sentinel.ArchiveStore { return sqlite.NewArchiveStore(open(t)) },
		}
	})
}
