package sqlite

import (
	"context"
	"log/slog"
	"time"

	"github.com/uptrace/bun"

	sentinel "github.com/keyipsentinel/sentinel"
)

// changeRetention is how long binding_changes rows are kept; a feed that
// falls further behind than this clears its whole cache.
const changeRetention = 10 * time.Minute

const changeBatch = 10_000

// DefaultFeedInterval is how often a BindingFeed reads the changes when
// FeedOptions.Interval is zero.
const DefaultFeedInterval = 250 * time.Millisecond

// FeedOptions configure a BindingFeed; zero fields take defaults.
type FeedOptions struct {
	// Interval is how often the changes are read: a change made by another
	// process sharing the file reaches this one's cache within it.
	Interval time.Duration
	Logger   *slog.Logger
	Clock    sentinel.Clock
}

// BindingFeed is the change feed of a database file shared by several
// processes: every change to a binding leaves a row in binding_changes,
// which the feed reads every interval.
type BindingFeed struct {
	db   *DB
	opts FeedOptions
}

var _ sentinel.BindingChangeFeed = (*BindingFeed)(nil)

// NewBindingFeed returns the change feed of db.
func NewBindingFeed(db *DB, opts FeedOptions) *BindingFeed {
	if opts.Interval <= 0 {
		opts.Interval = DefaultFeedInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = db.clock
	}
	return &BindingFeed{db: db, opts: opts}
}

// Run implements sentinel.BindingChangeFeed.
func (f *BindingFeed) Run(ctx context.Context, inv sentinel.BindingInvalidator) error {
	db, log := f.db, f.opts.Logger
	last, err := db.changePosition(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	inv.InvalidateAll()
	tick := time.NewTicker(f.opts.Interval)
	defer tick.Stop()
	lastPrune := f.opts.Clock.Now()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		next, err := db.pollChanges(ctx, last, inv)
		if err != nil {
			if !failing && ctx.Err() == nil {
				log.Warn("sqlite: reading binding changes failed; caches may lag until it recovers", "err", err)
			}
			failing = true
			continue
		}
		if failing {
			log.Info("sqlite: reading binding changes works again")
			inv.InvalidateAll() // conservative: changes may have been pruned meanwhile
			failing = false
		}
		last = next
		if now := f.opts.Clock.Now(); now.Sub(lastPrune) > time.Minute {
			db.pruneChanges(ctx)
			lastPrune = now
		}
	}
}

// changePosition returns the last sequence number handed out, which
// survives the pruning of the rows themselves.
func (db *DB) changePosition(ctx context.Context) (int64, error) {
	var pos int64
	err := db.bun.NewRaw("SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'binding_changes'), 0)").
		Scan(ctx, &pos)
	return pos, translate(err, "read binding change position")
}

type changeRow struct {
	Seq     int64  `bun:"seq"`
	KeyHash []byte `bun:"key_hash"`
}

func (db *DB) pollChanges(ctx context.Context, last int64, inv sentinel.BindingInvalidator) (int64, error) {
	var rows []changeRow
	err := db.bun.NewRaw("SELECT seq, key_hash FROM binding_changes WHERE seq > ? ORDER BY seq LIMIT ?",
		last, changeBatch).Scan(ctx, &rows)
	if err != nil {
		return last, translate(err, "read binding changes")
	}
	if len(rows) == 0 {
		return last, nil
	}
	// Sequence numbers are dense: a gap means rows were pruned before we
	// saw them, and a full batch means we are far behind. Either way the
	// safe answer is to forget everything.
	if rows[0].Seq != last+1 || len(rows) == changeBatch {
		inv.InvalidateAll()
		pos, err := db.changePosition(ctx)
		if err != nil {
			return rows[len(rows)-1].Seq, nil
		}
		return pos, nil
	}
	for _, r := range rows {
		var k sentinel.KeyHash
		copy(k[:], r.KeyHash)
		inv.Invalidate(k)
	}
	return rows[len(rows)-1].Seq, nil
}

// pruneChanges removes change rows older than changeRetention. The rows
// are stamped by the schema's triggers with SQLite's clock, so the cutoff
// is SQLite's too: this bookkeeping is never shown, and a manual Go clock
// must not prune rows a feed has not read yet.
func (db *DB) pruneChanges(ctx context.Context) {
	_ = db.write(ctx, func(ctx context.Context, tx bun.Tx) error {
		_, err := tx.NewRaw("DELETE FROM binding_changes WHERE at < "+
			"CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER) - ?", changeRetention.Microseconds()).Exec(ctx)
		return err
	})
}
