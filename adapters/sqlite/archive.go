package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/uptrace/bun"

	sentinel "github.com/keyipsentinel/sentinel"
)

// ArchiveStore is the sentinel.ArchiveStore of the embedded store.
type ArchiveStore struct {
	db *DB
}

var _ sentinel.ArchiveStore = (*ArchiveStore)(nil)

// NewArchiveStore returns the archive store of db.
func NewArchiveStore(db *DB) *ArchiveStore { return &ArchiveStore{db: db} }

type archiveRow struct {
	bun.BaseModel `bun:"table:token_bindings_archive"`

	ID         int64  `bun:"id,pk,autoincrement"`
	KeyHash    []byte `bun:"key_hash"`
	KeyHint    string `bun:"key_hint"`
	RuleKind   string `bun:"rule_kind"`
	Allowed    string `bun:"allowed"`
	LearnLimit int    `bun:"learn_limit"`
	Status     string `bun:"status"`
	FirstIP    string `bun:"first_ip"`
	LastIP     string `bun:"last_ip"`
	CreatedAt  int64  `bun:"created_at"`
	UpdatedAt  int64  `bun:"updated_at"`
	LastUsedAt int64  `bun:"last_used_at"`
	Version    int64  `bun:"version"`
	ArchivedAt int64  `bun:"archived_at"`
}

func (r *archiveRow) binding() *bindingRow {
	return &bindingRow{
		KeyHash: r.KeyHash, KeyHint: r.KeyHint, RuleKind: r.RuleKind, Allowed: r.Allowed,
		LearnLimit: r.LearnLimit, Status: r.Status, FirstIP: r.FirstIP, LastIP: r.LastIP,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, LastUsedAt: r.LastUsedAt, Version: r.Version,
	}
}

func archiveOf(b *bindingRow, at int64) archiveRow {
	return archiveRow{
		KeyHash: b.KeyHash, KeyHint: b.KeyHint, RuleKind: b.RuleKind, Allowed: b.Allowed,
		LearnLimit: b.LearnLimit, Status: b.Status, FirstIP: b.FirstIP, LastIP: b.LastIP,
		CreatedAt: b.CreatedAt, UpdatedAt: b.UpdatedAt, LastUsedAt: b.LastUsedAt, Version: b.Version,
		ArchivedAt: at,
	}
}

// ArchiveBindings implements sentinel.ArchiveStore in one write
// transaction, which SQLite opens with BEGIN IMMEDIATE (the DSN's
// _txlock): archivers of several processes take turns batch by batch, and
// DELETE … RETURNING hands each row to exactly one of them. The deletes
// fire the binding_changes trigger that in-process caches follow.
func (s *ArchiveStore) ArchiveBindings(ctx context.Context, cutoff time.Time, limit int, archivedAt time.Time) ([]sentinel.Binding, error) {
	var out []sentinel.Binding
	err := s.db.write(ctx, func(ctx context.Context, tx bun.Tx) error {
		var rows []bindingRow
		err := tx.NewRaw(`
			DELETE FROM token_bindings WHERE key_hash IN (
				SELECT key_hash FROM token_bindings WHERE last_used_at < ? ORDER BY last_used_at LIMIT ?)
			RETURNING *`, micros(cutoff), limit).Scan(ctx, &rows)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if len(rows) == 0 {
			return nil
		}
		archived := make([]archiveRow, len(rows))
		for i := range rows {
			archived[i] = archiveOf(&rows[i], micros(archivedAt))
		}
		if _, err := tx.NewInsert().Model(&archived).Exec(ctx); err != nil {
			return err
		}
		var last int64
		if err := tx.NewRaw("UPDATE sentinel_seq SET value = value + ? WHERE name = 'binding_version' RETURNING value",
			len(rows)).Scan(ctx, &last); err != nil {
			return err
		}
		out = make([]sentinel.Binding, 0, len(rows))
		for i := range rows {
			b, err := rows[i].toDomain()
			if err != nil {
				return err
			}
			b.Version = last - int64(len(rows)-1-i) // one deletion version each, all newer than before
			out = append(out, b)
		}
		return nil
	})
	if err != nil {
		return nil, translate(err, "archive bindings")
	}
	return out, nil
}

// PurgeIntercepts implements sentinel.ArchiveStore.
func (s *ArchiveStore) PurgeIntercepts(ctx context.Context, before time.Time, limit int) (int, error) {
	var n int64
	err := s.db.write(ctx, func(ctx context.Context, tx bun.Tx) error {
		res, err := tx.NewRaw(`
			DELETE FROM intercept_logs WHERE id IN (
				SELECT id FROM intercept_logs WHERE created_at < ? ORDER BY created_at LIMIT ?)`,
			micros(before), limit).Exec(ctx)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), translate(err, "purge intercepts")
}

// ListArchivedBindings implements sentinel.ArchiveStore.
func (s *ArchiveStore) ListArchivedBindings(ctx context.Context, f sentinel.ArchiveFilter) ([]sentinel.ArchivedBinding, int, error) {
	if err := f.Validate(); err != nil {
		return nil, 0, err
	}
	q := s.db.bun.NewSelect().Model((*archiveRow)(nil))
	if f.Key != nil {
		q = q.Where("key_hash = ?", f.Key[:])
	}
	total, err := q.Count(ctx)
	if err != nil {
		return nil, 0, translate(err, "count archived bindings")
	}
	var rows []archiveRow
	err = q.Order("archived_at DESC", "id DESC").
		Limit(int64(sentinel.PageLimit(f.Limit))).Offset(int64(f.Offset)).Scan(ctx, &rows)
	if err != nil {
		return nil, 0, translate(err, "list archived bindings")
	}
	out := make([]sentinel.ArchivedBinding, 0, len(rows))
	for i := range rows {
		b, err := rows[i].binding().toDomain()
		if err != nil {
			return nil, 0, err
		}
		out = append(out, sentinel.ArchivedBinding{ID: rows[i].ID, Binding: b, ArchivedAt: fromMicros(rows[i].ArchivedAt)})
	}
	return out, int(total), nil
}

// RestoreBinding implements sentinel.ArchiveStore in one transaction.
func (s *ArchiveStore) RestoreBinding(ctx context.Context, id int64, now time.Time, audit *sentinel.AuditEntry) (sentinel.Binding, error) {
	var out sentinel.Binding
	err := s.db.write(ctx, func(ctx context.Context, tx bun.Tx) error {
		var a archiveRow
		if err := tx.NewSelect().Model(&a).Where("id = ?", id).Scan(ctx); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return sentinel.Errorf(sentinel.ENOTFOUND, "no archived binding %d", id)
			}
			return err
		}
		v, err := nextVersion(ctx, tx)
		if err != nil {
			return err
		}
		row := a.binding()
		row.UpdatedAt, row.LastUsedAt, row.Version = micros(now), micros(now), v
		res, err := tx.NewInsert().Model(row).On("CONFLICT (key_hash) DO NOTHING").Exec(ctx)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return sentinel.Errorf(sentinel.ECONFLICT, "the key of archived binding %d has bound again since; unbind it first", id)
		}
		if _, err := tx.NewDelete().Model((*archiveRow)(nil)).Where("id = ?", id).Exec(ctx); err != nil {
			return err
		}
		if out, err = row.toDomain(); err != nil || audit == nil {
			return err
		}
		return insertAudit(ctx, tx, sentinel.RestoreAudit(*audit, id, out), nil, nil)
	})
	return out, translate(err, "restore binding")
}

// WithArchiveLock implements sentinel.ArchiveStore with a non-blocking
// lock on a file beside the database, which every process sharing the
// file sees; the kernel drops it if the process dies.
func (s *ArchiveStore) WithArchiveLock(ctx context.Context, fn func(ctx context.Context) error) (bool, error) {
	unlock, ok, err := tryLockFile(s.db.path + ".archive.lock")
	if err != nil {
		return false, sentinel.WrapError(sentinel.EUNAVAILABLE, err, "sqlite: take the archiver lock")
	}
	if !ok {
		return false, nil
	}
	defer unlock()
	return true, fn(ctx)
}
