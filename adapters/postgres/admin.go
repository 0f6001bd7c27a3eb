package postgres

import (
	"context"
	"encoding/json"
	"net/netip"
	"time"

	"github.com/uptrace/bun"

	sentinel "github.com/keyipsentinel/sentinel"
)

var (
	_ sentinel.AuditedBindingDeleter = (*BindingStore)(nil)
	_ sentinel.BindingReport         = (*BindingStore)(nil)
	_ sentinel.InterceptReport       = (*InterceptStore)(nil)
	_ sentinel.AuditStore            = (*AuditStore)(nil)
	_ sentinel.SettingsStore         = (*SettingsStore)(nil)
)

func listOrder(f sentinel.BindingFilter) []string {
	col := "created_at"
	if f.Sort == sentinel.SortLastUsedAt {
		col = "last_used_at"
	}
	if f.Ascending {
		return []string{col + " ASC", "key_hash"}
	}
	return []string{col + " DESC", "key_hash"}
}

// deleteBinding deletes key's binding and, when audit is set, writes it in
// the same transaction.
func (s *BindingStore) deleteBinding(ctx context.Context, key sentinel.KeyHash, version int64, audit *sentinel.AuditEntry) (sentinel.Binding, error) {
	ctx, cancel := s.db.bounded(ctx)
	defer cancel()
	if audit == nil {
		return s.deleteIn(ctx, s.db.bun, key, version)
	}
	var out sentinel.Binding
	err := s.db.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		b, err := s.deleteIn(ctx, tx, key, version)
		if err != nil {
			return err
		}
		out = b
		return insertAudit(ctx, tx, *audit, sentinel.AuditBinding(b), nil)
	})
	if err != nil {
		return sentinel.Binding{}, translate(err, "delete binding")
	}
	return out, nil
}

// DeleteBindingAudited implements sentinel.AuditedBindingDeleter.
func (s *BindingStore) DeleteBindingAudited(ctx context.Context, key sentinel.KeyHash, version int64, audit sentinel.AuditEntry) (sentinel.Binding, error) {
	return s.deleteBinding(ctx, key, version, &audit)
}

type auditDetail struct {
	Before json.RawMessage `json:"before"`
	After  json.RawMessage `json:"after"`
}

func nullJSON(b json.RawMessage) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("null")
	}
	return b
}

// insertAudit writes a in tx; before and after, when not nil, replace the
// entry's own.
func insertAudit(ctx context.Context, db bun.IDB, a sentinel.AuditEntry, before, after json.RawMessage) error {
	if before != nil || after != nil {
		a.Before, a.After = before, after
	}
	if a.At.IsZero() {
		a.At = time.Now()
	}
	detail, err := json.Marshal(auditDetail{Before: nullJSON(a.Before), After: nullJSON(a.After)})
	if err != nil {
		return sentinel.WrapError(sentinel.EINVALID, err, "audit entry is not valid JSON")
	}
	var ip *string
	if a.ClientIP.IsValid() {
		v := a.ClientIP.String()
		ip = &v
	}
	_, err = db.NewRaw(`INSERT INTO admin_audit (actor, action, target, detail, client_ip, created_at)
		VALUES (?, ?, ?, ?::jsonb, ?::inet, ?)`, a.Actor, string(a.Action), a.Target, string(detail), ip, a.At).Exec(ctx)
	return err
}

// CountBindings implements sentinel.BindingReport.
func (s *BindingStore) CountBindings(ctx context.Context) (sentinel.BindingCounts, error) {
	ctx, cancel := s.db.bounded(ctx)
	defer cancel()
	var rows []struct {
		Status   string `bun:"status"`
		RuleKind string `bun:"rule_kind"`
		N        int    `bun:"n"`
	}
	err := s.db.bun.NewRaw("SELECT status, rule_kind, count(*) AS n FROM token_bindings GROUP BY status, rule_kind").Scan(ctx, &rows)
	if err != nil {
		return sentinel.BindingCounts{}, translate(err, "count bindings")
	}
	c := sentinel.BindingCounts{ByRule: make(map[sentinel.RuleKind]int)}
	for _, r := range rows {
		c.Total += r.N
		switch sentinel.Status(r.Status) {
		case sentinel.StatusActive:
			c.Active += r.N
		case sentinel.StatusBanned:
			c.Banned += r.N
		}
		c.ByRule[sentinel.RuleKind(r.RuleKind)] += r.N
	}
	return c, nil
}

func interceptQuery(q *bun.SelectQuery, f sentinel.InterceptFilter) *bun.SelectQuery {
	if f.Key != nil {
		q = q.Where("key_hash = ?", f.Key[:])
	}
	if f.Reason != "" {
		q = q.Where("reason = ?", string(f.Reason))
	}
	if !f.Since.IsZero() {
		q = q.Where("created_at >= ?", f.Since)
	}
	if !f.Until.IsZero() {
		q = q.Where("created_at < ?", f.Until)
	}
	if f.Net.IsValid() {
		q = q.Where("client_ip <<= ?::inet", sentinel.NormalizePrefix(f.Net).String())
	}
	return q
}

// EachIntercept implements sentinel.InterceptReport: pgx streams the rows
// of one query as they come, so memory stays flat. It is bounded by ctx
// only, not by the query timeout: a large export takes a while.
func (s *InterceptStore) EachIntercept(ctx context.Context, f sentinel.InterceptFilter, fn func(sentinel.Intercept) error) error {
	if err := f.Validate(); err != nil {
		return err
	}
	q := interceptQuery(s.db.bun.NewSelect().Model((*interceptRow)(nil)), f).Order("created_at DESC", "id DESC")
	rows, err := q.Rows(ctx)
	if err != nil {
		return translate(err, "export intercepts")
	}
	defer rows.Close()
	var row interceptRow
	for rows.Next() {
		row = interceptRow{}
		if err := s.db.bun.ScanRow(ctx, rows, &row); err != nil {
			return translate(err, "export intercepts")
		}
		if err := fn(row.toDomain()); err != nil {
			return err
		}
	}
	return translate(rows.Err(), "export intercepts")
}

// TopRefusedKeys implements sentinel.InterceptReport from the
// (created_at, key_hash, client_ip, key_hint) index.
func (s *InterceptStore) TopRefusedKeys(ctx context.Context, since time.Time, n int) ([]sentinel.KeyCount, error) {
	if err := sentinel.ValidateTopN(n); err != nil {
		return nil, err
	}
	ctx, cancel := s.db.bounded(ctx)
	defer cancel()
	var rows []struct {
		KeyHash []byte `bun:"key_hash"`
		Hint    string `bun:"hint"`
		N       int64  `bun:"n"`
	}
	err := s.db.bun.NewRaw(`SELECT key_hash, max(key_hint) AS hint, count(*) AS n FROM intercept_logs
		WHERE created_at >= ? GROUP BY key_hash ORDER BY n DESC, key_hash LIMIT ?`, since, n).Scan(ctx, &rows)
	if err != nil {
		return nil, translate(err, "top refused keys")
	}
	out := make([]sentinel.KeyCount, 0, len(rows))
	for _, r := range rows {
		kc := sentinel.KeyCount{Hint: r.Hint, Count: r.N}
		copy(kc.Key[:], r.KeyHash)
		out = append(out, kc)
	}
	return out, nil
}

// TopRefusedIPs implements sentinel.InterceptReport.
func (s *InterceptStore) TopRefusedIPs(ctx context.Context, since time.Time, n int) ([]sentinel.IPCount, error) {
	if err := sentinel.ValidateTopN(n); err != nil {
		return nil, err
	}
	ctx, cancel := s.db.bounded(ctx)
	defer cancel()
	var rows []struct {
		IP string `bun:"ip"`
		N  int64  `bun:"n"`
	}
	err := s.db.bun.NewRaw(`SELECT host(client_ip) AS ip, count(*) AS n FROM intercept_logs
		WHERE created_at >= ? AND client_ip IS NOT NULL GROUP BY client_ip ORDER BY n DESC, client_ip LIMIT ?`, since, n).Scan(ctx, &rows)
	if err != nil {
		return nil, translate(err, "top refused addresses")
	}
	out := make([]sentinel.IPCount, 0, len(rows))
	for _, r := range rows {
		a, _ := netip.ParseAddr(r.IP)
		out = append(out, sentinel.IPCount{IP: a, Count: r.N})
	}
	return out, nil
}

// AuditStore is the sentinel.AuditStore of a PostgreSQL database.
type AuditStore struct{ db *DB }

// NewAuditStore returns the audit store of db.
func NewAuditStore(db *DB) *AuditStore { return &AuditStore{db: db} }

var _ sentinel.AuditWriter = (*AuditStore)(nil)

// AppendAudit implements sentinel.AuditWriter.
func (s *AuditStore) AppendAudit(ctx context.Context, a sentinel.AuditEntry) error {
	ctx, cancel := s.db.bounded(ctx)
	defer cancel()
	if err := insertAudit(ctx, s.db.bun, a, nil, nil); err != nil {
		return translate(err, "write audit entry")
	}
	return nil
}

// ListAudit implements sentinel.AuditStore.
func (s *AuditStore) ListAudit(ctx context.Context, f sentinel.AuditFilter) ([]sentinel.AuditEntry, int, error) {
	if err := f.Validate(); err != nil {
		return nil, 0, err
	}
	ctx, cancel := s.db.bounded(ctx)
	defer cancel()
	q := s.db.bun.NewSelect().Table("admin_audit")
	if !f.Since.IsZero() {
		q = q.Where("created_at >= ?", f.Since)
	}
	if !f.Until.IsZero() {
		q = q.Where("created_at < ?", f.Until)
	}
	total, err := q.Count(ctx)
	if err != nil {
		return nil, 0, translate(err, "count audit entries")
	}
	var rows []struct {
		ID        int64     `bun:"id"`
		Actor     string    `bun:"actor"`
		Action    string    `bun:"action"`
		Target    string    `bun:"target"`
		Detail    string    `bun:"detail"`
		ClientIP  string    `bun:"ip"`
		CreatedAt time.Time `bun:"created_at"`
	}
	err = q.ColumnExpr("id, actor, action, target, detail::text AS detail, coalesce(host(client_ip), '') AS ip, created_at").
		Order("created_at DESC", "id DESC").
		Limit(int64(sentinel.PageLimit(f.Limit))).Offset(int64(f.Offset)).Scan(ctx, &rows)
	if err != nil {
		return nil, 0, translate(err, "list audit entries")
	}
	out := make([]sentinel.AuditEntry, 0, len(rows))
	for _, r := range rows {
		e := sentinel.AuditEntry{ID: r.ID, Actor: r.Actor, Action: sentinel.AuditAction(r.Action),
			Target: r.Target, At: r.CreatedAt.UTC()}
		e.ClientIP, _ = netip.ParseAddr(r.ClientIP)
		var d auditDetail
		if json.Unmarshal([]byte(r.Detail), &d) == nil {
			e.Before, e.After = d.Before, d.After
			if string(e.Before) == "null" {
				e.Before = nil
			}
			if string(e.After) == "null" {
				e.After = nil
			}
		}
		out = append(out, e)
	}
	return out, int(total), nil
}

// SettingsStore is the sentinel.SettingsStore of a PostgreSQL database.
type SettingsStore struct{ db *DB }

// NewSettingsStore returns the settings store of db.
func NewSettingsStore(db *DB) *SettingsStore { return &SettingsStore{db: db} }

// StoredSettings implements sentinel.SettingsStore in one statement, so
// fields and version agree.
func (s *SettingsStore) StoredSettings(ctx context.Context) (sentinel.SettingsPatch, int64, error) {
	ctx, cancel := s.db.bounded(ctx)
	defer cancel()
	var rows []struct {
		Name    string `bun:"name"`
		Value   string `bun:"value"`
		Version int64  `bun:"version"`
	}
	err := s.db.bun.NewRaw(`SELECT s.name, s.value::text AS value, v.version
		FROM settings_version AS v LEFT JOIN settings AS s ON true`).Scan(ctx, &rows)
	if err != nil {
		return sentinel.SettingsPatch{}, 0, translate(err, "load settings")
	}
	fields := make(map[string]json.RawMessage, len(rows))
	var v int64
	for _, r := range rows {
		v = r.Version
		if r.Name != "" {
			fields[r.Name] = json.RawMessage(r.Value)
		}
	}
	p, err := sentinel.ParseSettingsFields(fields)
	return p, v, err
}

// SettingsVersion implements sentinel.SettingsStore.
func (s *SettingsStore) SettingsVersion(ctx context.Context) (int64, error) {
	ctx, cancel := s.db.bounded(ctx)
	defer cancel()
	var v int64
	err := s.db.bun.NewRaw("SELECT version FROM settings_version").Scan(ctx, &v)
	return v, translate(err, "settings version")
}

// SaveSettings implements sentinel.SettingsStore.
func (s *SettingsStore) SaveSettings(ctx context.Context, p sentinel.SettingsPatch, audit *sentinel.AuditEntry) (int64, error) {
	ctx, cancel := s.db.bounded(ctx)
	defer cancel()
	var v int64
	err := s.db.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		for name, val := range p.Fields() {
			if _, err := tx.NewRaw(`INSERT INTO settings (name, value, updated_at) VALUES (?, ?::jsonb, now())
				ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at`,
				name, string(val)).Exec(ctx); err != nil {
				return err
			}
		}
		if audit != nil {
			if err := insertAudit(ctx, tx, *audit, nil, nil); err != nil {
				return err
			}
		}
		return tx.NewRaw("UPDATE settings_version SET version = version + 1 RETURNING version").Scan(ctx, &v)
	})
	if err != nil {
		return 0, translate(err, "save settings")
	}
	return v, nil
}

// DB returns the database of the store, for opening the other stores of
// the same database.
func (s *BindingStore) DB() *DB { return s.db }
