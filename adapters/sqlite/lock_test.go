package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/sqlite"
	"github.com/keyipsentinel/sentinel/sentineltest"
)

// lockFile opens a connection of its own to path, as another process
// would, and holds the write lock until the test ends.
func lockFile(t *testing.T, path string) {
	t.Helper()
	other, err := sql.Open("sqlite", "file:"+path)
	require.NoError(t, err)
	t.Cleanup(func() { other.Close() })
	conn, err := other.Conn(context.Background())
	require.NoError(t, err)
	_, err = conn.ExecContext(context.Background(), "BEGIN IMMEDIATE")
	require.NoError(t, err)
	t.Cleanup(func() {
		conn.ExecContext(context.Background(), "ROLLBACK")
		conn.Close()
	})
}

// TestLockedFileHonoursTheDeadline: with the file write-locked by another
// connection, a first use gives up at the caller's deadline (an outage),
// not after SQLite's busy timeout of maxBusyWait (10 s).
func TestLockedFileHonoursTheDeadline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sentinel.db")
	db, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	store := sqlite.NewBindingStore(db)
	lockFile(t, path)

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err = store.CreateBinding(ctx, sentineltest.NewBinding(t, sentineltest.Key("k"), "192.0.2.1"))
	elapsed := time.Since(start)
	sentineltest.RequireCode(t, sentinel.EUNAVAILABLE, err)
	require.True(t, errors.Is(err, sentinel.ErrBusy) || errors.Is(err, context.DeadlineExceeded),
		"a file locked by other writers is load, not an outage: never a failsafe answer (%v)", err)
	// Not a performance limit: the point is that the 10 s busy timeout
	// did not apply, so half of it is a bound no healthy run comes near.
	require.Less(t, elapsed, 5*time.Second, "waited for the busy timeout instead of the deadline")
}

// TestWriteQueueHonoursTheContext: a write waiting behind another of the
// same process gives up when its context ends, while the first still
// waits for the lock.
func TestWriteQueueHonoursTheContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sentinel.db")
	db, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	store := sqlite.NewBindingStore(db)
	lockFile(t, path)

	firstCtx, stopFirst := context.WithCancel(context.Background())
	defer stopFirst()
	firstDone := make(chan error, 1)
	entered := make(chan struct{})
	go func() {
		close(entered)
		_, _, err := store.CreateBinding(firstCtx, sentineltest.NewBinding(t, sentineltest.Key("a"), "192.0.2.1"))
		firstDone <- err
	}()
	<-entered
	// The second may start before the first has taken the queue; either
	// way it cannot get the file's lock, and must end with its context.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, _, err = store.CreateBinding(ctx, sentineltest.NewBinding(t, sentineltest.Key("b"), "192.0.2.2"))
	sentineltest.RequireCode(t, sentinel.EUNAVAILABLE, err)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	select {
	case err := <-firstDone:
		t.Fatalf("the first write ended before its context: %v", err)
	default:
	}
	stopFirst()
	require.Error(t, <-firstDone)
}

// TestCanceledIsNotAnOutage: a caller that gives up (a client hanging up)
// gets an error that says so, not EUNAVAILABLE.
func TestCanceledIsNotAnOutage(t *testing.T) {
	store := sqlite.NewBindingStore(openDB(t))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for name, err := range map[string]error{
		"find": func() error { _, err := store.FindBinding(ctx, sentineltest.Key("k")); return err }(),
		"create": func() error {
			_, _, err := store.CreateBinding(ctx, sentineltest.NewBinding(t, sentineltest.Key("k"), "192.0.2.1"))
			return err
		}(),
	} {
		require.Error(t, err, name)
		require.True(t, errors.Is(err, context.Canceled), "%s: %v", name, err)
		require.NotEqual(t, sentinel.EUNAVAILABLE, sentinel.ErrorCode(err), "%s: %v", name, err)
	}
}

// TestRetentionDeletesInBatches: more intercepts than one batch holds are
// all removed, those after the cutoff kept.
func TestRetentionDeletesInBatches(t *testing.T) {
	ctx := context.Background()
	s := sqlite.NewInterceptStore(openDB(t))
	cutoff := time.Now().UTC().Truncate(time.Microsecond)
	for range 4 {
		batch := make([]sentinel.Intercept, 2000)
		for i := range batch {
			batch[i] = sentinel.Intercept{Key: sentineltest.Key("k"), Reason: sentinel.ReasonIPNotAllowed,
				At: cutoff.Add(-time.Duration(i+1) * time.Second)}
		}
		require.NoError(t, s.AddIntercepts(ctx, batch))
	}
	require.NoError(t, s.AddIntercepts(ctx, []sentinel.Intercept{{Key: sentineltest.Key("k"), Reason: sentinel.ReasonBanned, At: cutoff}}))
	n, err := s.DeleteInterceptsBefore(ctx, cutoff)
	require.NoError(t, err)
	require.Equal(t, 8000, n)
	left, total, err := s.ListIntercepts(ctx, sentinel.InterceptFilter{})
	require.NoError(t, err)
	require.Equal(t, 1, total)
	require.Equal(t, sentinel.ReasonBanned, left[0].Reason)
}
