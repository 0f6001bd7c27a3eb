package sentinel

import (
	"context"
	"encoding/json"
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

// Names of the stored settings fields (the settings table's name column).
const (
	settingEnforceMode  = "enforce_mode"
	settingFailsafeMode = "failsafe_mode"
	settingAlertCount   = "alert_threshold_count"
	settingAlertSeconds = "alert_threshold_seconds"
	settingAlertWebhook = "alert_webhook_url"
	settingArchiveDays  = "archive_days"
)

// Fields returns p's set fields as stored: name to JSON value, the form
// every settings store keeps, so stores share one encoding.
func (p SettingsPatch) Fields() map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, 6)
	put := func(name string, v any) {
		b, _ := json.Marshal(v) // strings and ints only
		out[name] = b
	}
	if p.EnforceMode != nil {
		put(settingEnforceMode, *p.EnforceMode)
	}
	if p.FailsafeMode != nil {
		put(settingFailsafeMode, *p.FailsafeMode)
	}
	if p.AlertThresholdCount != nil {
		put(settingAlertCount, *p.AlertThresholdCount)
	}
	if p.AlertWindow != nil {
		put(settingAlertSeconds, int64(*p.AlertWindow/time.Second))
	}
	if p.AlertWebhookURL != nil {
		put(settingAlertWebhook, *p.AlertWebhookURL)
	}
	if p.ArchiveDays != nil {
		put(settingArchiveDays, *p.ArchiveDays)
	}
	return out
}

// ParseSettingsFields is the inverse of Fields. Unknown names are skipped
// (a newer version may have stored them); a value that does not decode is
// EINTERNAL, naming the field.
func ParseSettingsFields(fields map[string]json.RawMessage) (SettingsPatch, error) {
	var p SettingsPatch
	for name, raw := range fields {
		var err error
		switch name {
		case settingEnforceMode:
			p.EnforceMode = new(Mode)
			err = json.Unmarshal(raw, p.EnforceMode)
		case settingFailsafeMode:
			p.FailsafeMode = new(FailsafeMode)
			err = json.Unmarshal(raw, p.FailsafeMode)
		case settingAlertCount:
			p.AlertThresholdCount = new(int)
			err = json.Unmarshal(raw, p.AlertThresholdCount)
		case settingAlertSeconds:
			var secs int64
			err = json.Unmarshal(raw, &secs)
			d := time.Duration(secs) * time.Second
			p.AlertWindow = &d
		case settingAlertWebhook:
			p.AlertWebhookURL = new(string)
			err = json.Unmarshal(raw, p.AlertWebhookURL)
		case settingArchiveDays:
			p.ArchiveDays = new(int)
			err = json.Unmarshal(raw, p.ArchiveDays)
		}
		if err != nil {
			return SettingsPatch{}, WrapError(EINTERNAL, err, "stored setting "+name+" is corrupt")
		}
	}
	return p, nil
}
