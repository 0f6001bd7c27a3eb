// Package sqlite is the embedded store: bindings, intercepts and settings in
// one SQLite file through uptrace/bun and the pure-Go modernc.org/sqlite
// driver (no cgo). Several processes may share the file: writes are
// serialised by SQLite's lock, and the in-process caches learn about each
// other's changes through a BindingFeed.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/internal/schema"
	sqlitemigrations "github.com/keyipsentinel/sentinel/migrations/sqlite"
)

// Options tune a DB; zero fields take defaults.
type Options struct {
	// Clock stamps what the stores write (one reading per transaction);
	// default the real time.
	Clock sentinel.Clock
}

// DB is an open SQLite database file with its schema migrated.
type DB struct {
	bun   *bun.DB
	path  string
	clock sentinel.Clock
	// writeSem (capacity 1) serialises this process's write transactions
	// so goroutines queue here instead of spinning on SQLITE_BUSY; unlike
	// a mutex, waiting for it ends with the caller's context. Other
	// processes are held off by SQLite's own lock and busy timeout, which
	// write bounds by the context's deadline too.
	writeSem chan struct{}
}

// maxBusyWait bounds the wait for another process's write lock when the
// context has no deadline.
const maxBusyWait = 10 * time.Second

// Open opens (creating if needed) the database at path, with mode 0600 and
// its directory 0700, and applies pending migrations under a file lock so
// processes starting together do not race. The -wal and -shm files are
// 0600 too: SQLite creates them with the database's mode, so the database
// is created 0600 before SQLite sees it (whatever the umask), and files a
// wider mode left behind are narrowed after opening.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	if path == "" {
		return nil, sentinel.Errorf(sentinel.EINVALID, "sqlite: database path is empty")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: create data directory: %w", err)
	}
	if err := createOwnerOnly(path); err != nil {
		return nil, fmt.Errorf("sqlite: create %s: %w", path, err)
	}
	// WAL lets readers run beside the writer; _txlock=immediate makes every
	// transaction take the write lock at BEGIN, so read-then-write
	// transactions of two processes queue instead of deadlocking.
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)&_txlock=immediate"
	sqldb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	sqldb.SetMaxOpenConns(8)
	sqldb.SetMaxIdleConns(8)
	sqldb.SetConnMaxIdleTime(0)
	if opts.Clock == nil {
		opts.Clock = sentinel.SystemClock{}
	}
	db := &DB{bun: bun.NewDB(sqldb, sqlitedialect.New()), path: path, clock: opts.Clock, writeSem: make(chan struct{}, 1)}

	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			db.Close()
			return nil, fmt.Errorf("sqlite: restrict permissions of %s: %w", p, err)
		}
	}
	return db, nil
}

// createOwnerOnly creates an empty file at path with mode 0600 unless one
// exists; an empty file is a valid new SQLite database.
func createOwnerOnly(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil { // exactly 0600: a strict umask must not leave it unwritable
		f.Close()
		return err
	}
	return f.Close()
}

func (db *DB) migrate(ctx context.Context) error {
	unlock, err := lockFile(db.path + ".migrate.lock")
	if err != nil {
		return fmt.Errorf("sqlite: lock for migration: %w", err)
	}
	defer unlock()
	if _, err := schema.Up(ctx, db.bun, migrationSet); err != nil {
		return fmt.Errorf("sqlite: %s: %w", db.path, err)
	}
	return nil
}

// Close closes the database.
func (db *DB) Close() error { return db.bun.Close() }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	return translate(db.bun.PingContext(ctx), "ping")
}

// write runs fn in a write transaction, waiting for the locks no longer
// than ctx allows: first this process's own queue, then (through the
// connection's busy timeout, set from ctx's deadline) other processes'.
func (db *DB) write(ctx context.Context, fn func(ctx context.Context, tx bun.Tx) error) error {
	select {
	case db.writeSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-db.writeSem }()
	conn, err := db.bun.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	wait := maxBusyWait
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, max(time.Until(dl), time.Millisecond))
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", wait.Milliseconds())); err != nil {
		return err
	}
	return conn.RunInTx(ctx, nil, fn)
}

// nextVersion draws the next binding version inside a write transaction.
func nextVersion(ctx context.Context, tx bun.Tx) (int64, error) {
	var v int64
	err := tx.NewRaw("UPDATE sentinel_seq SET value = value + 1 WHERE name = 'binding_version' RETURNING value").
		Scan(ctx, &v)
	return v, err
}

// translate turns a driver error into a domain error; what names the
// operation for the message.
func translate(err error, what string) error {
	if err == nil {
		return nil
	}
	var se *sentinel.Error
	if errors.As(err, &se) {
		return err
	}
	if errors.Is(err, sql.ErrNoRows) {
		return sentinel.WrapError(sentinel.ENOTFOUND, err, "sqlite: "+what+": not found")
	}
	if errors.Is(err, context.Canceled) {
		// The caller gave up (a client hung up): not an outage, so not
		// EUNAVAILABLE, and still recognisable with errors.Is.
		return fmt.Errorf("sqlite: %s: canceled: %w", what, err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return sentinel.WrapError(sentinel.EUNAVAILABLE, err, "sqlite: "+what+": interrupted")
	}
	var le *sqlite.Error
	if errors.As(err, &le) {
		switch le.Code() & 0xff { // primary result code
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			// Other writers held the file longer than this call may wait:
			// load, not an outage.
			return sentinel.BusyError(err, "sqlite: "+what+": database is locked")
		case sqlite3.SQLITE_CONSTRAINT:
			return sentinel.WrapError(sentinel.ECONFLICT, err, "sqlite: "+what+": constraint violated")
		case sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY:
			return sentinel.WrapError(sentinel.EUNAVAILABLE, err, "sqlite: "+what+": storage unavailable")
		}
	}
	return sentinel.WrapError(sentinel.EINTERNAL, err, "sqlite: "+what)
}

func micros(t time.Time) int64 { return sentinel.UnixMicros(t) }

func fromMicros(v int64) time.Time { return sentinel.FromUnixMicros(v) }

// migrationSet is the schema migrations, read once from the embedded files.
var migrationSet = schema.Load(sqlitemigrations.FS)
