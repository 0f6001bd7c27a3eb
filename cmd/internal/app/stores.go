package app

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/httpproxy"
	"github.com/keyipsentinel/sentinel/adapters/localcache"
	"github.com/keyipsentinel/sentinel/adapters/postgres"
	"github.com/keyipsentinel/sentinel/adapters/sqlite"
	"github.com/keyipsentinel/sentinel/adapters/valkey"
	"github.com/keyipsentinel/sentinel/cmd/internal/config"
)

// stores are the configured adapters behind the domain ports.
type stores struct {
	// Bindings is what decisions read: the authority behind its cache.
	Bindings sentinel.BindingStore
	// Authority is the authoritative store itself, for batched writes
	// that caches need not see.
	Authority  sentinel.BindingStore
	Intercepts sentinel.InterceptStore
	Describe   string
	// Feed follows the authority's binding changes into Invalidator: the
	// in-process cache, or the Valkey cache, which repairs its entries
	// (set-if-newer) so a change made in the authority by anything reaches
	// every proxy. The caller runs it with follow, and stops it before Close.
	Feed        sentinel.BindingChangeFeed
	Invalidator sentinel.BindingInvalidator
	closers     []func()
	// valkey is the Valkey client when REDIS_ADDR is set: one per process,
	// shared by the cache, the counters and the settings notifier.
	valkey *valkey.Client
	// authority names the authoritative store ("postgres" or "sqlite"), a
	// metrics label.
	authority string
	// checks say whether each opened store can serve (readiness).
	checks []httpproxy.Check
}

// Close releases the stores in reverse order of opening.
func (s *stores) Close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
}

// changeFeedInterval is how often the embedded store's change feed is read:
// a change made by another process sharing the file reaches this one's
// cache within it.
const changeFeedInterval = 250 * time.Millisecond

// feedSyncWait bounds how long a process waits at start for its change
// feed's first clearing of the cache (follow).
const feedSyncWait = 30 * time.Second

// follow runs the change feed in g (with runCtx) and returns once the
// feed has listened and cleared the cache, which it does first thing:
// changes made while no feed listened were not heard. Serving before that
// clearing ends would lose what is cached meanwhile: a binding made by the
// first requests was cleared with the rest, so a PostgreSQL outage right
// after a start decided a known key by the failsafe mode. The wait ends
// early when waitCtx is done or the feed stops, and after feedSyncWait
// (an authority that went away since it was opened) with a warning.
func (s *stores) follow(runCtx, waitCtx context.Context, g *errgroup.Group, log *slog.Logger) {
	if s.Feed == nil {
		return
	}
	inv := &firstClear{BindingInvalidator: s.Invalidator, done: make(chan struct{})}
	stopped := make(chan struct{})
	g.Go(func() error {
		defer close(stopped)
		if err := s.Feed.Run(runCtx, inv); err != nil {
			return fmt.Errorf("follow binding changes: %w", err)
		}
		return nil
	})
	began := time.Now()
	t := time.NewTimer(feedSyncWait)
	defer t.Stop()
	select {
	case <-inv.done:
		log.Debug("binding change feed listening; cache cleared", "took", time.Since(began).Round(time.Millisecond))
	case <-stopped:
	case <-waitCtx.Done():
	case <-t.C:
		log.Warn("the binding change feed has not cleared the cache yet; serving without waiting longer "+
			"(it clears the cache once it listens)", "waited", feedSyncWait)
	}
}

// firstClear tells when its invalidator's first InvalidateAll has returned.
type firstClear struct {
	sentinel.BindingInvalidator
	once sync.Once
	done chan struct{}
}

func (f *firstClear) InvalidateAll() {
	f.BindingInvalidator.InvalidateAll()
	f.once.Do(func() { close(f.done) })
}

// startupWait is how long the proxy waits for PostgreSQL at start, so a
// deployment that starts everything at once does not need ordering.
const startupWait = 60 * time.Second

// openStores opens the authority (PostgreSQL with PG_DSN, else the
// embedded SQLite file) and puts a cache in front of it: Valkey with
// REDIS_ADDR, else an in-process cache fed by the authority's change feed.
func openStores(ctx context.Context, cfg *config.Config, log *slog.Logger, clk sentinel.Clock) (_ *stores, err error) {
	st := &stores{}
	defer func() {
		if err != nil {
			st.Close()
		}
	}()
	var feed sentinel.BindingChangeFeed
	if cfg.PGDSN != "" {
		db, err := openPostgres(ctx, cfg, log, clk)
		if err != nil {
			return nil, err
		}
		st.closers = append(st.closers, func() { db.Close() })
		st.checks = append(st.checks, httpproxy.Check{Name: "postgres", Ready: db.Ready})
		if err := checkSchema(ctx, cfg, db, log); err != nil {
			return nil, err
		}
		st.Authority, st.Intercepts = postgres.NewBindingStore(db), postgres.NewInterceptStore(db)
		st.Describe, st.authority = "postgres:"+config.RedactDSN(cfg.PGDSN), "postgres"
		feed = postgres.NewBindingFeed(db, log)
	} else {
		path := filepath.Join(cfg.DataDir, "sentinel.db")
		db, err := sqlite.Open(ctx, path, sqlite.Options{Clock: clk})
		if err != nil {
			return nil, fmt.Errorf("SENTINEL_DATA_DIR: open the embedded store: %w", err)
		}
		st.closers = append(st.closers, func() { db.Close() })
		st.checks = append(st.checks, httpproxy.Check{Name: "sqlite", Ready: db.Ready})
		st.Authority, st.Intercepts = sqlite.NewBindingStore(db), sqlite.NewInterceptStore(db)
		st.Describe, st.authority = "sqlite:"+path, "sqlite"
		feed = sqlite.NewBindingFeed(db, sqlite.FeedOptions{Interval: changeFeedInterval, Logger: log, Clock: clk})
	}

	// Lookups that miss the cache reach the authority through a Gate: one
	// call per key at a time, a bounded number at once, so a flood of
	// unknown keys cannot queue known keys' decisions behind it.
	gated := sentinel.NewGate(st.Authority, sentinel.GateOptions{MaxInflight: cfg.MaxPendingLookups})
	if cfg.RedisAddr != "" {
		c, err := valkey.Connect(valkey.Options{
			Addr: cfg.RedisAddr, Password: cfg.RedisPassword, Prefix: cfg.RedisPrefix, Timeout: min(cfg.StoreTimeout, time.Second), Logger: log,
		})
		if err != nil {
			return nil, fmt.Errorf("REDIS_ADDR: %w", err)
		}
		st.closers = append(st.closers, c.Close)
		st.valkey = c
		st.checks = append(st.checks, httpproxy.Check{Name: "valkey", Ready: c.Ping})
		if persistent, err := c.Persistent(ctx); err == nil && persistent {
			log.Warn("REDIS_ADDR: this Valkey server saves its data (save or appendonly); if it restarts from a snapshot, " +
				"binding changes made after the snapshot are undone in the cache until SENTINEL_CACHE_TTL passes. " +
				"Run the cache without persistence (--save '' --appendonly no).")
		}
		vs := valkey.NewBindingStore(c, gated, cfg.CacheTTL)
		st.Bindings, st.Feed, st.Invalidator = vs, feed, vs
		st.Describe += " + valkey"
		return st, nil
	}
	cache := localcache.New(gated, localcache.Options{TTL: cfg.CacheTTL, Clock: clk})
	st.Feed, st.Invalidator = feed, cache
	st.Bindings = cache
	st.Describe += " + in-process cache"
	return st, nil
}

// openPostgres connects, waiting a while for a database that is starting.
func openPostgres(ctx context.Context, cfg *config.Config, log *slog.Logger, clk sentinel.Clock) (*postgres.DB, error) {
	deadline := time.Now().Add(startupWait)
	logged := false
	for {
		db, err := postgres.Open(ctx, cfg.PGDSN, postgres.Options{QueryTimeout: cfg.StoreTimeout, Clock: clk})
		if err == nil {
			return db, nil
		}
		if sentinel.ErrorCode(err) != sentinel.EUNAVAILABLE || time.Now().After(deadline) {
			return nil, fmt.Errorf("PG_DSN (%s): %w", config.RedactDSN(cfg.PGDSN), err)
		}
		if !logged {
			log.Warn("waiting for PostgreSQL", "dsn", config.RedactDSN(cfg.PGDSN), "err", err, "up_to", startupWait)
			logged = true
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// checkSchema migrates when told to and otherwise refuses to run on a
// schema that is behind: the proxy never changes the schema on its own.
func checkSchema(ctx context.Context, cfg *config.Config, db *postgres.DB, log *slog.Logger) error {
	if cfg.Migrate {
		applied, err := db.Migrate(ctx)
		if err != nil {
			return fmt.Errorf("SENTINEL_MIGRATE: %w", err)
		}
		if len(applied) > 0 {
			log.Info("applied PostgreSQL migrations", "migrations", applied)
		}
		return nil
	}
	pending, err := db.Pending(ctx)
	if err != nil {
		return fmt.Errorf("PG_DSN: read the schema version: %w", err)
	}
	if pending > 0 {
		return fmt.Errorf("PG_DSN: the database schema is %d migration(s) behind; run `sentinel-admin migrate up` "+
			"(or start once with --migrate / SENTINEL_MIGRATE=true)", pending)
	}
	return nil
}
