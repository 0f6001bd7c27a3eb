package postgres

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	sentinel "github.com/keyipsentinel/sentinel"
)

// bindingsChannel is the NOTIFY channel the schema's triggers send the
// hex key hash of every changed or deleted binding on.
const bindingsChannel = "sentinel_bindings"

// Change feed timing.
const (
	// defaultIdleCheck is how long the feed waits for a notification
	// before it checks that its connection is alive: a peer that vanished
	// without closing the TCP connection (failover, a NAT dropping state)
	// would otherwise leave it waiting, deaf, for as long as TCP keepalive
	// takes.
	defaultIdleCheck = 30 * time.Second
	retryInitial     = 100 * time.Millisecond
	retryMax         = 5 * time.Second
)

// BindingFeed is the change feed of a PostgreSQL database: the schema's
// triggers NOTIFY the key hash of every changed or deleted binding, and the
// feed LISTENs on a connection of its own. When the connection drops it
// reconnects with backoff and, once listening again, calls
// InvalidateAll: changes made meanwhile were not heard.
type BindingFeed struct {
	db  *DB
	log *slog.Logger
	// lost and back count losses of the feed's connection and its
	// returns; idleChecks counts the pings of a quiet, healthy connection.
	lost, back, idleChecks atomic.Int64
}

// FeedStats counts what a BindingFeed has been through.
type FeedStats struct {
	// Lost counts losses of the feed's connection; Back counts the times
	// it listened again afterwards (each followed by InvalidateAll).
	Lost, Back int64
	// IdleChecks counts the checks of a connection that stayed quiet.
	IdleChecks int64
}

// Stats returns the feed's counters.
func (f *BindingFeed) Stats() FeedStats {
	return FeedStats{Lost: f.lost.Load(), Back: f.back.Load(), IdleChecks: f.idleChecks.Load()}
}

var _ sentinel.BindingChangeFeed = (*BindingFeed)(nil)

// NewBindingFeed returns the change feed of db; log (nil for none) hears
// when the feed is lost and back.
func NewBindingFeed(db *DB, log *slog.Logger) *BindingFeed {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &BindingFeed{db: db, log: log}
}

// Run implements sentinel.BindingChangeFeed. Losses of the connection,
// the first one included (a proxy may start while the database is
// unreachable), are retried with backoff until ctx is done: the feed never
// takes the process down, and InvalidateAll follows every (re)start.
func (f *BindingFeed) Run(ctx context.Context, inv sentinel.BindingInvalidator) error {
	conn, err := f.db.listen(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		f.lost.Add(1)
		f.log.Warn("postgres: binding change feed not listening yet; caches may lag until it is", "err", err)
		if conn = f.db.relisten(ctx); conn == nil {
			return nil
		}
		f.back.Add(1)
		f.log.Info("postgres: binding change feed is back; caches cleared")
	}
	inv.InvalidateAll()
	f.follow(ctx, conn, inv)
	return nil
}

// listen opens the feed's connection and subscribes it.
func (db *DB) listen(ctx context.Context) (*pgx.Conn, error) {
	ctx, cancel := db.bounded(ctx)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, db.config.Copy())
	if err != nil {
		return nil, translate(err, "listen for binding changes")
	}
	if _, err := conn.Exec(ctx, "LISTEN "+bindingsChannel); err != nil {
		db.hangUp(conn)
		return nil, translate(err, "listen for binding changes")
	}
	return conn, nil
}

// hangUp closes conn, waiting at most the query timeout for a peer that
// may no longer answer.
func (db *DB) hangUp(conn *pgx.Conn) {
	ctx, cancel := db.bounded(context.Background())
	defer cancel()
	conn.Close(ctx)
}

func (f *BindingFeed) follow(ctx context.Context, conn *pgx.Conn, inv sentinel.BindingInvalidator) {
	db, log := f.db, f.log
	for {
		err := f.relay(ctx, conn, inv)
		db.hangUp(conn)
		if ctx.Err() != nil {
			return
		}
		// Caches are not cleared here: while the database is unreachable
		// nothing changes there, and clearing would send every lookup to a
		// database that cannot answer. They are cleared once listening
		// again, which covers whatever changed in between.
		f.lost.Add(1)
		log.Warn("postgres: binding change feed lost; caches may lag until it is back", "err", err)
		if conn = db.relisten(ctx); conn == nil {
			return
		}
		inv.InvalidateAll()
		f.back.Add(1)
		log.Info("postgres: binding change feed is back; caches cleared")
	}
}

// relay passes notifications to inv until the connection fails or ctx is
// done, and returns why it stopped.
func (f *BindingFeed) relay(ctx context.Context, conn *pgx.Conn, inv sentinel.BindingInvalidator) error {
	db := f.db
	for {
		waitCtx, cancel := context.WithTimeout(ctx, db.idleCheck)
		n, err := conn.WaitForNotification(waitCtx)
		cancel()
		switch {
		case err == nil:
			if key, err := sentinel.ParseKeyHash(n.Payload); err == nil {
				inv.Invalidate(key)
			} else {
				inv.InvalidateAll() // not one of ours; play safe
			}
		case ctx.Err() != nil:
			return ctx.Err()
		case conn.IsClosed():
			return err
		default: // quiet for a while: make sure the connection is still there
			pingCtx, cancel := db.bounded(ctx)
			err := conn.Ping(pingCtx)
			cancel()
			if err != nil {
				return err
			}
			f.idleChecks.Add(1)
		}
	}
}

// relisten reconnects with capped, jittered exponential backoff until it
// listens again, or returns nil once ctx is done. Jitter keeps a fleet of
// proxies from reconnecting in lockstep after a database restart.
func (db *DB) relisten(ctx context.Context) *pgx.Conn {
	wait := retryInitial
	for {
		t := time.NewTimer(wait/2 + rand.N(wait/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		if conn, err := db.listen(ctx); err == nil {
			return conn
		}
		wait = min(2*wait, retryMax)
	}
}
