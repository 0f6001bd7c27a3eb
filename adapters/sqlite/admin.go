package sqlite

import (
	"context"
	"database/sql"
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

type auditRow struct {
	bun.BaseModel `bun:"table:admin_audit"`

	ID        int64  `bun:"id,pk,autoincrement"`
	Actor     string `bun:"actor"`
	Action    string `bun:"action"`
	Target    string `bun:"target"`
	Detail    string `bun:"detail"`
	ClientIP  string `bun:"client_ip"`
	CreatedAt int64  `bun:"created_at"`
}

// auditDetail is the JSON kept in the detail column.
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

// insertAudit writes a inside tx; before and after, when not nil,
// replace the entry's own.
func insertAudit(ctx context.Context, tx bun.IDB, a sentinel.AuditEntry, before, after json.RawMessage) error {
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
	_, err = tx.NewInsert().Model(&auditRow{
		Actor: a.Actor, Action: string(a.Action), Target: a.Target, Detail: string(detail),
		ClientIP: addrString(a.ClientIP), CreatedAt: micros(a.At),
	}).Exec(ctx)
	return err
}

// DeleteBindingAudited implements sentinel.AuditedBindingDeleter.
func (s *BindingStore) DeleteBindingAudited(ctx context.Context, key sentinel.KeyHash, version int64, audit sentinel.AuditEntry) (sentinel.Binding, error) {
	return s.deleteBinding(ctx, key, version, &audit)
}

// CountBindings implements sentinel.BindingReport.
func (s *BindingStore) CountBindings(ctx context.Context) (sentinel.BindingCounts, error) {
	var rows []struct {
		Status   string `bun:"status"`
		RuleKind string `bun:"rule_kind"`
		N        int    `bun:"n"`
	}
	err := s.db.bun.NewSelect().Table("token_bindings").
		ColumnExpr("status, rule_kind, count(*) AS n").Group("status", "rule_kind").Scan(ctx, &rows)
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

// interceptQuery applies f's conditions to q.
func interceptQuery(q *bun.SelectQuery, f sentinel.InterceptFilter) *bun.SelectQuery {
	if f.Key != nil {
		q = q.Where("key_hash = ?", f.Key[:])
	}
	if f.Reason != "" {
		q = q.Where("reason = ?", string(f.Reason))
	}
	if !f.Since.IsZero() {
		q = q.Where("created_at >= ?", micros(f.Since))
	}
	if !f.Until.IsZero() {
		q = q.Where("created_at < ?", micros(f.Until))
	}
	if f.Net.IsValid() {
		lo, hi := prefixRange(sentinel.NormalizePrefix(f.Net))
		q = q.Where("client_ip_bin BETWEEN ? AND ?", lo, hi)
	}
	return q
}

// EachIntercept implements sentinel.InterceptReport, row by row from one
// cursor.
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

// TopRefusedKeys implements sentinel.InterceptReport.
func (s *InterceptStore) TopRefusedKeys(ctx context.Context, since time.Time, n int) ([]sentinel.KeyCount, error) {
	if err := sentinel.ValidateTopN(n); err != nil {
		return nil, err
	}
	var rows []struct {
		KeyHash []byte `bun:"key_hash"`
		Hint    string `bun:"hint"`
		N       int64  `bun:"n"`
	}
	err := s.db.bun.NewSelect().Table("intercept_logs").
		ColumnExpr("key_hash, max(key_hint) AS hint, count(*) AS n").
		Where("created_at >= ?", micros(since)).Group("key_hash").
		OrderExpr("n DESC, key_hash").Limit(int64(n)).Scan(ctx, &rows)
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
	var rows []struct {
		IP string `bun:"client_ip"`
		N  int64  `bun:"n"`
	}
	err := s.db.bun.NewSelect().Table("intercept_logs").
		ColumnExpr("client_ip, count(*) AS n").
		Where("created_at >= ?", micros(since)).Group("client_ip").
		OrderExpr("n DESC, client_ip").Limit(int64(n)).Scan(ctx, &rows)
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

// AuditStore is the sentinel.AuditStore of the embedded database.
type AuditStore struct{ db *DB }

// NewAuditStore returns the audit store of db.
func NewAuditStore(db *DB) *AuditStore { return &AuditStore{db: db} }

var _ sentinel.AuditWriter = (*AuditStore)(nil)

// AppendAudit implements sentinel.AuditWriter.
func (s *AuditStore) AppendAudit(ctx context.Context, a sentinel.AuditEntry) error {
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
	q := s.db.bun.NewSelect().Model((*auditRow)(nil))
	if !f.Since.IsZero() {
		q = q.Where("created_at >= ?", micros(f.Since))
	}
	if !f.Until.IsZero() {
		q = q.Where("created_at < ?", micros(f.Until))
	}
	total, err := q.Count(ctx)
	if err != nil {
		return nil, 0, translate(err, "count audit entries")
	}
	var rows []auditRow
	if err := q.Order("created_at DESC", "id DESC").Limit(int64(sentinel.PageLimit(f.Limit))).Offset(int64(f.Offset)).Scan(ctx, &rows); err != nil {
		return nil, 0, translate(err, "list audit entries")
	}
	out := make([]sentinel.AuditEntry, 0, len(rows))
	for _, r := range rows {
		e := sentinel.AuditEntry{ID: r.ID, Actor: r.Actor, Action: sentinel.AuditAction(r.Action),
			Target: r.Target, At: fromMicros(r.CreatedAt)}
		e.ClientIP, _ = netip.ParseAddr(r.ClientIP)
		var d auditDetail
		if json.Unmarshal([]byte(r.Detail), &d) == nil {
			e.Before, e.After = d.Before, d.After
		}
		out = append(out, e)
	}
	return out, int(total), nil
}

// SettingsStore is the sentinel.SettingsStore of the embedded database.
type SettingsStore struct{ db *DB }

// NewSettingsStore returns the settings store of db.
func NewSettingsStore(db *DB) *SettingsStore { return &SettingsStore{db: db} }

type settingRow struct {
	bun.BaseModel `bun:"table:settings"`

	Name      string `bun:"name,pk"`
	Value     string `bun:"value"`
	UpdatedAt int64  `bun:"updated_at"`
}

// StoredSettings implements sentinel.SettingsStore.
func (s *SettingsStore) StoredSettings(ctx context.Context) (sentinel.SettingsPatch, int64, error) {
	var p sentinel.SettingsPatch
	var v int64
	// One read transaction, so the fields and the version agree.
	err := s.db.bun.RunInTx(ctx, &sql.TxOptions{ReadOnly: true}, func(ctx context.Context, tx bun.Tx) error {
		var rows []settingRow
		if err := tx.NewSelect().Model(&rows).Scan(ctx); err != nil {
			return err
		}
		fields := make(map[string]json.RawMessage, len(rows))
		for _, r := range rows {
			fields[r.Name] = json.RawMessage(r.Value)
		}
		var err error
		if p, err = sentinel.ParseSettingsFields(fields); err != nil {
			return err
		}
		v, err = settingsVersion(ctx, tx)
		return err
	})
	if err != nil {
		return sentinel.SettingsPatch{}, 0, translate(err, "load settings")
	}
	return p, v, nil
}

func settingsVersion(ctx context.Context, db bun.IDB) (int64, error) {
	var v int64
	err := db.NewRaw("SELECT value FROM sentinel_seq WHERE name = 'settings_version'").Scan(ctx, &v)
	return v, err
}

// SettingsVersion implements sentinel.SettingsStore.
func (s *SettingsStore) SettingsVersion(ctx context.Context) (int64, error) {
	v, err := settingsVersion(ctx, s.db.bun)
	return v, translate(err, "settings version")
}

// SaveSettings implements sentinel.SettingsStore.
func (s *SettingsStore) SaveSettings(ctx context.Context, p sentinel.SettingsPatch, audit *sentinel.AuditEntry) (int64, error) {
	var v int64
	now := micros(time.Now())
	err := s.db.write(ctx, func(ctx context.Context, tx bun.Tx) error {
		for name, val := range p.Fields() {
			if _, err := tx.NewInsert().Model(&settingRow{Name: name, Value: string(val), UpdatedAt: now}).
				On("CONFLICT (name) DO UPDATE").Set("value = EXCLUDED.value, updated_at = EXCLUDED.updated_at").
				Exec(ctx); err != nil {
				return err
			}
		}
		if audit != nil {
			if err := insertAudit(ctx, tx, *audit, nil, nil); err != nil {
				return err
			}
		}
		return tx.NewRaw("UPDATE sentinel_seq SET value = value + 1 WHERE name = 'settings_version' RETURNING value").Scan(ctx, &v)
	})
	if err != nil {
		return 0, translate(err, "save settings")
	}
	return v, nil
}

// DB returns the database of the store, for opening the other stores of
// the same file.
func (s *BindingStore) DB() *DB { return s.db }
