package postgres

import (
	"context"
	"net/netip"
	"time"

	"github.com/uptrace/bun"

	sentinel "github.com/keyipsentinel/sentinel"
)

// InterceptStore is the sentinel.InterceptStore of a PostgreSQL database.
type InterceptStore struct {
	db *DB
}

var _ sentinel.InterceptStore = (*InterceptStore)(nil)

// NewInterceptStore returns the intercept store of db.
func NewInterceptStore(db *DB) *InterceptStore { return &InterceptStore{db: db} }

type interceptRow struct {
	bun.BaseModel `bun:"table:intercept_logs"`

	ID        int64       `bun:"id,pk,autoincrement"`
	KeyHash   []byte      `bun:"key_hash"`
	KeyHint   string      `bun:"key_hint"`
	ClientIP  *netip.Addr `bun:"client_ip,type:inet"`
	Reason    string      `bun:"reason"`
	Enforced  bool        `bun:"enforced"`
	Method    string      `bun:"method"`
	Path      string      `bun:"path"`
	UserAgent string      `bun:"user_agent"`
	RequestID string      `bun:"request_id"`
	CreatedAt time.Time   `bun:"created_at"`
}

func fromIntercept(i sentinel.Intercept) interceptRow {
	// Callers sanitise already; doing it again is cheap and keeps one bad
	// User-Agent from failing a whole batch.
	i = i.Sanitized()
	return interceptRow{
		KeyHash:   i.Key[:],
		KeyHint:   i.Hint,
		ClientIP:  addrOrNil(i.ClientIP),
		Reason:    string(i.Reason),
		Enforced:  i.Enforced,
		Method:    i.Method,
		Path:      i.Path,
		UserAgent: i.UserAgent,
		RequestID: i.RequestID,
		CreatedAt: i.At,
	}
}

func (r *interceptRow) toDomain() sentinel.Intercept {
	i := sentinel.Intercept{
		ID:        r.ID,
		Hint:      r.KeyHint,
		Reason:    sentinel.Reason(r.Reason),
		Enforced:  r.Enforced,
		Method:    r.Method,
		Path:      r.Path,
		UserAgent: r.UserAgent,
		RequestID: r.RequestID,
		At:        r.CreatedAt.UTC(),
	}
	copy(i.Key[:], r.KeyHash)
	if r.ClientIP != nil {
		i.ClientIP = *r.ClientIP
	}
	return i
}

// AddIntercepts implements sentinel.InterceptStore with one multi-row
// INSERT, which is atomic on its own.
func (s *InterceptStore) AddIntercepts(ctx context.Context, is []sentinel.Intercept) error {
	if len(is) == 0 {
		return nil
	}
	rows := make([]interceptRow, len(is))
	for n, i := range is {
		rows[n] = fromIntercept(i)
	}
	ctx, cancel := s.db.bounded(ctx)
	defer cancel()
	// Nobody reads the new ids: RETURNING NULL spares sending them back.
	_, err := s.db.bun.NewInsert().Model(&rows).Returning("NULL").Exec(ctx)
	return translate(err, "add intercepts")
}

// ListIntercepts implements sentinel.InterceptStore.
func (s *InterceptStore) ListIntercepts(ctx context.Context, f sentinel.InterceptFilter) ([]sentinel.Intercept, int, error) {
	if err := f.Validate(); err != nil {
		return nil, 0, err
	}
	ctx, cancel := s.db.bounded(ctx)
	defer cancel()
	q := interceptQuery(s.db.bun.NewSelect().Model((*interceptRow)(nil)), f)
	total, err := q.Count(ctx)
	if err != nil {
		return nil, 0, translate(err, "count intercepts")
	}
	var rows []interceptRow
	err = q.Order("created_at DESC", "id DESC").
		Limit(int64(sentinel.PageLimit(f.Limit))).Offset(int64(f.Offset)).
		Scan(ctx, &rows)
	if err != nil {
		return nil, 0, translate(err, "list intercepts")
	}
	out := make([]sentinel.Intercept, len(rows))
	for n := range rows {
		out[n] = rows[n].toDomain()
	}
	return out, int(total), nil
}

// deleteBatch is how many intercepts one retention statement removes.
// Small batches keep each statement well inside the query timeout and let
// autovacuum keep up; one DELETE of millions of rows would do neither.
const deleteBatch = 10_000

// DeleteInterceptsBefore implements sentinel.InterceptStore in batches,
// each bounded by the query timeout; the caller's ctx bounds the whole.
// On error it returns how many were removed before it.
func (s *InterceptStore) DeleteInterceptsBefore(ctx context.Context, t time.Time) (int, error) {
	total := 0
	for {
		n, err := s.deleteBatch(ctx, t)
		total += n
		if err != nil || n < deleteBatch {
			return total, err
		}
	}
}

func (s *InterceptStore) deleteBatch(ctx context.Context, t time.Time) (int, error) {
	ctx, cancel := s.db.bounded(ctx)
	defer cancel()
	// The oldest rows come from the created_at index and are deleted by
	// primary key; "id IN (subquery)" would hash-join against a
	// sequential scan of the whole table for every batch.
	res, err := s.db.bun.NewDelete().Model((*interceptRow)(nil)).
		Where("id = ANY (ARRAY(SELECT id FROM intercept_logs WHERE created_at < ? ORDER BY created_at LIMIT ?))",
			t, deleteBatch).
		Exec(ctx)
	if err != nil {
		return 0, translate(err, "delete intercepts")
	}
	n, err := res.RowsAffected()
	return int(n), translate(err, "delete intercepts")
}
