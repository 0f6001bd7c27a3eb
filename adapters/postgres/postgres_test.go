package postgres_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", for looking behind the store
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/postgres"
	pgmigrations "github.com/keyipsentinel/sentinel/migrations/postgres"
	"github.com/keyipsentinel/sentinel/sentineltest"
	"github.com/keyipsentinel/sentinel/test/testenv"
)

// openDB opens dsn, closing it when the test ends.
func openDB(t testing.TB, dsn string, opts postgres.Options) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), dsn, opts)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// migratedDB returns a store on a fresh, migrated schema and its DSN.
func migratedDB(t testing.TB) (*postgres.DB, string) {
	t.Helper()
	dsn := testenv.Postgres(t)
	db := openDB(t, dsn, postgres.Options{})
	_, err := db.Migrate(context.Background())
	require.NoError(t, err)
	return db, dsn
}

// rawDB opens dsn with plain database/sql, to look at the tables directly.
func rawDB(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

func TestBindingStore(t *testing.T) {
	sentineltest.TestBindingStore(t, func(t *testing.T) sentinel.BindingStore {
		db, _ := migratedDB(t)
		return postgres.NewBindingStore(db)
	})
}

func TestInterceptStore(t *testing.T) {
	sentineltest.TestInterceptStore(t, func(t *testing.T) sentinel.InterceptStore {
		db, _ := migratedDB(t)
		return postgres.NewInterceptStore(db)
	})
}

func TestMigrateUpDownUp(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.Postgres(t)
	db := openDB(t, dsn, postgres.Options{})
	raw := rawDB(t, dsn)
	tableExists := func(name string) bool {
		t.Helper()
		var exists bool
		require.NoError(t, raw.QueryRowContext(ctx, "SELECT to_regclass($1) IS NOT NULL", name).Scan(&exists))
		return exists
	}

	all := migrationNames(t) // every migration, oldest first: one group when applied together
	n, err := db.Pending(ctx)
	require.NoError(t, err)
	require.Equal(t, len(all), n)

	applied, err := db.Migrate(ctx)
	require.NoError(t, err)
	require.Equal(t, all, applied)
	for _, table := range []string{"token_bindings", "token_binding_nets", "intercept_logs", "admin_audit", "settings"} {
		require.True(t, tableExists(table), table)
	}
	n, err = db.Pending(ctx)
	require.NoError(t, err)
	require.Zero(t, n)
	st, err := db.MigrationStatus(ctx)
	require.NoError(t, err)
	require.Len(t, st, len(all))
	require.True(t, st[0].Applied)
	require.Equal(t, "init", st[0].Comment)
	require.False(t, st[0].AppliedAt.IsZero())

	again, err := db.Migrate(ctx)
	require.NoError(t, err)
	require.Empty(t, again, "migrating a migrated schema does nothing")

	rolled, err := db.Rollback(ctx)
	require.NoError(t, err)
	require.ElementsMatch(t, all, rolled)
	for _, table := range []string{"token_bindings", "token_binding_nets", "intercept_logs", "admin_audit", "settings", "binding_version_seq"} {
		require.False(t, tableExists(table), table)
	}
	st, err = db.MigrationStatus(ctx)
	require.NoError(t, err)
	require.False(t, st[0].Applied)

	applied, err = db.Migrate(ctx)
	require.NoError(t, err)
	require.Equal(t, all, applied)
	_, _, err = postgres.NewBindingStore(db).CreateBinding(ctx, sentineltest.NewBinding(t, sentineltest.Key("a"), "192.0.2.1"))
	require.NoError(t, err, "the schema works after down and up")
}

func TestConcurrentMigrationsBothSucceed(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.Postgres(t)
	// Two pools stand for two processes starting at once.
	dbs := []*postgres.DB{openDB(t, dsn, postgres.Options{}), openDB(t, dsn, postgres.Options{})}
	applied := make([][]string, len(dbs))
	errs := make([]error, len(dbs))
	var wg sync.WaitGroup
	for i, db := range dbs {
		wg.Go(func() { applied[i], errs[i] = db.Migrate(ctx) })
	}
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	require.Len(t, append(applied[0], applied[1]...), len(migrationNames(t)),
		"exactly one of them applies each migration")
	n, err := dbs[0].Pending(ctx)
	require.NoError(t, err)
	require.Zero(t, n)
}

// TestNetsFollowAllowed checks that token_binding_nets, which the subnet
// queries read, always holds exactly the binding's allowed prefixes.
func TestNetsFollowAllowed(t *testing.T) {
	ctx := context.Background()
	db, dsn := migratedDB(t)
	s := postgres.NewBindingStore(db)
	raw := rawDB(t, dsn)
	nets := func(key sentinel.KeyHash) []string {
		t.Helper()
		rows, err := raw.QueryContext(ctx, "SELECT net::text FROM token_binding_nets WHERE key_hash = $1", key[:])
		require.NoError(t, err)
		defer rows.Close()
		out := []string{}
		for rows.Next() {
			var n string
			require.NoError(t, rows.Scan(&n))
			out = append(out, n)
		}
		require.NoError(t, rows.Err())
		sort.Strings(out)
		return out
	}
	p := func(s string) netip.Prefix { return sentineltest.Prefix(t, s) }

	multi := sentineltest.NewBinding(t, sentineltest.Key("multi"), "192.0.2.1")
	multi.Rule = sentinel.Rule{Kind: sentinel.RuleMultiple, Prefixes: []netip.Prefix{p("192.0.2.1"), p("10.0.0.0/8")}}
	_, _, err := s.CreateBinding(ctx, multi)
	require.NoError(t, err)
	require.Equal(t, []string{"10.0.0.0/8", "192.0.2.1/32"}, nets(multi.Key), "after create")

	learner := sentineltest.NewBinding(t, sentineltest.Key("learner"), "192.0.2.1")
	learner.Rule = sentinel.Rule{Kind: sentinel.RuleLearn, Limit: 2, Prefixes: []netip.Prefix{p("192.0.2.1")}}
	_, _, err = s.CreateBinding(ctx, learner)
	require.NoError(t, err)
	_, learned, err := s.LearnPrefix(ctx, learner.Key, p("2001:db8::/64"))
	require.NoError(t, err)
	require.True(t, learned)
	require.Equal(t, []string{"192.0.2.1/32", "2001:db8::/64"}, nets(learner.Key), "after learn")

	rule := sentinel.Rule{Kind: sentinel.RuleMultiple, Prefixes: []netip.Prefix{p("10.0.0.0/8"), p("198.51.100.0/24")}}
	_, err = s.UpdateBinding(ctx, multi.Key, sentinel.BindingUpdate{Rule: &rule})
	require.NoError(t, err)
	require.Equal(t, []string{"10.0.0.0/8", "198.51.100.0/24"}, nets(multi.Key), "after update")

	banned := sentinel.StatusBanned
	_, err = s.UpdateBinding(ctx, multi.Key, sentinel.BindingUpdate{Status: &banned})
	require.NoError(t, err)
	require.Equal(t, []string{"10.0.0.0/8", "198.51.100.0/24"}, nets(multi.Key), "after a status change")

	all := sentinel.Rule{Kind: sentinel.RuleAll}
	_, err = s.UpdateBinding(ctx, multi.Key, sentinel.BindingUpdate{Rule: &all})
	require.NoError(t, err)
	require.Empty(t, nets(multi.Key), "after update to all")

	_, err = s.DeleteBinding(ctx, learner.Key, 0)
	require.NoError(t, err)
	require.Empty(t, nets(learner.Key), "after delete")
}

func TestTouchBatch(t *testing.T) {
	ctx := context.Background()
	db, _ := migratedDB(t)
	s := postgres.NewBindingStore(db)
	stored, _, err := s.CreateBinding(ctx, sentineltest.NewBinding(t, sentineltest.Key("a"), "192.0.2.1"))
	require.NoError(t, err)
	t0 := stored.LastUsedAt

	tests := []struct {
		name     string
		uses     []sentinel.Use
		wantAt   time.Time
		wantAddr string
	}{
		{
			name: "the latest use of a key wins, whatever its place in the batch",
			uses: []sentinel.Use{
				{Key: stored.Key, Addr: netip.MustParseAddr("192.0.2.2"), At: t0.Add(2 * time.Second)},
				{Key: stored.Key, Addr: netip.MustParseAddr("192.0.2.3"), At: t0.Add(3 * time.Second)},
				{Key: stored.Key, Addr: netip.MustParseAddr("192.0.2.4"), At: t0.Add(time.Second)},
			},
			wantAt: t0.Add(3 * time.Second), wantAddr: "192.0.2.3",
		},
		{
			name:   "a use without an address keeps the last one",
			uses:   []sentinel.Use{{Key: stored.Key, At: t0.Add(4 * time.Second)}},
			wantAt: t0.Add(4 * time.Second), wantAddr: "192.0.2.3",
		},
		{
			name:   "an older use changes nothing",
			uses:   []sentinel.Use{{Key: stored.Key, Addr: netip.MustParseAddr("192.0.2.9"), At: t0}},
			wantAt: t0.Add(4 * time.Second), wantAddr: "192.0.2.3",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.NoError(t, s.TouchBindings(ctx, tt.uses))
			got, err := s.FindBinding(ctx, stored.Key)
			require.NoError(t, err)
			require.Equal(t, tt.wantAt, got.LastUsedAt)
			require.Equal(t, netip.MustParseAddr(tt.wantAddr), got.LastIP)
			require.Equal(t, stored.Version, got.Version)
		})
	}
}

func TestAddInterceptsIsAllOrNothing(t *testing.T) {
	ctx := context.Background()
	db, _ := migratedDB(t)
	s := postgres.NewInterceptStore(db)
	good := sentinel.Intercept{Key: sentineltest.Key("a"), ClientIP: netip.MustParseAddr("192.0.2.1"),
		Reason: sentinel.ReasonIPNotAllowed, Path: "/v1/models", At: time.Now()}
	bad := good
	bad.At = time.Date(300_000, 1, 1, 0, 0, 0, 0, time.UTC) // beyond timestamptz
	err := s.AddIntercepts(ctx, []sentinel.Intercept{good, bad, good})
	sentineltest.RequireCode(t, sentinel.EINVALID, err)
	_, total, err := s.ListIntercepts(ctx, sentinel.InterceptFilter{})
	require.NoError(t, err)
	require.Zero(t, total)
}

// TestTextPostgresCannotHold covers client-controlled text with NUL bytes
// or invalid UTF-8. bun writes values into the SQL text, where a NUL byte
// would cut the statement short.
func TestTextPostgresCannotHold(t *testing.T) {
	ctx := context.Background()
	db, _ := migratedDB(t)
	bindings, intercepts := postgres.NewBindingStore(db), postgres.NewInterceptStore(db)

	b := sentineltest.NewBinding(t, sentineltest.Key("a"), "192.0.2.1")
	b.Hint = "sk-\x00ab\xff…"
	stored, created, err := bindings.CreateBinding(ctx, b)
	require.NoError(t, err, "a strange key still binds")
	require.True(t, created)
	require.Equal(t, "sk-ab\uFFFD…", stored.Hint)
	got, err := bindings.FindBinding(ctx, b.Key)
	require.NoError(t, err)
	require.Equal(t, stored.Hint, got.Hint)

	require.NoError(t, intercepts.AddIntercepts(ctx, []sentinel.Intercept{{Key: b.Key, Reason: sentinel.ReasonIPNotAllowed,
		Path: "/v1/\x00models", UserAgent: "agent\xfe", At: time.Now()}}))
	is, _, err := intercepts.ListIntercepts(ctx, sentinel.InterceptFilter{})
	require.NoError(t, err)
	require.Equal(t, "/v1/models", is[0].Path)
	require.Equal(t, "agent\uFFFD", is[0].UserAgent)

	_, _, err = intercepts.ListIntercepts(ctx, sentinel.InterceptFilter{Reason: "key\x00banned"})
	sentineltest.RequireCode(t, sentinel.EINVALID, err)
	_, _, err = bindings.ListBindings(ctx, sentinel.BindingFilter{Status: "active\x00"})
	sentineltest.RequireCode(t, sentinel.EINVALID, err)
	_, _, err = bindings.ListBindings(ctx, sentinel.BindingFilter{Kind: "single\x00"})
	sentineltest.RequireCode(t, sentinel.EINVALID, err)
}

func TestDeleteInterceptsBeforeInBatches(t *testing.T) {
	// Batches of 5 000 rows are ten times the recorder's; their deadline is
	// the test's, not the per-call query timeout meant for the request path.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db, _ := migratedDB(t)
	s := postgres.NewInterceptStore(db)
	const old, recent = 21_000, 4_000 // more than two retention batches
	base := time.Now().UTC().Truncate(time.Microsecond)
	batch := make([]sentinel.Intercept, 0, 5_000)
	for i := range old + recent {
		age := time.Hour
		if i < old {
			age = 48*time.Hour + time.Duration(i)*time.Millisecond
		}
		batch = append(batch, sentinel.Intercept{Key: sentineltest.Key("a"), ClientIP: netip.MustParseAddr("192.0.2.1"),
			Reason: sentinel.ReasonIPNotAllowed, At: base.Add(-age)})
		if len(batch) == cap(batch) {
			require.NoError(t, s.AddIntercepts(ctx, batch))
			batch = batch[:0]
		}
	}
	n, err := s.DeleteInterceptsBefore(ctx, base.Add(-24*time.Hour))
	require.NoError(t, err)
	require.Equal(t, old, n)
	_, total, err := s.ListIntercepts(ctx, sentinel.InterceptFilter{})
	require.NoError(t, err)
	require.Equal(t, recent, total)
}

func TestOpenUnreachableServer(t *testing.T) {
	start := time.Now()
	_, err := postgres.Open(context.Background(),
		"postgres://postgres:hunter2secret@127.0.0.1:1/test?sslmode=disable&connect_timeout=5", postgres.Options{})
	sentineltest.RequireCode(t, sentinel.EUNAVAILABLE, err)
	require.Less(t, time.Since(start), time.Second, "a refused connection fails fast")
	require.NotContains(t, err.Error(), "hunter2secret")
	require.NotContains(t, fmt.Sprintf("%+v", err), "hunter2secret")
}

func TestOpenRefusesBadDSN(t *testing.T) {
	tests := []struct{ name, dsn string }{
		{"malformed", "postgres://postgres:hunter2secret@127.0.0.1:notaport/test"},
		{"empty", " "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := postgres.Open(context.Background(), tt.dsn, postgres.Options{})
			sentineltest.RequireCode(t, sentinel.EINVALID, err)
			require.NotContains(t, err.Error(), "hunter2secret")
		})
	}
}

func TestUnmigratedSchema(t *testing.T) {
	db := openDB(t, testenv.Postgres(t), postgres.Options{})
	_, err := postgres.NewBindingStore(db).FindBinding(context.Background(), sentineltest.Key("a"))
	sentineltest.RequireCode(t, sentinel.EINTERNAL, err)
	require.Contains(t, sentinel.ErrorMessage(err), "sentinel-admin migrate up")
}

func TestQueryTimeoutBoundsEveryCall(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.Postgres(t)
	db := openDB(t, dsn, postgres.Options{QueryTimeout: 100 * time.Millisecond})
	_, err := db.Migrate(ctx)
	require.NoError(t, err)
	s := postgres.NewBindingStore(db)
	stored, _, err := s.CreateBinding(ctx, sentineltest.NewBinding(t, sentineltest.Key("a"), "192.0.2.1"))
	require.NoError(t, err)

	// Another session holds the row, as a long admin transaction would.
	tx, err := rawDB(t, dsn).BeginTx(ctx, nil)
	require.NoError(t, err)
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, "SELECT 1 FROM token_bindings WHERE key_hash = $1 FOR UPDATE", stored.Key[:])
	require.NoError(t, err)

	start := time.Now()
	banned := sentinel.StatusBanned
	_, err = s.UpdateBinding(ctx, stored.Key, sentinel.BindingUpdate{Status: &banned})
	sentineltest.RequireCode(t, sentinel.EUNAVAILABLE, err)
	require.Less(t, time.Since(start), time.Second)

	_, err = s.FindBinding(ctx, stored.Key)
	require.NoError(t, err, "readers are not blocked by the lock, and the pool survived the timeout")
}

func TestLearnRefusesAMalformedPrefix(t *testing.T) {
	db, _ := migratedDB(t)
	s := postgres.NewBindingStore(db)
	b := sentineltest.NewBinding(t, sentineltest.Key("learner"), "192.0.2.1")
	b.Rule = sentinel.Rule{Kind: sentinel.RuleLearn, Limit: 3}
	_, _, err := s.CreateBinding(context.Background(), b)
	require.NoError(t, err)
	// Host bits set: not a cidr value; the database refuses it.
	_, _, err = s.LearnPrefix(context.Background(), b.Key, netip.MustParsePrefix("10.1.2.3/8"))
	sentineltest.RequireCode(t, sentinel.EINVALID, err)
}

func TestTranslate(t *testing.T) {
	pg := func(code string) error { return fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: code, Message: "m"}) }
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"unique violation", pg("23505"), sentinel.ECONFLICT},
		{"check violation", pg("23514"), sentinel.EINVALID},
		{"not null violation", pg("23502"), sentinel.EINVALID},
		{"invalid text representation", pg("22P02"), sentinel.EINVALID},
		{"string too long", pg("22001"), sentinel.EINVALID},
		{"connection failure", pg("08006"), sentinel.EUNAVAILABLE},
		{"admin shutdown", pg("57P01"), sentinel.EUNAVAILABLE},
		{"crash shutdown", pg("57P02"), sentinel.EUNAVAILABLE},
		{"cannot connect now", pg("57P03"), sentinel.EUNAVAILABLE},
		{"statement timeout", pg("57014"), sentinel.EUNAVAILABLE},
		{"too many connections", pg("53300"), sentinel.EUNAVAILABLE},
		{"serialization failure", pg("40001"), sentinel.EUNAVAILABLE},
		{"deadlock", pg("40P01"), sentinel.EUNAVAILABLE},
		{"undefined table", pg("42P01"), sentinel.EINTERNAL},
		{"undefined column", pg("42703"), sentinel.EINTERNAL},
		{"syntax error", pg("42601"), sentinel.EINTERNAL},
		{"no rows", sql.ErrNoRows, sentinel.ENOTFOUND},
		{"deadline", context.DeadlineExceeded, sentinel.EUNAVAILABLE},
		// The caller gave up: not an outage (no failsafe answer, no
		// "stores unavailable" log); errors.Is still finds the cause.
		{"canceled", context.Canceled, sentinel.EINTERNAL},
		{"bad connection", fmt.Errorf("x: %w", sql.ErrConnDone), sentinel.EUNAVAILABLE},
		{"eof", io.EOF, sentinel.EUNAVAILABLE},
		{"unexpected eof", io.ErrUnexpectedEOF, sentinel.EUNAVAILABLE},
		{"domain error passes through", sentinel.Errorf(sentinel.ECONFLICT, "x"), sentinel.ECONFLICT},
		{"anything else", errors.New("boom"), sentinel.EINTERNAL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := postgres.Translate(tt.err, "op")
			require.Equal(t, tt.want, sentinel.ErrorCode(err), "%v", err)
			require.ErrorIs(t, err, tt.err, "the cause is kept")
		})
	}
	assert.Contains(t, sentinel.ErrorMessage(postgres.Translate(pg("42P01"), "op")), "migrate up")
	// Load is not an outage: these never open the failsafe door.
	for _, code := range []string{"53300", "57014", "40001", "40P01"} {
		assert.ErrorIs(t, postgres.Translate(pg(code), "op"), sentinel.ErrBusy, code)
	}
	for _, code := range []string{"57P01", "08006"} {
		assert.NotErrorIs(t, postgres.Translate(pg(code), "op"), sentinel.ErrBusy, code)
	}
	require.NoError(t, postgres.Translate(nil, "op"))
}

// BenchmarkFindBinding looks up one binding at a time, cycling through
// more keys than pgx caches statements for, as the hot path would.
func BenchmarkFindBinding(b *testing.B) {
	ctx := context.Background()
	db, _ := migratedDB(b)
	s := postgres.NewBindingStore(db)
	keys := make([]sentinel.KeyHash, 1024)
	for i := range keys {
		stored, _, err := s.CreateBinding(ctx, sentineltest.NewBinding(b, sentineltest.Key(fmt.Sprint("bench", i)), "192.0.2.1"))
		require.NoError(b, err)
		keys[i] = stored.Key
	}
	i := 0
	for b.Loop() {
		if _, err := s.FindBinding(ctx, keys[i%len(keys)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// migrationNames lists the embedded migrations as the migrator names them
// (<id>_<comment>), oldest first.
func migrationNames(t *testing.T) []string {
	t.Helper()
	ups, err := fs.Glob(pgmigrations.FS, "*.up.sql")
	require.NoError(t, err)
	require.NotEmpty(t, ups)
	names := make([]string, len(ups))
	for i, f := range ups {
		names[i] = strings.TrimSuffix(strings.TrimSuffix(f, ".up.sql"), ".tx")
	}
	sort.Strings(names)
	return names
}
