package test

import (
	"context"
	"database/sql"
	"net/http"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/sqlite"
)

// buildArchiver builds sentinel-archiver into binDir once per test.
func buildArchiver(t *testing.T) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	path := filepath.Join(binDir, "sentinel-archiver")
	out, err := exec.Command(gobin, "build", "-o", path, "../cmd/sentinel-archiver").CombinedOutput()
	require.NoError(t, err, "build sentinel-archiver: %s", out)
	return path
}

// TestArchiverOnceWithRunningProxy: a running proxy has a key cached;
// `sentinel-archiver once`, another process on the same SQLite file,
// archives the idle binding; the proxy then lets the key bind afresh from
// a new address.
func TestArchiverOnceWithRunningProxy(t *testing.T) {
	archiver := buildArchiver(t)
	up := newUpstream(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	p := start(t, "sentinel-proxy", dir, map[string]string{"DOWNSTREAM_URL": up.URL, "SENTINEL_DATA_DIR": data,
		"SENTINEL_LAST_USED_INTERVAL": "1h"}) // no touch moves the last use forward meanwhile
	url := p.URL + "/v1/models"
	require.Equal(t, http.StatusOK, send(t, "127.0.0.1", url, testKey))
	require.Equal(t, http.StatusForbidden, send(t, "127.0.0.2", url, testKey), "bound to 127.0.0.1 and cached")

	dbPath := filepath.Join(data, "sentinel.db")
	raw, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=busy_timeout(10000)")
	require.NoError(t, err)
	defer raw.Close()
	_, err = raw.Exec("UPDATE token_bindings SET last_used_at = ?", time.Now().Add(-100*24*time.Hour).UnixMicro())
	require.NoError(t, err)

	cmd := exec.Command(archiver, "once")
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "SENTINEL_DATA_DIR=" + data, "ARCHIVE_DAYS=90"}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "bindings=1")

	deadline := time.Now().Add(10 * time.Second)
	for send(t, "127.0.0.2", url, testKey) != http.StatusOK {
		require.True(t, time.Now().Before(deadline), "the proxy still refuses the archived key from a new address")
		time.Sleep(20 * time.Millisecond)
	}
	require.Equal(t, http.StatusForbidden, send(t, "127.0.0.1", url, testKey), "now bound to its new address")
	require.Equal(t, []string{"127.0.0.2"}, countBindings(t, dbPath))
	archived, total, err := sqlite.NewArchiveStore(openSQLite(t, dbPath)).ListArchivedBindings(context.Background(), sentinel.ArchiveFilter{})
	require.NoError(t, err)
	require.Equal(t, 1, total)
	require.Equal(t, "127.0.0.1", archived[0].Binding.FirstIP.String(), "the old binding is kept as history")

	cmd = exec.Command(archiver, "once")
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "SENTINEL_DATA_DIR=" + data}
	out, err = cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "bindings=0", "nothing more to archive")
}
