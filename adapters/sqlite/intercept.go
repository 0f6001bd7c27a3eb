package sqlite

import (
	"context"
	"net/netip"
	"time"

	"github.com/uptrace/bun"

	sentinel "github.com/keyipsentinel/sentinel"
)

// InterceptStore is the sentinel.InterceptStore of the embedded database.
type InterceptStore struct {
	db *DB
}

var _ sentinel.InterceptStore = (*InterceptStore)(nil)

// NewInterceptStore returns the intercept store of db.
func NewInterceptStore(db *DB) *InterceptStore { return &InterceptStore{db: db} }

type interceptRow struct {
	bun.BaseModel `bun:"table:intercept_logs"`

	ID          int64  `bun:"id,pk,autoincrement"`
	KeyHash     []byte `bun:"key_hash"`
	KeyHint     string `bun:"key_hint"`
	ClientIP    string `bun:"client_ip"`
	ClientIPBin []byte `bun:"client_ip_bin"`
	Reason      string `bun:"reason"`
	Enforced    bool   `bun:"enforced"`
	Method      string `bun:"method"`
	Path        string `bun:"path"`
	UserAgent   string `bun:"user_agent"`
	RequestID   string `bun:"request_id"`
	CreatedAt   int64  `bun:"created_at"`
}

// addrBytes is the 16-byte sort key of an address; IPv4 sorts among the
// IPv4-mapped range, which keeps IPv4 prefixes contiguous.
func addrBytes(a netip.Addr) []byte {
	if !a.IsValid() {
		return []byte{}
	}
	b := a.As16()
	return b[:]
}

// prefixRange returns the first and last address of p as sort keys.
func prefixRange(p netip.Prefix) (lo, hi []byte) {
	p = p.Masked()
	first := p.Addr()
	b := first.As16()
	lo = append([]byte(nil), b[:]...)
	hostBits := first.BitLen() - p.Bits()
	hi = append([]byte(nil), b[:]...)
	for i := 15; hostBits > 0; i-- {
		n := min(hostBits, 8)
		hi[i] |= byte(0xff >> (8 - n))
		hostBits -= n
	}
	return lo, hi
}

func fromIntercept(i sentinel.Intercept) interceptRow {
	return interceptRow{
		KeyHash:     i.Key[:],
		KeyHint:     i.Hint,
		ClientIP:    addrString(i.ClientIP),
		ClientIPBin: addrBytes(i.ClientIP),
		Reason:      string(i.Reason),
		Enforced:    i.Enforced,
		Method:      i.Method,
		Path:        i.Path,
		UserAgent:   i.UserAgent,
		RequestID:   i.RequestID,
		CreatedAt:   micros(i.At),
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
		At:        fromMicros(r.CreatedAt),
	}
	copy(i.Key[:], r.KeyHash)
	i.ClientIP, _ = netip.ParseAddr(r.ClientIP)
	return i
}

// AddIntercepts implements sentinel.InterceptStore with one multi-row insert.
func (s *InterceptStore) AddIntercepts(ctx context.Context, is []sentinel.Intercept) error {
	if len(is) == 0 {
		return nil
	}
	rows := make([]interceptRow, len(is))
	for n, i := range is {
		rows[n] = fromIntercept(i.Sanitized()) // one bad User-Agent must not fail a batch
	}
	err := s.db.write(ctx, func(ctx context.Context, tx bun.Tx) error {
		_, err := tx.NewInsert().Model(&rows).Exec(ctx)
		return err
	})
	return translate(err, "add intercepts")
}

// ListIntercepts implements sentinel.InterceptStore.
func (s *InterceptStore) ListIntercepts(ctx context.Context, f sentinel.InterceptFilter) ([]sentinel.Intercept, int, error) {
	if err := f.Validate(); err != nil {
		return nil, 0, err
	}
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

// deleteBatch is how many intercepts one retention transaction removes:
// each holds the file's write lock, which every first use waits for, so
// the lock is taken and given back in short turns instead of once for
// the whole backlog.
const deleteBatch = 5_000

// DeleteInterceptsBefore implements sentinel.InterceptStore in batches of
// deleteBatch, each its own write transaction.
func (s *InterceptStore) DeleteInterceptsBefore(ctx context.Context, t time.Time) (int, error) {
	total := 0
	for {
		var n int64
		err := s.db.write(ctx, func(ctx context.Context, tx bun.Tx) error {
			res, err := tx.NewRaw("DELETE FROM intercept_logs WHERE id IN "+
				"(SELECT id FROM intercept_logs WHERE created_at < ? ORDER BY created_at LIMIT ?)", micros(t), deleteBatch).
				Exec(ctx)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		total += int(n)
		if err != nil || n < deleteBatch {
			return total, translate(err, "delete intercepts")
		}
	}
}
