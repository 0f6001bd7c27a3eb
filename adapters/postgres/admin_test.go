package postgres_test

import (
	"testing"

	"github.com/keyipsentinel/sentinel/adapters/postgres"
	"github.com/keyipsentinel/sentinel/sentineltest"
)

func TestAuditedStore(t *testing.T) {
	sentineltest.TestAuditedStore(t, func(t *testing.T) sentineltest.AuditedStores {
		db, _ := migratedDB(t)
		return sentineltest.AuditedStores{Bindings: postgres.NewBindingStore(db),
			Audit: postgres.NewAuditStore(db), Settings: postgres.NewSettingsStore(db)}
	})
}
