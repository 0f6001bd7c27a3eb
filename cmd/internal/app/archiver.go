package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/postgres"
	"github.com/keyipsentinel/sentinel/adapters/prometheus"
	"github.com/keyipsentinel/sentinel/adapters/sqlite"
	"github.com/keyipsentinel/sentinel/adapters/valkey"
	"github.com/keyipsentinel/sentinel/cmd/internal/config"
	"golang.org/x/sync/errgroup"
)

// ArchiverOnly is sentinel-archiver.
const ArchiverOnly Binary = 100

// archiveStores are what an archiver works on.
type archiveStores struct {
	archive sentinel.ArchiveStore
	forget  sentinel.BindingForgetter // nil without Valkey
	closers []func()
}

func (s *archiveStores) Close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
}

// openArchiveStores opens the authority and, with REDIS_ADDR, the Valkey
// cache that archived bindings must be dropped from: in-process caches
// follow the authority's change feed, Valkey's cache does not.
func openArchiveStores(ctx context.Context, cfg *config.Config, log *slog.Logger) (_ *archiveStores, err error) {
	st := &archiveStores{}
	defer func() {
		if err != nil {
			st.Close()
		}
	}()
	var authority sentinel.BindingStore
	if cfg.PGDSN != "" {
		db, err := postgres.Open(ctx, cfg.PGDSN, postgres.Options{QueryTimeout: cfg.StoreTimeout})
		if err != nil {
			return nil, fmt.Errorf("PG_DSN (%s): %w", config.RedactDSN(cfg.PGDSN), err)
		}
		st.closers = append(st.closers, func() { db.Close() })
		pending, err := db.Pending(ctx)
		if err != nil {
			return nil, fmt.Errorf("PG_DSN: read the schema version: %w", err)
		}
		if pending > 0 {
			return nil, fmt.Errorf("PG_DSN: the database schema is %d migration(s) behind; run `sentinel-admin migrate up`", pending)
		}
		st.archive, authority = postgres.NewArchiveStore(db), postgres.NewBindingStore(db)
	} else {
		db, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, "sentinel.db"), sqlite.Options{})
		if err != nil {
			return nil, fmt.Errorf("SENTINEL_DATA_DIR: open the embedded store: %w", err)
		}
		st.closers = append(st.closers, func() { db.Close() })
		st.archive, authority = sqlite.NewArchiveStore(db), sqlite.NewBindingStore(db)
	}
	if cfg.RedisAddr != "" {
		c, err := valkey.Connect(valkey.Options{
			Addr: cfg.RedisAddr, Password: cfg.RedisPassword, Prefix: cfg.RedisPrefix, Timeout: min(cfg.StoreTimeout, time.Second), Logger: log,
		})
		if err != nil {
			return nil, fmt.Errorf("REDIS_ADDR: %w", err)
		}
		st.closers = append(st.closers, c.Close)
		st.forget = valkey.NewBindingStore(c, authority, cfg.CacheTTL)
	}
	return st, nil
}

// newArchiver returns the archiver over store with the configured
// archive period as its live setting.
func newArchiver(cfg *config.Config, store sentinel.ArchiveStore, forget sentinel.BindingForgetter, log *slog.Logger,
	ran func(time.Time, sentinel.ArchiveReport, error)) (*sentinel.Archiver, error) {
	settings, err := sentinel.NewLiveSettings(sentinel.Settings{
		EnforceMode: cfg.Mode, FailsafeMode: cfg.Failsafe,
		AlertThresholdCount: max(cfg.AlertThresholdCount, 1), AlertWindow: max(time.Duration(cfg.AlertThresholdSeconds)*time.Second, time.Second),
		ArchiveDays: cfg.ArchiveDays,
	})
	if err != nil {
		return nil, err
	}
	return sentinel.NewArchiver(store, settings, sentinel.ArchiverOptions{
		Forget: forget, LogRetentionDays: retentionDays(cfg.LogRetentionDays), Ran: ran, Logger: log,
	}), nil
}

// retentionDays maps LOG_RETENTION_DAYS to ArchiverOptions, where 0
// means the default and a negative number keeps intercepts forever.
func retentionDays(days int) int {
	if days == 0 {
		return -1
	}
	return days
}

// runArchiver is sentinel-archiver: with once (`sentinel-archiver once`,
// for cron) one run, else a run every SENTINEL_ARCHIVE_INTERVAL until
// ctx is done.
func runArchiver(ctx context.Context, cfg *config.Config, log *slog.Logger, once bool) error {
	st, err := openArchiveStores(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	var m *prometheus.Metrics
	var metricsLn net.Listener
	if !once { // a one-off run (cron) ends before anything could scrape it
		if metricsLn, err = listenMetrics(cfg); err != nil {
			return err
		}
		if metricsLn != nil {
			m = newMetrics(ArchiverOnly, &metricSources{})
		}
	}
	a, err := newArchiver(cfg, st.archive, st.forget, log, archiverRan(m))
	if err != nil {
		return err
	}
	if !once {
		log.Info("archiver running", "interval", cfg.ArchiveInterval, "archive_days", cfg.ArchiveDays,
			"log_retention_days", cfg.LogRetentionDays)
		g, gctx := errgroup.WithContext(ctx)
		if m != nil {
			g.Go(func() error { return serveMetrics(gctx, metricsLn, m, log) })
		}
		g.Go(func() error { return a.Run(gctx, cfg.ArchiveInterval) })
		return g.Wait()
	}
	rep, err := a.RunOnce(ctx)
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	if rep.Skipped {
		log.Info("another archiver is running; nothing done")
		return nil
	}
	log.Info("archived", "bindings", rep.Archived, "intercepts_deleted", rep.Purged, "batches", rep.Batches,
		"longest_batch", rep.LongestBatch, "took", rep.Duration)
	return nil
}
