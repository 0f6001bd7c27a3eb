package sqlite

import (
	"context"
	"net/netip"

	"github.com/uptrace/bun"

	sentinel "github.com/keyipsentinel/sentinel"
)

// BindingStore is the sentinel.BindingStore of the embedded database.
type BindingStore struct {
	db *DB
}

var _ sentinel.BindingStore = (*BindingStore)(nil)

// NewBindingStore returns the binding store of db.
func NewBindingStore(db *DB) *BindingStore { return &BindingStore{db: db} }

type bindingRow struct {
	bun.BaseModel `bun:"table:token_bindings"`

	KeyHash    []byte `bun:"key_hash,pk"`
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
}

func fromBinding(b sentinel.Binding) *bindingRow {
	return &bindingRow{
		KeyHash:    b.Key[:],
		KeyHint:    b.Hint,
		RuleKind:   string(b.Rule.Kind),
		Allowed:    b.Rule.Spec(),
		LearnLimit: b.Rule.Limit,
		Status:     string(b.Status),
		FirstIP:    addrString(b.FirstIP),
		LastIP:     addrString(b.LastIP),
		CreatedAt:  micros(b.CreatedAt),
		UpdatedAt:  micros(b.UpdatedAt),
		LastUsedAt: micros(b.LastUsedAt),
		Version:    b.Version,
	}
}

func (r *bindingRow) toDomain() (sentinel.Binding, error) {
	var b sentinel.Binding
	if len(r.KeyHash) != len(b.Key) {
		return b, sentinel.Errorf(sentinel.EINTERNAL, "sqlite: stored key hash has %d bytes", len(r.KeyHash))
	}
	copy(b.Key[:], r.KeyHash)
	ps, err := sentinel.ParsePrefixList(r.Allowed)
	if err != nil {
		return b, sentinel.WrapError(sentinel.EINTERNAL, err, "sqlite: stored rule of "+b.Key.String()+" is corrupt")
	}
	b.Hint = r.KeyHint
	b.Rule = sentinel.Rule{Kind: sentinel.RuleKind(r.RuleKind), Prefixes: ps, Limit: r.LearnLimit}
	b.Status = sentinel.Status(r.Status)
	b.FirstIP, _ = netip.ParseAddr(r.FirstIP)
	b.LastIP, _ = netip.ParseAddr(r.LastIP)
	b.CreatedAt = fromMicros(r.CreatedAt)
	b.UpdatedAt = fromMicros(r.UpdatedAt)
	b.LastUsedAt = fromMicros(r.LastUsedAt)
	b.Version = r.Version
	return b, nil
}

func addrString(a netip.Addr) string { return sentinel.FormatAddr(a) }

func selectBinding(ctx context.Context, db bun.IDB, key sentinel.KeyHash) (sentinel.Binding, error) {
	var row bindingRow
	if err := db.NewSelect().Model(&row).Where("key_hash = ?", key[:]).Scan(ctx); err != nil {
		return sentinel.Binding{}, translate(err, "find binding")
	}
	return row.toDomain()
}

// FindBinding implements sentinel.BindingStore.
func (s *BindingStore) FindBinding(ctx context.Context, key sentinel.KeyHash) (sentinel.Binding, error) {
	return selectBinding(ctx, s.db.bun, key)
}

// CreateBinding implements sentinel.BindingStore. The check and the insert
// run in one immediate transaction, which holds SQLite's write lock: of any
// number of racing goroutines or processes exactly one inserts.
func (s *BindingStore) CreateBinding(ctx context.Context, b sentinel.Binding) (sentinel.Binding, bool, error) {
	if err := b.Validate(); err != nil {
		return sentinel.Binding{}, false, err
	}
	b = b.Sanitized()
	var stored sentinel.Binding
	var created bool
	err := s.db.write(ctx, func(ctx context.Context, tx bun.Tx) error {
		existing, err := selectBinding(ctx, tx, b.Key)
		switch sentinel.ErrorCode(err) {
		case "":
			stored = existing
			return nil
		case sentinel.ENOTFOUND:
		default:
			return err
		}
		if b.Version, err = nextVersion(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.NewInsert().Model(fromBinding(b)).Exec(ctx); err != nil {
			return err
		}
		stored, created = b, true
		return nil
	})
	if err != nil {
		return sentinel.Binding{}, false, translate(err, "create binding")
	}
	return stored, created, nil
}

// modify runs change on key's binding in a write transaction and stores the
// result under a new version if change reports a change.
func (s *BindingStore) modify(ctx context.Context, key sentinel.KeyHash, what string,
	change func(b *sentinel.Binding) (bool, error), audit *sentinel.AuditEntry) (sentinel.Binding, bool, error) {
	var out sentinel.Binding
	var changed bool
	err := s.db.write(ctx, func(ctx context.Context, tx bun.Tx) error {
		b, err := selectBinding(ctx, tx, key)
		if err != nil {
			return err
		}
		var before []byte
		if audit != nil {
			before = sentinel.AuditBinding(b)
		}
		if changed, err = change(&b); err != nil {
			return err
		}
		if audit != nil {
			if err := insertAudit(ctx, tx, *audit, before, sentinel.AuditBinding(b)); err != nil {
				return err
			}
		}
		if !changed {
			out = b
			return nil // Apply leaves only valid bindings
		}
		if b.Version, err = nextVersion(ctx, tx); err != nil {
			return err
		}
		row := fromBinding(b)
		if _, err := tx.NewUpdate().Model(row).
			Column("rule_kind", "allowed", "learn_limit", "status", "updated_at", "version").
			WherePK().Exec(ctx); err != nil {
			return err
		}
		out = b
		return nil
	})
	if err != nil {
		return sentinel.Binding{}, false, translate(err, what)
	}
	return out, changed, nil
}

// LearnPrefix implements sentinel.BindingStore.
func (s *BindingStore) LearnPrefix(ctx context.Context, key sentinel.KeyHash, p netip.Prefix) (sentinel.Binding, bool, error) {
	return s.modify(ctx, key, "learn prefix", func(b *sentinel.Binding) (bool, error) {
		return b.Learn(p, s.db.clock.Now()), nil
	}, nil)
}

// UpdateBinding implements sentinel.BindingStore.
func (s *BindingStore) UpdateBinding(ctx context.Context, key sentinel.KeyHash, upd sentinel.BindingUpdate) (sentinel.Binding, error) {
	b, _, err := s.modify(ctx, key, "update binding", func(b *sentinel.Binding) (bool, error) {
		return b.Apply(upd, s.db.clock.Now())
	}, upd.Audit)
	return b, err
}

// DeleteBinding implements sentinel.BindingStore.
func (s *BindingStore) DeleteBinding(ctx context.Context, key sentinel.KeyHash, version int64) (sentinel.Binding, error) {
	return s.deleteBinding(ctx, key, version, nil)
}

func (s *BindingStore) deleteBinding(ctx context.Context, key sentinel.KeyHash, version int64, audit *sentinel.AuditEntry) (sentinel.Binding, error) {
	var out sentinel.Binding
	err := s.db.write(ctx, func(ctx context.Context, tx bun.Tx) error {
		b, err := selectBinding(ctx, tx, key)
		if err != nil {
			return err
		}
		if version != 0 && b.Version != version {
			return sentinel.VersionConflict(version, b.Version)
		}
		if _, err := tx.NewDelete().Model((*bindingRow)(nil)).Where("key_hash = ?", key[:]).Exec(ctx); err != nil {
			return err
		}
		if audit != nil {
			if err := insertAudit(ctx, tx, *audit, sentinel.AuditBinding(b), nil); err != nil {
				return err
			}
		}
		if b.Version, err = nextVersion(ctx, tx); err != nil {
			return err
		}
		out = b
		return nil
	})
	if err != nil {
		return sentinel.Binding{}, translate(err, "delete binding")
	}
	return out, nil
}

// TouchBindings implements sentinel.BindingStore in one transaction.
func (s *BindingStore) TouchBindings(ctx context.Context, uses []sentinel.Use) error {
	if len(uses) == 0 {
		return nil
	}
	err := s.db.write(ctx, func(ctx context.Context, tx bun.Tx) error {
		stmt, err := tx.PrepareContext(ctx,
			"UPDATE token_bindings SET last_used_at = ?, last_ip = ? WHERE key_hash = ? AND last_used_at < ?")
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, u := range uses {
			at := micros(u.At)
			if _, err := stmt.ExecContext(ctx, at, addrString(u.Addr), u.Key[:], at); err != nil {
				return err
			}
		}
		return nil
	})
	return translate(err, "touch bindings")
}

// ListBindings implements sentinel.BindingStore. A Net filter is applied
// here rather than in SQL (SQLite has no address types); the embedded store
// is meant for deployments small enough for that.
func (s *BindingStore) ListBindings(ctx context.Context, f sentinel.BindingFilter) ([]sentinel.Binding, int, error) {
	if err := f.Validate(); err != nil {
		return nil, 0, err
	}
	limit := sentinel.PageLimit(f.Limit)
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
	q = q.Order(listOrder(f)...)

	if !f.Net.IsValid() {
		total, err := q.Count(ctx)
		if err != nil {
			return nil, 0, translate(err, "count bindings")
		}
		var rows []bindingRow
		if err := q.Limit(int64(limit)).Offset(int64(f.Offset)).Scan(ctx, &rows); err != nil {
			return nil, 0, translate(err, "list bindings")
		}
		out, err := toDomainAll(rows)
		return out, int(total), err
	}

	var rows []bindingRow
	if err := q.Scan(ctx, &rows); err != nil {
		return nil, 0, translate(err, "list bindings")
	}
	all, err := toDomainAll(rows)
	if err != nil {
		return nil, 0, err
	}
	net := sentinel.NormalizePrefix(f.Net)
	matched := all[:0]
	for _, b := range all {
		if b.Concerns(net) {
			matched = append(matched, b)
		}
	}
	total := len(matched)
	start := min(f.Offset, total)
	end := min(start+limit, total)
	return matched[start:end], total, nil
}

func toDomainAll(rows []bindingRow) ([]sentinel.Binding, error) {
	out := make([]sentinel.Binding, 0, len(rows))
	for i := range rows {
		b, err := rows[i].toDomain()
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}
