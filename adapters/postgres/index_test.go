package postgres_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/postgres"
	"github.com/keyipsentinel/sentinel/sentineltest"
)

// queryLog captures the SQL the stores run.
type queryLog struct {
	mu      sync.Mutex
	queries []string
}

func (l *queryLog) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context { return ctx }

func (l *queryLog) AfterQuery(_ context.Context, e *bun.QueryEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.queries = append(l.queries, e.Query)
}

// take returns the queries captured since the last call.
func (l *queryLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	q := l.queries
	l.queries = nil
	return q
}

// TestSubnetQueriesUseGiST checks the plans of the queries the stores
// really run for a Net filter. Sequential scans are disabled so that the
// answer does not depend on how small the test tables are: what matters is
// that an index can serve the query at all.
func TestSubnetQueriesUseGiST(t *testing.T) {
	ctx := context.Background()
	db, dsn := migratedDB(t)
	bindings, intercepts := postgres.NewBindingStore(db), postgres.NewInterceptStore(db)
	const n = 3000
	now := time.Now().UTC()
	batch := make([]sentinel.Intercept, 0, n)
	for i := range n {
		addr := netip.AddrFrom4([4]byte{10, byte(i / 256), byte(i % 256), 1})
		b := sentineltest.NewBinding(t, sentineltest.Key(fmt.Sprint("index", i)), addr.String())
		if i%2 == 0 {
			b.Rule = sentinel.Rule{Kind: sentinel.RuleMultiple, Prefixes: []netip.Prefix{
				netip.PrefixFrom(addr, 24).Masked(), netip.PrefixFrom(addr, 32)}}
		}
		_, _, err := bindings.CreateBinding(ctx, b)
		require.NoError(t, err)
		batch = append(batch, sentinel.Intercept{
			Key: b.Key, ClientIP: addr, Reason: sentinel.ReasonIPNotAllowed, Enforced: true,
			At: now.Add(-time.Duration(i) * time.Second),
		})
	}
	require.NoError(t, intercepts.AddIntercepts(ctx, batch))
	raw := rawDB(t, dsn)
	_, err := raw.ExecContext(ctx, "ANALYZE")
	require.NoError(t, err)

	var log queryLog
	db.Bun().AddQueryHook(&log)
	net := sentineltest.Prefix(t, "10.1.2.0/24")

	got, total, err := bindings.ListBindings(ctx, sentinel.BindingFilter{Net: net})
	require.NoError(t, err)
	require.Equal(t, 1, total)
	require.Len(t, got, 1)
	bindingQueries := log.take()

	_, total, err = intercepts.ListIntercepts(ctx, sentinel.InterceptFilter{Net: net})
	require.NoError(t, err)
	require.Equal(t, 1, total)
	interceptQueries := log.take()

	explain := func(t *testing.T, query string) string {
		t.Helper()
		tx, err := raw.BeginTx(ctx, nil)
		require.NoError(t, err)
		defer tx.Rollback()
		_, err = tx.ExecContext(ctx, "SET LOCAL enable_seqscan = off")
		require.NoError(t, err)
		rows, err := tx.QueryContext(ctx, "EXPLAIN "+query)
		require.NoError(t, err)
		defer rows.Close()
		var plan strings.Builder
		for rows.Next() {
			var line string
			require.NoError(t, rows.Scan(&line))
			plan.WriteString(line + "\n")
		}
		require.NoError(t, rows.Err())
		return plan.String()
	}
	tests := []struct {
		name    string
		queries []string
		indexes []string
	}{
		{"bindings", bindingQueries, []string{"token_binding_nets_net", "token_bindings_first_ip", "token_bindings_last_ip"}},
		{"intercepts", interceptQueries, []string{"intercept_logs_client_ip"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Len(t, tt.queries, 2, "a count and a page")
			for _, q := range tt.queries {
				plan := explain(t, q)
				for _, index := range tt.indexes {
					require.Contains(t, plan, index, "query:\n%s\nplan:\n%s", q, plan)
				}
			}
		})
	}
}
