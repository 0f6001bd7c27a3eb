package sentinel

import (
	"context"
	"time"
)

// SettingsPatch changes some of the live settings; nil fields are left
// alone. It is what the admin API receives and what the store keeps: a
// field never set keeps following the environment's value.
type SettingsPatch struct {
	EnforceMode         *Mode
	FailsafeMode        *FailsafeMode
	AlertThresholdCount *int
	AlertWindow         *time.Duration
	AlertWebhookURL     *string
	ArchiveDays         *int
}

// IsZero reports whether p changes nothing.
func (p SettingsPatch) IsZero() bool { return p == SettingsPatch{} }

// Apply returns s with p's fields laid over it. It does not validate.
func (s Settings) Apply(p SettingsPatch) Settings {
	if p.EnforceMode != nil {
		s.EnforceMode = *p.EnforceMode
	}
	if p.FailsafeMode != nil {
		s.FailsafeMode = *p.FailsafeMode
	}
	if p.AlertThresholdCount != nil {
		s.AlertThresholdCount = *p.AlertThresholdCount
	}
	if p.AlertWindow != nil {
		s.AlertWindow = *p.AlertWindow
	}
	if p.AlertWebhookURL != nil {
		s.AlertWebhookURL = *p.AlertWebhookURL
	}
	if p.ArchiveDays != nil {
		s.ArchiveDays = *p.ArchiveDays
	}
	return s
}

// Merge returns p with o's set fields laid over it.
func (p SettingsPatch) Merge(o SettingsPatch) SettingsPatch {
	if o.EnforceMode != nil {
		p.EnforceMode = o.EnforceMode
	}
	if o.FailsafeMode != nil {
		p.FailsafeMode = o.FailsafeMode
	}
	if o.AlertThresholdCount != nil {
		p.AlertThresholdCount = o.AlertThresholdCount
	}
	if o.AlertWindow != nil {
		p.AlertWindow = o.AlertWindow
	}
	if o.AlertWebhookURL != nil {
		p.AlertWebhookURL = o.AlertWebhookURL
	}
	if o.ArchiveDays != nil {
		p.ArchiveDays = o.ArchiveDays
	}
	return p
}

// SettingsStore keeps the operator's live settings durably (the settings
// table). Every method may return EUNAVAILABLE.
type SettingsStore interface {
	// StoredSettings returns the fields ever saved and the store's
	// settings version: 0 when nothing was ever saved, growing with every
	// save, so a process can poll it cheaply to notice another's change.
	StoredSettings(ctx context.Context) (SettingsPatch, int64, error)

	// SettingsVersion returns the version StoredSettings would.
	SettingsVersion(ctx context.Context) (int64, error)

	// SaveSettings lays p over the stored fields and, when audit is not
	// nil, writes it in the same transaction. It returns the new version.
	// The caller validates the settings p results in.
	SaveSettings(ctx context.Context, p SettingsPatch, audit *AuditEntry) (int64, error)
}
