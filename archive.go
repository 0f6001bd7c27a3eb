package sentinel

import (
	"context"
	"log/slog"
	"strconv"
	"time"
)

// ArchivedBinding is a binding moved out of the active table because its
// key went unused for the archive period. The key binds afresh on its next
// use; the archived row is kept as history and can be restored.
type ArchivedBinding struct {
	ID         int64 // assigned by the store; a key archived twice has two
	Binding    Binding
	ArchivedAt time.Time
}

// ArchiveFilter selects archived bindings for listing. Zero fields match
// all.
type ArchiveFilter struct {
	Key    *KeyHash
	Offset int
	Limit  int // 0 means DefaultPageSize; at most MaxPageSize
}

// Validate returns EINVALID for a filter no store can apply.
func (f ArchiveFilter) Validate() error {
	if f.Offset < 0 {
		return Errorf(EINVALID, "offset must not be negative")
	}
	return nil
}

// ArchiveStore is the authoritative store's side of archiving. Each batch
// method is one short transaction of its own, so a large purge never holds
// locks for long, and moves each row exactly once however many archivers
// run. Every method may return EUNAVAILABLE.
type ArchiveStore interface {
	// ArchiveBindings moves at most limit bindings last used before cutoff
	// from the active table to the archive, stamped archivedAt, and returns
	// them with Version set to the version of their deletion (as
	// DeleteBinding does), so caches can drop them. Deleting them fires
	// the store's usual change feed.
	ArchiveBindings(ctx context.Context, cutoff time.Time, limit int, archivedAt time.Time) ([]Binding, error)

	// PurgeIntercepts deletes at most limit intercepts older than before
	// and returns how many went.
	PurgeIntercepts(ctx context.Context, before time.Time, limit int) (int, error)

	// ListArchivedBindings returns one page of archived bindings, newest
	// archived first, and how many match in all. EINVALID for a bad filter.
	ListArchivedBindings(ctx context.Context, f ArchiveFilter) ([]ArchivedBinding, int, error)

	// RestoreBinding moves the archived binding id back to the active
	// table with LastUsedAt set to now (so it is not archived again at
	// once) and a new Version, and returns it. ENOTFOUND when there is no
	// such archived binding; ECONFLICT when its key has bound afresh since.
	// When audit is not nil it is written in the same transaction, with
	// the archived row's id before and the restored binding after.
	RestoreBinding(ctx context.Context, id int64, now time.Time, audit *AuditEntry) (Binding, error)

	// WithArchiveLock runs fn holding the deployment-wide archiver lock
	// and returns true, or returns false at once without running fn when
	// another archiver holds it.
	WithArchiveLock(ctx context.Context, fn func(ctx context.Context) error) (bool, error)
}

// BindingForgetter drops bindings from a shared cache that the store's
// change feed does not reach (Valkey): the Valkey BindingStore. Bindings
// carry the version of their deletion.
type BindingForgetter interface {
	ForgetBindings(ctx context.Context, deleted []Binding) error
}

// ArchiverOptions configure an Archiver; zero fields take defaults.
type ArchiverOptions struct {
	// Forget, when set, is told about every archived binding (Valkey's
	// cache); in-process caches follow the store's change feed instead.
	Forget BindingForgetter
	// BatchSize is the most rows one transaction moves or deletes.
	// Default 1000.
	BatchSize int
	// LogRetentionDays (LOG_RETENTION_DAYS): intercepts older than this
	// are deleted; 0 keeps them forever. Default 180; set negative for 0.
	LogRetentionDays int
	// BatchTimeout bounds one batch. Default 30s.
	BatchTimeout time.Duration
	// Ran, when set, is told about every run of Run that ended (not
	// skipped, not stopped): for metrics. It must not block.
	Ran    func(end time.Time, rep ArchiveReport, err error)
	Clock  Clock
	Logger *slog.Logger
}

// ArchiveReport says what one archiving run did.
type ArchiveReport struct {
	// Skipped is true when another archiver held the lock.
	Skipped  bool
	Archived int
	Purged   int
	Batches  int
	// LongestBatch is the longest single batch transaction.
	LongestBatch time.Duration
	Duration     time.Duration
}

// Archiver moves bindings unused for the live archive period into the
// archive and deletes intercepts past their retention, in bounded batches,
// under a lock so that two archivers never work at once.
type Archiver struct {
	store    ArchiveStore
	settings *LiveSettings
	opts     ArchiverOptions
}

// NewArchiver returns an archiver over store, reading archive_days from
// settings at every run.
func NewArchiver(store ArchiveStore, settings *LiveSettings, opts ArchiverOptions) *Archiver {
	if opts.BatchSize <= 0 {
		opts.BatchSize = 1000
	}
	switch {
	case opts.LogRetentionDays == 0:
		opts.LogRetentionDays = 180
	case opts.LogRetentionDays < 0:
		opts.LogRetentionDays = 0
	}
	if opts.BatchTimeout <= 0 {
		opts.BatchTimeout = 30 * time.Second
	}
	if opts.Clock == nil {
		opts.Clock = SystemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Archiver{store: store, settings: settings, opts: opts}
}

// RunOnce archives and purges everything due now and returns what it did.
// It stops at the first failing batch; what was done stays done.
func (a *Archiver) RunOnce(ctx context.Context) (ArchiveReport, error) {
	start := time.Now()
	var rep ArchiveReport
	ran, err := a.store.WithArchiveLock(ctx, func(ctx context.Context) error {
		return a.run(ctx, &rep)
	})
	rep.Skipped = !ran && err == nil
	rep.Duration = time.Since(start)
	return rep, err
}

func (a *Archiver) run(ctx context.Context, rep *ArchiveReport) error {
	now := a.opts.Clock.Now().UTC()
	if days := a.settings.Load().ArchiveDays; days > 0 {
		cutoff := now.Add(-time.Duration(days) * 24 * time.Hour)
		for {
			var moved []Binding
			err := a.batch(ctx, rep, func(ctx context.Context) (err error) {
				moved, err = a.store.ArchiveBindings(ctx, cutoff, a.opts.BatchSize, now)
				return err
			})
			if err != nil {
				return err
			}
			rep.Archived += len(moved)
			if a.opts.Forget != nil && len(moved) > 0 {
				if err := a.opts.Forget.ForgetBindings(ctx, moved); err != nil {
					// The cache keeps them until its TTL at worst; the
					// authority is right, so go on.
					a.opts.Logger.Warn("archiver: dropping archived bindings from the cache failed", "err", err)
				}
			}
			if len(moved) < a.opts.BatchSize {
				break
			}
		}
	}
	if days := a.opts.LogRetentionDays; days > 0 {
		before := now.Add(-time.Duration(days) * 24 * time.Hour)
		for {
			var n int
			err := a.batch(ctx, rep, func(ctx context.Context) (err error) {
				n, err = a.store.PurgeIntercepts(ctx, before, a.opts.BatchSize)
				return err
			})
			if err != nil {
				return err
			}
			rep.Purged += n
			if n < a.opts.BatchSize {
				break
			}
		}
	}
	return nil
}

// batch runs one bounded batch and records how long it took.
func (a *Archiver) batch(ctx context.Context, rep *ArchiveReport, fn func(ctx context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return WrapError(EUNAVAILABLE, err, "archiver: stopped")
	}
	ctx, cancel := context.WithTimeout(ctx, a.opts.BatchTimeout)
	defer cancel()
	start := time.Now()
	err := fn(ctx)
	rep.LongestBatch = max(rep.LongestBatch, time.Since(start))
	rep.Batches++
	return err
}

// Run archives once, then every interval, until ctx is done; failures are
// logged and retried at the next interval. It returns nil.
func (a *Archiver) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		interval = time.Hour
	}
	for {
		rep, err := a.RunOnce(ctx)
		if ctx.Err() == nil && !rep.Skipped && a.opts.Ran != nil {
			a.opts.Ran(a.opts.Clock.Now(), rep, err)
		}
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			a.opts.Logger.Warn("archiver: run failed; retrying at the next interval", "err", err, "archived", rep.Archived, "purged", rep.Purged)
		case rep.Skipped:
			a.opts.Logger.Debug("archiver: another archiver is running; skipped")
		case rep.Archived > 0 || rep.Purged > 0:
			a.opts.Logger.Info("archiver: done", "archived", rep.Archived, "purged", rep.Purged,
				"batches", rep.Batches, "longest_batch", rep.LongestBatch, "took", rep.Duration)
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// ListArchived returns one page of archived bindings: what
// GET /admin/api/bindings?archived=true serves.
func (a *Archiver) ListArchived(ctx context.Context, f ArchiveFilter) ([]ArchivedBinding, int, error) {
	if err := f.Validate(); err != nil {
		return nil, 0, err
	}
	return a.store.ListArchivedBindings(ctx, f)
}

// Restore moves archived binding id back into the active table and
// returns it, writing audit (when not nil) in the same transaction.
// ENOTFOUND, ECONFLICT as RestoreBinding. Caches need no
// telling: they hold no entry, or a tombstone older than the restored
// version, for the key.
func (a *Archiver) Restore(ctx context.Context, id int64, audit *AuditEntry) (Binding, error) {
	return a.store.RestoreBinding(ctx, id, a.opts.Clock.Now().UTC(), audit)
}

// RestoreAudit completes a restore's audit entry: its target is the
// restored binding, before is the archived row's id and after the binding
// as restored. Every archive store writes it alike.
func RestoreAudit(a AuditEntry, id int64, restored Binding) AuditEntry {
	if a.Target == "" {
		a.Target = restored.Key.String()
	}
	a.Before = []byte(`{"archive_id":` + strconv.FormatInt(id, 10) + `}`)
	a.After = AuditBinding(restored)
	return a
}
