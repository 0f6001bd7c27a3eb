// Package postgres is the production store: bindings and intercepts in
// PostgreSQL through uptrace/bun and the pgx driver. Any number of proxies
// share one database; atomic statements keep first-use binding and learning
// exact across them, and a BindingFeed keeps their in-process caches
// coherent through LISTEN/NOTIFY.
//
// Opening a database does not migrate it: call Migrate (sentinel-admin
// migrate up) as an explicit step.
package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/internal/schema"
	pgmigrations "github.com/keyipsentinel/sentinel/migrations/postgres"
)

// Options tune a DB; zero fields take defaults.
type Options struct {
	// QueryTimeout bounds each call of a store method, and Ping, whose
	// context has no deadline of its own (a caller's deadline, such as the
	// HTTP middleware's decision deadline, is kept as it is). The hot
	// path would rather fail over to its failsafe mode than wait on a
	// stuck database. Default 2s. Migrations are bounded by the caller's
	// context only: DDL on a large table may rightly take minutes.
	QueryTimeout time.Duration
	// MaxOpenConns bounds the connection pool. Default 20; at least 2,
	// because a migration holds one connection for its lock and runs on
	// another.
	MaxOpenConns int
	// Clock stamps what the stores write (one reading per statement or
	// transaction, passed to SQL instead of now(), so all stores agree
	// with the domain's clock); default the real time.
	Clock sentinel.Clock
}

// DB is a pool of connections to a PostgreSQL database.
type DB struct {
	bun *bun.DB
	// config is kept for the change feed's own connection; it holds the
	// password, so it is never formatted into anything.
	config    *pgx.ConnConfig
	timeout   time.Duration
	clock     sentinel.Clock
	idleCheck time.Duration // see defaultIdleCheck
}

// Open connects to the database named by dsn (a postgres:// URL or a
// key=value string, as libpq takes) and checks that it answers. It returns
// EINVALID for a malformed dsn and EUNAVAILABLE when the server cannot be
// reached. It does not migrate the schema.
func Open(ctx context.Context, dsn string, opts Options) (*DB, error) {
	if strings.TrimSpace(dsn) == "" {
		// pgx would fill an empty DSN in from PG* environment variables;
		// the configuration is the caller's to give.
		return nil, sentinel.Errorf(sentinel.EINVALID, "postgres: the DSN is empty")
	}
	config, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's parse error carries the DSN, password included (redacted
		// only on a best-effort basis), so it is not kept as the cause.
		return nil, sentinel.Errorf(sentinel.EINVALID,
			"postgres: the DSN cannot be parsed (it is not shown here because it may hold a password)")
	}
	// bun formats every argument into the SQL text, so nearly every query
	// text is new: pgx's default of preparing and caching statements would
	// spend an extra round trip on each and fill every connection's cache
	// with statements used once (FindBinding over many keys: ~180µs a call
	// against ~110µs in this mode).
	config.DefaultQueryExecMode = pgx.QueryExecModeExec
	if opts.QueryTimeout <= 0 {
		opts.QueryTimeout = 2 * time.Second
	}
	if opts.MaxOpenConns <= 0 {
		opts.MaxOpenConns = 20
	}
	opts.MaxOpenConns = max(opts.MaxOpenConns, 2)

	sqldb := stdlib.OpenDB(*config.Copy())
	sqldb.SetMaxOpenConns(opts.MaxOpenConns)
	sqldb.SetMaxIdleConns(opts.MaxOpenConns) // reconnecting on the hot path costs far more than an idle connection
	sqldb.SetConnMaxIdleTime(5 * time.Minute)
	if opts.Clock == nil {
		opts.Clock = sentinel.SystemClock{}
	}
	db := &DB{bun: bun.NewDB(sqldb, pgdialect.New()), config: config, timeout: opts.QueryTimeout, clock: opts.Clock, idleCheck: defaultIdleCheck}
	if err := db.Ping(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Close closes the pool.
func (db *DB) Close() error { return db.bun.Close() }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	ctx, cancel := db.bounded(ctx)
	defer cancel()
	return translate(db.bun.PingContext(ctx), "ping")
}

// bounded returns ctx limited by the query timeout, unless the caller has
// set a deadline of its own: on the request path the HTTP middleware's
// decision deadline is the one deadline that counts.
func (db *DB) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, db.timeout)
}

// Migrate applies every pending migration and returns their names.
func (db *DB) Migrate(ctx context.Context) ([]string, error) {
	var names []string
	err := db.withMigrationLock(ctx, func() (err error) {
		names, err = schema.Up(ctx, db.bun, migrationSet)
		return err
	})
	return names, translate(err, "migrate up")
}

// Rollback rolls back the last group of applied migrations and returns
// their names.
func (db *DB) Rollback(ctx context.Context) ([]string, error) {
	var names []string
	err := db.withMigrationLock(ctx, func() (err error) {
		names, err = schema.Down(ctx, db.bun, migrationSet)
		return err
	})
	return names, translate(err, "migrate down")
}

// MigrationStatus is one schema migration and whether it has been applied.
type MigrationStatus struct {
	Name      string
	Comment   string
	Applied   bool
	AppliedAt time.Time
}

// MigrationStatus returns every known migration with its status, oldest
// first.
func (db *DB) MigrationStatus(ctx context.Context) ([]MigrationStatus, error) {
	var st []schema.Status
	err := db.withMigrationLock(ctx, func() (err error) {
		st, err = schema.List(ctx, db.bun, migrationSet)
		return err
	})
	out := make([]MigrationStatus, len(st))
	for i, s := range st {
		out[i] = MigrationStatus(s)
	}
	return out, translate(err, "migration status")
}

// Pending returns how many migrations are not applied yet.
func (db *DB) Pending(ctx context.Context) (int, error) {
	var n int
	err := db.withMigrationLock(ctx, func() (err error) {
		n, err = schema.Pending(ctx, db.bun, migrationSet)
		return err
	})
	return n, translate(err, "count pending migrations")
}

// migrationLockClass is the first key of the advisory lock that serialises
// migrations; the second is derived from the schema, so deployments in
// different schemas of one database do not wait for each other.
const migrationLockClass = 0x53454e54 // "SENT"

// withMigrationLock runs fn while holding the migration lock. The lock is
// a session lock on a connection of its own, so the migrator is free to
// use the pool (and transactions) as it likes; a process that dies while
// holding it releases it with its session.
func (db *DB) withMigrationLock(ctx context.Context, fn func() error) error {
	conn, err := db.bun.DB.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	const key = "$1, hashtext(coalesce(current_schema(), ''))"
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock("+key+")", migrationLockClass); err != nil {
		return err
	}
	defer func() {
		_, err := conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock("+key+")", migrationLockClass)
		if err != nil {
			// A pooled connection still holding the lock would block every
			// later migration: make the pool drop it, which ends the session.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	return fn()
}

// translate turns a driver error into a domain error; what names the
// operation for the message. It decides by SQLSTATE and error type, never
// by message text, and never puts connection settings into the message.
func translate(err error, what string) error {
	if err == nil {
		return nil
	}
	var se *sentinel.Error
	if errors.As(err, &se) {
		return err
	}
	msg := "postgres: " + what
	if errors.Is(err, context.Canceled) {
		// The caller gave up (a client hung up): not an outage, so not
		// EUNAVAILABLE, and still recognisable with errors.Is.
		return fmt.Errorf("%s: canceled: %w", msg, err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return translateSQLState(pe.Code, err, msg)
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		// Keep only the dial error: a ConnectError carries the whole
		// connection config, password included.
		return sentinel.WrapError(sentinel.EUNAVAILABLE, ce.Unwrap(), msg+": cannot connect to the database")
	}
	var ne net.Error
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return sentinel.WrapError(sentinel.ENOTFOUND, err, msg+": not found")
	case errors.Is(err, context.DeadlineExceeded):
		return sentinel.WrapError(sentinel.EUNAVAILABLE, err, msg+": interrupted")
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.As(err, &ne), pgconn.Timeout(err):
		return sentinel.WrapError(sentinel.EUNAVAILABLE, err, msg+": database unreachable")
	}
	return sentinel.WrapError(sentinel.EINTERNAL, err, msg)
}

func translateSQLState(code string, err error, msg string) error {
	switch code {
	case "23505": // unique_violation
		return sentinel.WrapError(sentinel.ECONFLICT, err, msg+": already exists")
	case "23514", "23502": // check_violation, not_null_violation
		return sentinel.WrapError(sentinel.EINVALID, err, msg+": value refused by the schema")
	case "57014", // query_canceled: statement_timeout or a cancel request
		"53300",          // too_many_connections
		"40001", "40P01": // serialization_failure, deadlock_detected: retrying works
		// Load, not an outage: never a reason to forward unchecked.
		return sentinel.BusyError(err, msg+": database busy, try again")
	case "57P01", "57P02", "57P03": // admin_shutdown, crash_shutdown, cannot_connect_now
		return sentinel.WrapError(sentinel.EUNAVAILABLE, err, msg+": database unavailable, try again")
	case "42P01", "42703": // undefined_table, undefined_column
		return sentinel.WrapError(sentinel.EINTERNAL, err,
			msg+": the database schema is not migrated; run sentinel-admin migrate up")
	}
	switch {
	case strings.HasPrefix(code, "22"): // data_exception: a malformed address, an overlong value...
		return sentinel.WrapError(sentinel.EINVALID, err, msg+": value refused by the schema")
	case strings.HasPrefix(code, "08"): // connection_exception
		return sentinel.WrapError(sentinel.EUNAVAILABLE, err, msg+": database unreachable")
	}
	return sentinel.WrapError(sentinel.EINTERNAL, err, msg)
}

// migrationSet is the schema migrations, read once from the embedded files.
var migrationSet = schema.Load(pgmigrations.FS)
