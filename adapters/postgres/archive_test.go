package postgres_test

import (
	"context"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/clock"
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

// recordingInvalidator stands for an in-process cache following the
// change feed.
type recordingInvalidator struct {
	mu   sync.Mutex
	keys map[sentinel.KeyHash]bool
	all  int
}

func (r *recordingInvalidator) Invalidate(k sentinel.KeyHash) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.keys == nil {
		r.keys = map[sentinel.KeyHash]bool{}
	}
	r.keys[k] = true
}

func (r *recordingInvalidator) InvalidateAll() { r.mu.Lock(); r.all++; r.mu.Unlock() }

func (r *recordingInvalidator) has(keys []sentinel.KeyHash) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range keys {
		if !r.keys[k] {
			return false
		}
	}
	return true
}

// TestArchiveNotifiesCaches: archiving deletes through the table's
// trigger, so every in-process cache hears of each archived key.
func TestArchiveNotifiesCaches(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db, _ := migratedDB(t)
	inv := &recordingInvalidator{}
	sentineltest.RunFeed(t, postgres.NewBindingFeed(db, nil), inv)
	keys := sentineltest.SeedBindings(t, postgres.NewBindingStore(db), "n", 5, 100*24*time.Hour)
	moved, err := postgres.NewArchiveStore(db).ArchiveBindings(ctx, sentineltest.ArchiveNow.Add(-90*24*time.Hour), 100, sentineltest.ArchiveNow)
	require.NoError(t, err)
	require.Len(t, moved, 5)
	require.Eventually(t, func() bool { return inv.has(keys) }, 10*time.Second, 5*time.Millisecond)
}

// TestArchiveScale archives 300 000 stale bindings out of 1 000 000 and
// reports the time and the longest batch. It is slow: set
// SENTINEL_SCALE_TEST=1 to run it.
func TestArchiveScale(t *testing.T) {
	if testing.Short() || os.Getenv("SENTINEL_SCALE_TEST") == "" {
		t.Skip("set SENTINEL_SCALE_TEST=1 (and drop -short) to archive 300k of 1M bindings")
	}
	ctx := context.Background()
	db, dsn := migratedDB(t)
	raw := rawDB(t, dsn)
	total := 1_000_000
	if n, err := strconv.Atoi(os.Getenv("SENTINEL_SCALE_BINDINGS")); err == nil && n > 0 {
		total = n // a smaller run, to try the test itself
	}
	stale := total * 3 / 10
	now := sentineltest.ArchiveNow
	start := time.Now()
	// Seeding row by row through the per-row trigger and three GiST
	// indexes takes far longer than the archiving measured here, so the
	// seed fills the tables with the trigger off and the GiST indexes
	// dropped, then builds token_binding_nets and the indexes in bulk:
	// the schema the archiver then runs against is the usual one.
	for _, stmt := range []string{
		"ALTER TABLE token_bindings DISABLE TRIGGER token_bindings_nets_insert",
		"DROP INDEX token_bindings_first_ip", "DROP INDEX token_bindings_last_ip", "DROP INDEX token_binding_nets_net",
	} {
		_, err := raw.ExecContext(ctx, stmt)
		require.NoError(t, err, stmt)
	}
	// Rows 0..stale-1 are stale, spread through the key space by the
	// hash; the rest were used within the last 80 days.
	_, err := raw.ExecContext(ctx, `
		INSERT INTO token_bindings (key_hash, key_hint, rule_kind, allowed, status, first_ip, last_ip,
			created_at, updated_at, last_used_at, version)
		SELECT sha256(i::text::bytea), 'sk-sc…ale', 'single',
			ARRAY[('10.0.0.0'::inet + i)::cidr], 'active', '10.0.0.0'::inet + i, '10.0.0.0'::inet + i,
			$1::timestamptz - interval '200 days', $1::timestamptz - interval '200 days',
			CASE WHEN i < $2 THEN $1::timestamptz - interval '91 days' - (i % 1000) * interval '1 minute'
			     ELSE $1::timestamptz - (i % 80) * interval '1 day' END,
			nextval('binding_version_seq')
		FROM generate_series(0, $3 - 1) AS i`, now, stale, total)
	require.NoError(t, err)
	for _, stmt := range []string{
		"INSERT INTO token_binding_nets (key_hash, net) SELECT key_hash, unnest(allowed) FROM token_bindings",
		"ALTER TABLE token_bindings ENABLE TRIGGER token_bindings_nets_insert",
		"CREATE INDEX token_bindings_first_ip ON token_bindings USING gist (first_ip inet_ops)",
		"CREATE INDEX token_bindings_last_ip ON token_bindings USING gist (last_ip inet_ops)",
		"CREATE INDEX token_binding_nets_net ON token_binding_nets USING gist (net inet_ops)",
		"ANALYZE token_bindings", "ANALYZE token_binding_nets",
	} {
		_, err := raw.ExecContext(ctx, stmt)
		require.NoError(t, err, stmt)
	}
	t.Logf("seeded %d bindings (%d stale) in %v", total, stale, time.Since(start).Round(time.Millisecond))

	settings, err := sentinel.NewLiveSettings(sentinel.Settings{EnforceMode: sentinel.ModeEnforce, FailsafeMode: sentinel.FailsafeClosed,
		AlertThresholdCount: 5, AlertWindow: time.Minute, ArchiveDays: 90})
	require.NoError(t, err)
	a := sentinel.NewArchiver(postgres.NewArchiveStore(db), settings, sentinel.ArchiverOptions{Clock: clock.NewManual(now)})
	rep, err := a.RunOnce(ctx)
	require.NoError(t, err)
	t.Logf("archived %d bindings in %d batches (of at most 1000) in %v; longest batch transaction %v",
		rep.Archived, rep.Batches, rep.Duration.Round(time.Millisecond), rep.LongestBatch.Round(time.Millisecond))
	require.Equal(t, stale, rep.Archived)

	var active, archived, staleLeft int
	require.NoError(t, raw.QueryRowContext(ctx, "SELECT count(*) FROM token_bindings").Scan(&active))
	require.NoError(t, raw.QueryRowContext(ctx, "SELECT count(*) FROM token_bindings_archive").Scan(&archived))
	require.NoError(t, raw.QueryRowContext(ctx, "SELECT count(*) FROM token_bindings WHERE last_used_at < $1::timestamptz - interval '90 days'", now).Scan(&staleLeft))
	require.Equal(t, total-stale, active, "none of the fresh ones")
	require.Equal(t, stale, archived)
	require.Zero(t, staleLeft)
	var nets int
	require.NoError(t, raw.QueryRowContext(ctx, "SELECT count(*) FROM token_binding_nets").Scan(&nets))
	require.Equal(t, total-stale, nets, "the archived bindings' prefixes went with them")
}
