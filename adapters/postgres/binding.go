package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	sentinel "github.com/keyipsentinel/sentinel"
)

// BindingStore is the sentinel.BindingStore of a PostgreSQL database.
type BindingStore struct {
	db *DB
}

var _ sentinel.BindingStore = (*BindingStore)(nil)

// NewBindingStore returns the binding store of db.
func NewBindingStore(db *DB) *BindingStore { return &BindingStore{db: db} }

type bindingRow struct {
	bun.BaseModel `bun:"table:token_bindings"`

	KeyHash    []byte      `bun:"key_hash,pk"`
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

	// DeletionVersion is the version DeleteBinding draws in the same
	// statement that deletes the row.
	DeletionVersion int64 `bun:"deletion_version,scanonly"`
}

func fromBinding(b sentinel.Binding) *bindingRow {
	return &bindingRow{
		KeyHash:    b.Key[:],
		KeyHint:    b.Hint,
		RuleKind:   string(b.Rule.Kind),
		Allowed:    b.Rule.Prefixes,
		LearnLimit: b.Rule.Limit,
		Status:     string(b.Status),
		FirstIP:    addrOrNil(b.FirstIP),
		LastIP:     addrOrNil(b.LastIP),
		CreatedAt:  b.CreatedAt,
		UpdatedAt:  b.UpdatedAt,
		LastUsedAt: b.LastUsedAt,
		Version:    b.Version,
	}
}

func (r *bindingRow) toDomain() (sentinel.Binding, error) {
	var b sentinel.Binding
	if len(r.KeyHash) != len(b.Key) {
		return b, sentinel.Errorf(sentinel.EINTERNAL, "postgres: stored key hash has %d bytes", len(r.KeyHash))
	}
	copy(b.Key[:], r.KeyHash)
	b.Hint = r.KeyHint
	b.Rule = sentinel.Rule{Kind: sentinel.RuleKind(r.RuleKind), Prefixes: r.Allowed, Limit: r.LearnLimit}
	b.Status = sentinel.Status(r.Status)
	if r.FirstIP != nil {
		b.FirstIP = *r.FirstIP
	}
	if r.LastIP != nil {
		b.LastIP = *r.LastIP
	}
	b.CreatedAt = r.CreatedAt.UTC()
	b.UpdatedAt = r.UpdatedAt.UTC()
	b.LastUsedAt = r.LastUsedAt.UTC()
	b.Version = r.Version
	return b, nil
}

// addrOrNil maps the zero address (unknown) to SQL NULL.
func addrOrNil(a netip.Addr) *netip.Addr {
	if !a.IsValid() {
		return nil
	}
	return &a
}

// prefixArray is a cidr[] column. bun cannot write []netip.Prefix to one
// (it quotes every element twice), so this type reads and writes the
// array's text form itself.
type prefixArray []netip.Prefix

// Value implements driver.Valuer: '{10.0.0.0/8,192.0.2.1/32}'. cidr
// elements never contain characters that need quoting.
func (a prefixArray) Value() (driver.Value, error) {
	var b strings.Builder
	b.WriteByte('{')
	for i, p := range a {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(p.String())
	}
	b.WriteByte('}')
	return b.String(), nil
}

// Scan implements sql.Scanner for the text form Value writes.
func (a *prefixArray) Scan(src any) error {
	var s string
	switch v := src.(type) {
	case string:
		s = v
	case []byte:
		s = string(v)
	default:
		return fmt.Errorf("postgres: cannot scan %T as cidr[]", src)
	}
	inner, ok := strings.CutPrefix(s, "{")
	if inner, ok = strings.CutSuffix(inner, "}"); !ok {
		return fmt.Errorf("postgres: malformed cidr[] %q", s)
	}
	*a = nil
	if inner == "" {
		return nil
	}
	for f := range strings.SplitSeq(inner, ",") {
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return fmt.Errorf("postgres: malformed cidr[] element: %w", err)
		}
		*a = append(*a, p)
	}
	return nil
}

func selectBinding(ctx context.Context, db bun.IDB, key sentinel.KeyHash, forUpdate bool) (sentinel.Binding, error) {
	var row bindingRow
	q := db.NewSelect().Model(&row).Where("key_hash = ?", key[:])
	if forUpdate {
		q = q.For("UPDATE")
	}
	if err := q.Scan(ctx); err != nil {
		return sentinel.Binding{}, translate(err, "find binding")
	}
	return row.toDomain()
}

// FindBinding implements sentinel.BindingStore.
func (s *BindingStore) FindBinding(ctx context.Context, key sentinel.KeyHash) (sentinel.Binding, error) {
	ctx, cancel := s.db.bounded(ctx)
	defer cancel()
	return selectBinding(ctx, s.db.bun, key, false)
}

// createAttempts bounds CreateBinding's retries when the binding it lost
// to is deleted before it can be read: each round means an operator
// deleted the key in between, so more than a few is not a race any more.
const createAttempts = 3

// CreateBinding implements sentinel.BindingStore with one INSERT … ON
// CONFLICT DO NOTHING: the unique key decides the winner, across any
// number of processes.
func (s *BindingStore) CreateBinding(ctx context.Context, b sentinel.Binding) (sentinel.Binding, bool, error) {
	if err := b.Validate(); err != nil {
		return sentinel.Binding{}, false, err
	}
	// The hint is the masked form of whatever a client sent as its key,
	// which may hold a NUL byte (a query parameter "key=%00…"); binding
	// must not fail over a cosmetic field.
	b = b.Sanitized()
	ctx, cancel := s.db.bounded(ctx)
	defer cancel()
	for range createAttempts {
		row := fromBinding(b)
		err := s.db.bun.NewInsert().Model(row).
			Value("version", "nextval('binding_version_seq')").
			On("CONFLICT (key_hash) DO NOTHING").
			Returning("*").
			Scan(ctx)
		if err == nil {
			stored, err := row.toDomain()
			return stored, err == nil, err
		}
		if !errors.Is(err, sql.ErrNoRows) { // no row: another caller's binding is there
			return sentinel.Binding{}, false, translate(err, "create binding")
		}
		stored, err := selectBinding(ctx, s.db.bun, b.Key, false)
		if sentinel.ErrorCode(err) != sentinel.ENOTFOUND {
			return stored, false, err
		}
	}
	return sentinel.Binding{}, false, sentinel.Errorf(sentinel.ECONFLICT,
		"postgres: create binding: the key's binding kept being deleted while it was created")
}

// LearnPrefix implements sentinel.BindingStore with one conditional
// UPDATE: the room and novelty checks are re-evaluated on the row as it is
// after any concurrent learner, so the limit holds across processes.
func (s *BindingStore) LearnPrefix(ctx context.Context, key sentinel.KeyHash, p netip.Prefix) (sentinel.Binding, bool, error) {
	if !p.IsValid() {
		return sentinel.Binding{}, false, sentinel.Errorf(sentinel.EINVALID, "postgres: learn prefix: invalid prefix")
	}
	ctx, cancel := s.db.bounded(ctx)
	defer cancel()
	var row bindingRow
	err := s.db.bun.NewUpdate().Model(&row).
		Set("allowed = array_append(allowed, ?::cidr)", p.String()).
		Set("version = nextval('binding_version_seq')").
		Set("updated_at = ?", s.db.clock.Now().UTC()).
		Where("key_hash = ?", key[:]).
		Where("rule_kind = ?", string(sentinel.RuleLearn)).
		Where("cardinality(allowed) < learn_limit").
		Where("NOT (?::cidr = ANY (allowed))", p.String()).
		Returning("*").
		Scan(ctx)
	if err == nil {
		b, err := row.toDomain()
		return b, err == nil, err
	}
	if !errors.Is(err, sql.ErrNoRows) { // no row: no such binding, or nothing to learn
		return sentinel.Binding{}, false, translate(err, "learn prefix")
	}
	b, err := selectBinding(ctx, s.db.bun, key, false)
	return b, false, err
}

// UpdateBinding implements sentinel.BindingStore. The row is locked while
// the domain applies the update, so a concurrent learner or updater waits
// instead of being overwritten.
func (s *BindingStore) UpdateBinding(ctx context.Context, key sentinel.KeyHash, upd sentinel.BindingUpdate) (sentinel.Binding, error) {
	ctx, cancel := s.db.bounded(ctx)
	defer cancel()
	var out sentinel.Binding
	err := s.db.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		b, err := selectBinding(ctx, tx, key, true)
		if err != nil {
			return err
		}
		var before []byte
		if upd.Audit != nil {
			before = sentinel.AuditBinding(b)
		}
		changed, err := b.Apply(upd, s.db.clock.Now())
		if err != nil {
			return err
		}
		if upd.Audit != nil {
			if err := insertAudit(ctx, tx, *upd.Audit, before, sentinel.AuditBinding(b)); err != nil {
				return err
			}
		}
		if !changed {
			out = b
			return nil // Apply leaves only valid bindings
		}
		row := fromBinding(b)
		err = tx.NewUpdate().Model(row).
			Column("rule_kind", "allowed", "learn_limit", "status", "updated_at").
			Set("version = nextval('binding_version_seq')").
			WherePK().
			Returning("*").
			Scan(ctx)
		if err != nil {
			return err
		}
		out, err = row.toDomain()
		return err
	})
	if err != nil {
		return sentinel.Binding{}, translate(err, "update binding")
	}
	return out, nil
}

// DeleteBinding implements sentinel.BindingStore with one DELETE …
// RETURNING that also draws the deletion's version; only a refused
// conditional delete reads the row again to tell ECONFLICT from ENOTFOUND.
func (s *BindingStore) DeleteBinding(ctx context.Context, key sentinel.KeyHash, version int64) (sentinel.Binding, error) {
	return s.deleteBinding(ctx, key, version, nil)
}

func (s *BindingStore) deleteIn(ctx context.Context, db bun.IDB, key sentinel.KeyHash, version int64) (sentinel.Binding, error) {
	var row bindingRow
	q := db.NewDelete().Model(&row).
		Where("key_hash = ?", key[:]).
		Returning("*, nextval('binding_version_seq') AS deletion_version")
	if version != 0 {
		q = q.Where("version = ?", version)
	}
	err := q.Scan(ctx)
	if err == nil {
		b, err := row.toDomain()
		b.Version = row.DeletionVersion
		return b, err
	}
	if !errors.Is(err, sql.ErrNoRows) || version == 0 {
		return sentinel.Binding{}, translate(err, "delete binding")
	}
	b, err := selectBinding(ctx, db, key, false)
	if err != nil {
		return sentinel.Binding{}, err
	}
	return sentinel.Binding{}, sentinel.VersionConflict(version, b.Version)
}

// TouchBindings implements sentinel.BindingStore with one UPDATE for the
// whole batch. DISTINCT ON keeps the latest use of each key, since an
// UPDATE … FROM that joins a row twice applies an arbitrary one.
func (s *BindingStore) TouchBindings(ctx context.Context, uses []sentinel.Use) error {
	if len(uses) == 0 {
		return nil
	}
	keys := make([][]byte, len(uses))
	ats := make([]time.Time, len(uses))
	addrs := make([]string, len(uses))
	for i, u := range uses {
		keys[i] = u.Key[:]
		ats[i] = u.At
		if u.Addr.IsValid() {
			addrs[i] = u.Addr.String()
		}
	}
	ctx, cancel := s.db.bounded(ctx)
	defer cancel()
	_, err := s.db.bun.NewRaw(`
		UPDATE token_bindings AS b
		SET last_used_at = u.at, last_ip = coalesce(u.addr, b.last_ip)
		FROM (
			SELECT DISTINCT ON (key) key, at, nullif(addr, '')::inet AS addr
			FROM unnest(?::bytea[], ?::timestamptz[], ?::text[]) AS u (key, at, addr)
			ORDER BY key, at DESC
		) AS u
		WHERE b.key_hash = u.key AND b.last_used_at < u.at`,
		pgdialect.Array(keys), pgdialect.Array(ats), pgdialect.Array(addrs)).
		Exec(ctx)
	return translate(err, "touch bindings")
}

// ListBindings implements sentinel.BindingStore. The Net filter is a union
// of three GiST index scans (allowed prefixes overlapping it, first and
// last clients inside it), so it stays fast however many bindings exist.
func (s *BindingStore) ListBindings(ctx context.Context, f sentinel.BindingFilter) ([]sentinel.Binding, int, error) {
	if err := f.Validate(); err != nil {
		return nil, 0, err
	}
	ctx, cancel := s.db.bounded(ctx)
	defer cancel()
	q := s.db.bun.NewSelect().Model((*bindingRow)(nil))
	if f.Key != nil {
		q = q.Where("key_hash = ?", f.Key[:])
	}
	if f.Status != "" {
		q = q.Where("status = ?", string(f.Status))
	}
	if f.Kind != "" {
		q = q.Where("rule_kind = ?", string(f.Kind))
	}
	if f.Net.IsValid() {
		net := sentinel.NormalizePrefix(f.Net).String()
		q = q.Where(`key_hash IN (
			SELECT key_hash FROM token_binding_nets WHERE net && ?0::cidr
			UNION SELECT key_hash FROM token_bindings WHERE first_ip <<= ?0::inet
			UNION SELECT key_hash FROM token_bindings WHERE last_ip <<= ?0::inet)`, net)
	}
	total, err := q.Count(ctx)
	if err != nil {
		return nil, 0, translate(err, "count bindings")
	}
	var rows []bindingRow
	err = q.Order(listOrder(f)...).
		Limit(int64(sentinel.PageLimit(f.Limit))).Offset(int64(f.Offset)).
		Scan(ctx, &rows)
	if err != nil {
		return nil, 0, translate(err, "list bindings")
	}
	out := make([]sentinel.Binding, 0, len(rows))
	for i := range rows {
		b, err := rows[i].toDomain()
		if err != nil {
			return nil, 0, err
		}
		out = append(out, b)
	}
	return out, int(total), nil
}
