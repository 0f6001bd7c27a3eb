package test

import (
	"context"
	"database/sql"
	"net/http"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"
	valkeygo "github.com/valkey-io/valkey-go"

	"github.com/keyipsentinel/sentinel/test/testenv"
)

// TestPlainSQLBanReachesValkeyProxies: a ban written straight into
// PostgreSQL (no Sentinel code involved) is refused by two Valkey-backed
// proxy processes within 1 s: the database draws the version, its NOTIFY
// reaches each proxy's feed, and the Valkey entry is repaired.
func TestPlainSQLBanReachesValkeyProxies(t *testing.T) {
	d := newDeployment(t, "")
	up := newUpstream(t)
	procs := startProxies(t, 2, func() string { return t.TempDir() }, d.env(up.URL, "", ""))
	for _, p := range procs {
		require.Equal(t, http.StatusOK, send(t, "127.0.0.1", p.URL+"/v1/models", testKey), "bound, then cached in Valkey and in memory")
		require.Equal(t, http.StatusOK, send(t, "127.0.0.1", p.URL+"/v1/models", testKey))
	}
	raw, err := sql.Open("pgx", d.pgDSN)
	require.NoError(t, err)
	t.Cleanup(func() { raw.Close() })
	key := d.keyHash(t, testKey)
	start := time.Now()
	_, err = raw.ExecContext(context.Background(), `UPDATE token_bindings SET status = 'banned' WHERE key_hash = $1`, key[:])
	require.NoError(t, err)
	for _, p := range procs {
		require.Eventually(t, func() bool {
			return send(t, "127.0.0.1", p.URL+"/v1/models", testKey) == http.StatusForbidden
		}, time.Second, 5*time.Millisecond, "the plain SQL ban is refused")
	}
	t.Logf("plain SQL ban honoured by both Valkey-backed proxies after %v", time.Since(start))
}

// TestValkeyFlushedHeals: a Valkey flushed empty (FLUSHALL, or restarted
// without data) is refilled from the authority, and a ban made meanwhile
// with plain SQL is honoured at once, not after the TTL.
func TestValkeyFlushedHeals(t *testing.T) {
	redis := testenv.PrivateRedis(t)
	d := newDeployment(t, redis)
	up := newUpstream(t)
	p := start(t, "sentinel-proxy", t.TempDir(), d.env(up.URL, "", ""))
	require.Equal(t, http.StatusOK, send(t, "127.0.0.1", p.URL+"/v1/models", testKey))
	vc, err := valkeygo.NewClient(valkeygo.ClientOption{InitAddress: []string{redis}, DisableCache: true})
	require.NoError(t, err)
	t.Cleanup(vc.Close)
	require.NoError(t, vc.Do(context.Background(), vc.B().Flushall().Build()).Error())
	raw, err := sql.Open("pgx", d.pgDSN)
	require.NoError(t, err)
	t.Cleanup(func() { raw.Close() })
	key := d.keyHash(t, testKey)
	_, err = raw.ExecContext(context.Background(), `UPDATE token_bindings SET status = 'banned' WHERE key_hash = $1`, key[:])
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return send(t, "127.0.0.1", p.URL+"/v1/models", testKey) == http.StatusForbidden
	}, time.Second, 5*time.Millisecond, "after FLUSHALL the ban is read from the authority")
}
