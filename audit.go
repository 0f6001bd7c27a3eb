package sentinel

import (
	"context"
	"encoding/json"
	"net/netip"
	"time"
)

// AuditAction names what an operator did.
type AuditAction string

// Audited actions: every change made through the admin API.
const (
	AuditUnbind   AuditAction = "unbind"
	AuditSetRule  AuditAction = "set_rule"
	AuditBan      AuditAction = "ban"
	AuditUnban    AuditAction = "unban"
	AuditSettings AuditAction = "settings"
	// AuditRestore is restoring an archived binding.
	AuditRestore AuditAction = "restore"
	// AuditWebhookTest is a test send to a webhook (After names its host only).
	AuditWebhookTest AuditAction = "webhook_test"
)

// ConcernsBinding reports whether the action changed one binding (its
// entry's Target is the binding id), not the settings.
func (a AuditAction) ConcernsBinding() bool {
	switch a {
	case AuditSettings, AuditWebhookTest:
		return false
	}
	return true
}

// AuditEntry is one row of the admin audit log: who changed what, with the
// state before and after. Before and After are JSON documents; for a
// binding change the store fills them from the rows it changes (see
// AuditBinding), in the same transaction, so they are exactly what changed.
// They never hold a secret: keys are not stored anywhere, and a webhook URL
// appears only as its host.
type AuditEntry struct {
	ID       int64      // assigned by the store
	Actor    string     // the admin session id (the JWT's jti)
	ClientIP netip.Addr // where the admin request came from
	Action   AuditAction
	Target   string // the binding id (hex key hash), or "settings"
	Before   json.RawMessage
	After    json.RawMessage
	At       time.Time // set by the caller; the store uses now when zero
}

// AuditBinding returns the JSON form of b kept in audit entries: the fields
// an operator can change, and its id and hint to recognise it.
func AuditBinding(b Binding) json.RawMessage {
	type rule struct {
		Kind     RuleKind `json:"kind"`
		Prefixes []string `json:"prefixes"`
		Limit    int      `json:"limit,omitempty"`
	}
	v := struct {
		ID      string `json:"id"`
		KeyHint string `json:"key_hint"`
		Rule    rule   `json:"rule"`
		Status  Status `json:"status"`
	}{ID: b.Key.String(), KeyHint: b.Hint, Status: b.Status,
		Rule: rule{Kind: b.Rule.Kind, Prefixes: make([]string, 0, len(b.Rule.Prefixes)), Limit: b.Rule.Limit}}
	for _, p := range b.Rule.Prefixes {
		v.Rule.Prefixes = append(v.Rule.Prefixes, FormatPrefix(p))
	}
	out, _ := json.Marshal(v) // cannot fail: plain strings and ints
	return out
}

// AuditFilter selects audit entries for listing. Zero fields match all.
type AuditFilter struct {
	Since time.Time // inclusive
	Until time.Time // exclusive

	Offset int
	Limit  int // 0 means DefaultPageSize; at most MaxPageSize
}

// Validate returns EINVALID for a filter no store can apply.
func (f AuditFilter) Validate() error {
	if f.Offset < 0 {
		return Errorf(EINVALID, "offset must not be negative")
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && f.Until.Before(f.Since) {
		return Errorf(EINVALID, "until must not be before since")
	}
	return nil
}

// AuditStore reads the admin audit log. Entries are written only together
// with the change they describe (BindingUpdate.Audit,
// AuditedBindingDeleter, SettingsStore.SaveSettings). Every method may
// return EUNAVAILABLE.
type AuditStore interface {
	// ListAudit returns one page of the entries matching f, newest first,
	// and how many match in all. EINVALID for a bad filter.
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, int, error)
}

// AuditWriter appends an audit entry on its own, for admin actions whose
// change is not a single store transaction the entry can join: restoring
// an archived binding (written right after the restore) and a webhook test
// send (which changes nothing). It may return EUNAVAILABLE.
type AuditWriter interface {
	AppendAudit(ctx context.Context, a AuditEntry) error
}

// AuditedBindingDeleter is implemented by binding stores that can delete a
// binding and write its audit entry in one transaction: the authoritative
// stores, and the caches wrapping them, which pass the call through and
// forget the key as DeleteBinding does. The admin API needs it for unbind.
type AuditedBindingDeleter interface {
	// DeleteBindingAudited is DeleteBinding that also stores audit (its
	// Before filled with the deleted binding, After with null) in the same
	// transaction: both happen or neither. Same errors as DeleteBinding.
	DeleteBindingAudited(ctx context.Context, key KeyHash, version int64, audit AuditEntry) (Binding, error)
}
