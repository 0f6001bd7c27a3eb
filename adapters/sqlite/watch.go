package sqlite

import (
	"context"
	"log/slog"
	"time"

	"github.com/uptrace/bun"

	sentinel "github.com/keyipsentinel/sentinel"
)

// Invalidator is what WatchBindings tells about changed bindings: an
// in-process cache.
type Invalidator interface {
	Invalidate(key sentinel.KeyHash)
	InvalidateAll()
}

// changeRetention is how long binding_changes rows are kept; a watcher that
// falls further behind than this clears its whole cache.
const changeRetention = 10 * time.Minute

const changeBatch = 10_000

// WatchBindings follows the changes that any process sharing the file makes
// to bindings (rule, status, learning, deletion) and reports each changed
// key to inv every interval, so in-process caches stay coherent across
// processes. It reads the current position before returning, so nothing
// changed after the call is missed, then follows in a goroutine until ctx
// is done.
func (db *DB) WatchBindings(ctx context.Context, every time.Duration, inv Invalidator, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	last, err := db.changePosition(ctx)
	if err != nil {
		return err
	}
	go func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		lastPrune := time.Now()
		failing := false
		for {
			select {
			case <-ctx.Done():
				return
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
			if time.Since(lastPrune) > time.Minute {
				db.pruneChanges(ctx)
				lastPrune = time.Now()
			}
		}
	}()
	return nil
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

func (db *DB) pollChanges(ctx context.Context, last int64, inv Invalidator) (int64, error) {
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

func (db *DB) pruneChanges(ctx context.Context) {
	cutoff := time.Now().Add(-changeRetention).UnixMicro()
	_ = db.write(ctx, func(ctx context.Context, tx bun.Tx) error {
		_, err := tx.NewRaw("DELETE FROM binding_changes WHERE at < ?", cutoff).Exec(ctx)
		return err
	})
}
