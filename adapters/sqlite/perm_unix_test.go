//go:build unix

package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyipsentinel/sentinel/adapters/sqlite"
)

// TestDatabaseFilesAreOwnerOnly: the database and its -wal and -shm files
// (which hold recent writes: hashes, hints, addresses) are 0600 whatever
// the umask, and files left wider by an older version are narrowed on open
// (issue 8, item 11).
func TestDatabaseFilesAreOwnerOnly(t *testing.T) {
	old := syscall.Umask(0) // the most permissive umask: nothing may rely on it
	t.Cleanup(func() { syscall.Umask(old) })

	path := filepath.Join(t.TempDir(), "data", "sentinel.db")
	requireOwnerOnly := func(t *testing.T) {
		t.Helper()
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			fi, err := os.Stat(p)
			require.NoError(t, err)
			require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "%s", filepath.Base(p))
		}
	}

	ctx := context.Background()
	db, err := sqlite.Open(ctx, path, sqlite.Options{})
	require.NoError(t, err)
	require.NoError(t, db.Ping(ctx))
	requireOwnerOnly(t)
	require.NoError(t, db.Close())

	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if _, err := os.Stat(p); err == nil {
			require.NoError(t, os.Chmod(p, 0o644))
		}
	}
	db, err = sqlite.Open(ctx, path, sqlite.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	requireOwnerOnly(t)
}
