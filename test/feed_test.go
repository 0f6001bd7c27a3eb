package test

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
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

// TestValkeyRestartedFromOldSnapshotHeals: a Valkey that restarts from a
// snapshot older than a ban holds the binding as it was before the ban;
// the proxy notices the restart (the server's run id) and drops the cached
// bindings, so the ban is honoured again without waiting for the TTL.
func TestValkeyRestartedFromOldSnapshotHeals(t *testing.T) {
	server := ""
	for _, name := range []string{"valkey-server", "redis-server"} {
		if p, err := exec.LookPath(name); err == nil {
			server = p
			break
		}
	}
	if server == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true and neither valkey-server nor redis-server is on the PATH")
		}
		t.Skip("no valkey-server or redis-server on the PATH")
	}
	dir := t.TempDir()
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	var cmd *exec.Cmd
	startRedis := func() {
		cmd = exec.Command(server, "--bind", "127.0.0.1", "--port", fmt.Sprint(port), "--dir", dir,
			"--save", "", "--appendonly", "no", "--dbfilename", "dump.rdb")
		require.NoError(t, cmd.Start())
		require.Eventually(t, func() bool {
			c, err := net.Dial("tcp", addr)
			if err == nil {
				c.Close()
			}
			return err == nil
		}, 5*time.Second, 20*time.Millisecond)
	}
	startRedis()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	d := newDeployment(t, addr)
	up := newUpstream(t)
	p := start(t, "sentinel-proxy", t.TempDir(), d.env(up.URL, "", ""))
	require.Equal(t, http.StatusOK, send(t, "127.0.0.1", p.URL+"/v1/models", testKey))

	vc, err := valkeygo.NewClient(valkeygo.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	require.NoError(t, err)
	require.NoError(t, vc.Do(context.Background(), vc.B().Save().Build()).Error(), "the snapshot holds the active binding")
	vc.Close()

	raw, err := sql.Open("pgx", d.pgDSN)
	require.NoError(t, err)
	t.Cleanup(func() { raw.Close() })
	key := d.keyHash(t, testKey)
	_, err = raw.ExecContext(context.Background(), `UPDATE token_bindings SET status = 'banned' WHERE key_hash = $1`, key[:])
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return send(t, "127.0.0.1", p.URL+"/v1/models", testKey) == http.StatusForbidden
	}, time.Second, 5*time.Millisecond, "the ban is honoured")

	// The proxy learns the server's identity from its maintenance loop
	// (INFO server); wait until it has asked before restarting.
	vc, err = valkeygo.NewClient(valkeygo.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		list, err := vc.Do(context.Background(), vc.B().ClientList().Build()).ToString()
		return err == nil && strings.Contains(list, "cmd=info")
	}, 5*time.Second, 20*time.Millisecond, "the proxy has read the server's run id")
	vc.Close()

	// Restart from the old snapshot.
	require.NoError(t, cmd.Process.Kill())
	cmd.Wait()
	startRedis()
	// The running proxy notices the restart by itself (no request needed:
	// a request through it would repair the entry anyway, since it knows
	// the newer version) and drops the stale entry, so a proxy that never
	// saw the ban (started later, or whose memory was evicted) cannot read
	// it. (Every proxy also drops the cached bindings when its change feed
	// first connects, for changes made while none was listening.)
	vc, err = valkeygo.NewClient(valkeygo.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	require.NoError(t, err)
	t.Cleanup(vc.Close)
	cacheKey := d.prefix + "b:" + key.String()
	require.Eventually(t, func() bool {
		v, err := vc.Do(context.Background(), vc.B().Get().Key(cacheKey).Build()).ToString()
		return valkeygo.IsValkeyNil(err) || (err == nil && strings.Contains(v, "|banned|"))
	}, 5*time.Second, 20*time.Millisecond, "the stale snapshot entry is dropped without waiting for the TTL")
	for range 10 {
		require.Equal(t, http.StatusForbidden, send(t, "127.0.0.1", p.URL+"/v1/models", testKey))
	}
}
