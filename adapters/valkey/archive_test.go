package valkey_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/clock"
	"github.com/keyipsentinel/sentinel/adapters/postgres"
	"github.com/keyipsentinel/sentinel/adapters/valkey"
	"github.com/keyipsentinel/sentinel/sentineltest"
	"github.com/keyipsentinel/sentinel/test/testenv"
)

// TestArchivedKeyCachedByProxies: two proxies on PostgreSQL + Valkey have
// a key cached; the archiver (a process of its own) archives it and drops
// it from Valkey; both proxies then find no binding, and the key binds
// afresh from a new address on its next use.
func TestArchivedKeyCachedByProxies(t *testing.T) {
	ctx := context.Background()
	addr, prefix := testenv.Redis(t)
	db, err := postgres.Open(ctx, testenv.Postgres(t), postgres.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	_, err = db.Migrate(ctx)
	require.NoError(t, err)
	authority := postgres.NewBindingStore(db)
	keys := sentineltest.SeedBindings(t, authority, "cached", 3, 100*24*time.Hour)
	fresh := sentineltest.SeedBindings(t, authority, "fresh", 1, time.Hour)

	proxies := []*valkey.BindingStore{
		valkey.NewBindingStore(connect(t, addr, prefix), authority, time.Hour),
		valkey.NewBindingStore(connect(t, addr, prefix), authority, time.Hour),
	}
	for _, p := range proxies {
		for _, k := range append(keys, fresh...) {
			_, err := p.FindBinding(ctx, k) // warm: now answered from process memory
			require.NoError(t, err)
		}
	}

	settings, err := sentinel.NewLiveSettings(sentinel.Settings{EnforceMode: sentinel.ModeEnforce, FailsafeMode: sentinel.FailsafeClosed,
		AlertThresholdCount: 5, AlertWindow: time.Minute, ArchiveDays: 90})
	require.NoError(t, err)
	archiverCache := valkey.NewBindingStore(connect(t, addr, prefix), authority, time.Hour)
	a := sentinel.NewArchiver(postgres.NewArchiveStore(db), settings,
		sentinel.ArchiverOptions{Forget: archiverCache, Clock: clock.NewManual(sentineltest.ArchiveNow)})
	rep, err := a.RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, 3, rep.Archived)

	for i, p := range proxies {
		for _, k := range keys {
			require.Eventually(t, func() bool {
				_, err := p.FindBinding(ctx, k)
				return sentinel.ErrorCode(err) == sentinel.ENOTFOUND
			}, 5*time.Second, time.Millisecond, "proxy %d still answers from the archived binding", i)
		}
		_, err := p.FindBinding(ctx, fresh[0])
		require.NoError(t, err, "a fresh binding stays")
	}
	nb := sentineltest.NewBinding(t, keys[0], "198.51.100.200")
	stored, created, err := proxies[0].CreateBinding(ctx, nb)
	require.NoError(t, err)
	require.True(t, created, "the archived key binds afresh from a new address")
	got, err := proxies[1].FindBinding(ctx, keys[0])
	require.NoError(t, err)
	assert.Equal(t, stored.Version, got.Version)
	assert.True(t, got.Rule.Allows(netip.MustParseAddr("198.51.100.200")))
}
