package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"net/netip"
	"time"

	"github.com/uptrace/bun"

	sentinel "github.com/keyipsentinel/sentinel"
)

// ArchiveStore is the sentinel.ArchiveStore of a PostgreSQL database.
// Its batch methods are bounded by the caller's context, not the query
// timeout: a batch of a large purge may rightly take longer than a lookup.
type ArchiveStore struct {
	db *DB
}

var _ sentinel.ArchiveStore = (*ArchiveStore)(nil)

// NewArchiveStore returns the archive store of db.
func NewArchiveStore(db *DB) *ArchiveStore { return &ArchiveStore{db: db} }

type archiveRow struct {
	bun.BaseModel `bun:"table:token_bindings_archive"`

	ID         int64       `bun:"id,pk,autoincrement"`
	KeyHash    []byte      `bun:"key_hash"`
	KeyHint    string      `bun:"key_hint"`
	RuleKind   string      `bun:"rule_kind"`
	Allowed    prefixArray `bun:"allowed"`
	LearnLimit int         `bun:"learn_limit"`
	Status     string      `bun:"status"`
	FirstIP    *netip.Addr `bun:"first_ip,type:inet"`
	LastIP     *netip.Addr `bun:"last_ip,type:inet"`
	CreatedAt  time.Time   `bun:"created_at"`
	UpdatedAt  time.Time   `bun:"updated_at"`
	LastUsedAt time.Time   `bun:"last_used_at"`
	Version    int64       `bun:"version"`
	ArchivedAt time.Time   `bun:"archived_at"`
}

func (r *archiveRow) toDomain() (sentinel.ArchivedBinding, error) {
	b, err := (&bindingRow{
		KeyHash: r.KeyHash, KeyHint: r.KeyHint, RuleKind: r.RuleKind, Allowed: r.Allowed,
		LearnLimit: r.LearnLimit, Status: r.Status, FirstIP: r.FirstIP, LastIP: r.LastIP,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, LastUsedAt: r.LastUsedAt, Version: r.Version,
	}).toDomain()
	return sentinel.ArchivedBinding{ID: r.ID, Binding: b, ArchivedAt: r.ArchivedAt.UTC()}, err
}

const bindingColumns = `key_hash, key_hint, rule_kind, allowed, learn_limit, status,
	first_ip, last_ip, created_at, updated_at, last_used_at, version`

// ArchiveBindings implements sentinel.ArchiveStore in one statement, so
// one short transaction: the DELETE … RETURNING feeds the archive INSERT
// and draws each deletion's version. SKIP LOCKED lets two archivers (or an
// archiver and a proxy touching a row) pass each other; the outer
// condition is re-checked on the row as locked, so a use committed
// meanwhile keeps its binding. The delete fires the NOTIFY trigger of
// every row, the in-process caches' change feed.
func (s *ArchiveStore) ArchiveBindings(ctx context.Context, cutoff time.Time, limit int, archivedAt time.Time) ([]sentinel.Binding, error) {
	var rows []bindingRow
	err := s.db.bun.NewRaw(`
		WITH moved AS (
			DELETE FROM token_bindings
			WHERE key_hash IN (
				SELECT key_hash FROM token_bindings
				WHERE last_used_at < ?0
				ORDER BY last_used_at
				LIMIT ?1
				FOR UPDATE SKIP LOCKED)
			AND last_used_at < ?0
			RETURNING *
		), kept AS (
			INSERT INTO token_bindings_archive (`+bindingColumns+`, archived_at)
			SELECT `+bindingColumns+`, ?2 FROM moved
		)
		SELECT moved.*, nextval('binding_version_seq') AS deletion_version FROM moved`,
		cutoff.UTC(), limit, archivedAt.UTC()).Scan(ctx, &rows)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, translate(err, "archive bindings")
	}
	out := make([]sentinel.Binding, 0, len(rows))
	for i := range rows {
		b, err := rows[i].toDomain()
		if err != nil {
			return nil, err
		}
		b.Version = rows[i].DeletionVersion
		out = append(out, b)
	}
	return out, nil
}

// PurgeIntercepts implements sentinel.ArchiveStore; the oldest go first,
// found through the created_at index.
func (s *ArchiveStore) PurgeIntercepts(ctx context.Context, before time.Time, limit int) (int, error) {
	res, err := s.db.bun.NewRaw(`
		DELETE FROM intercept_logs WHERE id IN (
			SELECT id FROM intercept_logs WHERE created_at < ? ORDER BY created_at LIMIT ? FOR UPDATE SKIP LOCKED)`,
		before.UTC(), limit).Exec(ctx)
	if err != nil {
		return 0, translate(err, "purge intercepts")
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// ListArchivedBindings implements sentinel.ArchiveStore.
func (s *ArchiveStore) ListArchivedBindings(ctx context.Context, f sentinel.ArchiveFilter) ([]sentinel.ArchivedBinding, int, error) {
	if err := f.Validate(); err != nil {
		return nil, 0, err
	}
	ctx, cancel := s.db.bounded(ctx)
	defer cancel()
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
		a, err := rows[i].toDomain()
		if err != nil {
			return nil, 0, err
		}
		out = append(out, a)
	}
	return out, int(total), nil
}

// RestoreBinding implements sentinel.ArchiveStore in one transaction: the
// archived row is removed only if its key could be bound again.
func (s *ArchiveStore) RestoreBinding(ctx context.Context, id int64, now time.Time, audit *sentinel.AuditEntry) (sentinel.Binding, error) {
	ctx, cancel := s.db.bounded(ctx)
	defer cancel()
	var out sentinel.Binding
	err := s.db.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var rows []bindingRow
		err := tx.NewRaw(`
			INSERT INTO token_bindings (`+bindingColumns+`)
			SELECT key_hash, key_hint, rule_kind, allowed, learn_limit, status,
				first_ip, last_ip, created_at, ?1, ?1, nextval('binding_version_seq')
			FROM token_bindings_archive WHERE id = ?0
			ON CONFLICT (key_hash) DO NOTHING
			RETURNING *`, id, now.UTC()).Scan(ctx, &rows)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if len(rows) == 0 {
			var exists bool
			if err := tx.NewRaw("SELECT EXISTS (SELECT 1 FROM token_bindings_archive WHERE id = ?)", id).Scan(ctx, &exists); err != nil {
				return err
			}
			if !exists {
				return sentinel.Errorf(sentinel.ENOTFOUND, "no archived binding %d", id)
			}
			return sentinel.Errorf(sentinel.ECONFLICT, "the key of archived binding %d has bound again since; unbind it first", id)
		}
		if _, err := tx.NewRaw("DELETE FROM token_bindings_archive WHERE id = ?", id).Exec(ctx); err != nil {
			return err
		}
		if out, err = rows[0].toDomain(); err != nil || audit == nil {
			return err
		}
		return insertAudit(ctx, tx, sentinel.RestoreAudit(*audit, id, out), nil, nil)
	})
	return out, translate(err, "restore binding")
}

// archiveLockClass is the first key of the archiver's advisory lock; the
// second is derived from the schema, as for migrations.
const archiveLockClass = 0x41524348 // "ARCH"

// WithArchiveLock implements sentinel.ArchiveStore with a session-level
// pg_try_advisory_lock on a connection of its own: a second archiver does
// not wait, and a process that dies releases the lock with its session.
func (s *ArchiveStore) WithArchiveLock(ctx context.Context, fn func(ctx context.Context) error) (bool, error) {
	conn, err := s.db.bun.DB.Conn(ctx)
	if err != nil {
		return false, translate(err, "take the archiver lock")
	}
	defer conn.Close()
	const key = "$1, hashtext(coalesce(current_schema(), ''))"
	var got bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock("+key+")", archiveLockClass).Scan(&got); err != nil {
		return false, translate(err, "take the archiver lock")
	}
	if !got {
		return false, nil
	}
	defer func() {
		_, err := conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock("+key+")", archiveLockClass)
		if err != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn }) // end the session, and the lock with it
		}
	}()
	return true, fn(ctx)
}
