package sqlite_test

import (
	"testing"

	"github.com/keyipsentinel/sentinel/adapters/sqlite"
	"github.com/keyipsentinel/sentinel/sentineltest"
)

func TestAuditedStore(t *testing.T) {
	sentineltest.TestAuditedStore(t, func(t *testing.T) sentineltest.AuditedStores {
		db := openDB(t)
		return sentineltest.AuditedStores{Bindings: sqlite.NewBindingStore(db),
			Audit: sqlite.NewAuditStore(db), Settings: sqlite.NewSettingsStore(db)}
	})
}
