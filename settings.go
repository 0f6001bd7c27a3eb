package sentinel

import (
	"log/slog"
	"net/url"
	"sync/atomic"
	"time"
)

// Settings are the settings an operator can change while Sentinel runs
// (the admin API's live settings). Every process of a deployment holds the
// current ones in a LiveSettings; a change is stored durably and announced
// through the SettingsNotifier, and each process loads it into its own.
type Settings struct {
	// EnforceMode: enforce refuses what the rules refuse; monitor records
	// would-be refusals and refuses nothing.
	EnforceMode Mode
	// FailsafeMode is what key-bearing requests get when no decision can
	// be made because the stores are unreachable.
	FailsafeMode FailsafeMode
	// AlertThresholdCount refusals of one key within AlertWindow raise an alert.
	AlertThresholdCount int
	AlertWindow         time.Duration
	// AlertWebhookURL is where alerts are posted; empty sends none. It is a
	// secret (webhook URLs carry tokens): show only WebhookHost.
	AlertWebhookURL string
	// ArchiveDays: bindings unused this many days are archived; 0 never.
	ArchiveDays int
}

// Limits of live settings.
const (
	MaxAlertThresholdCount = 1_000_000
	MaxAlertWindow         = 30 * 24 * time.Hour
	MaxArchiveDays         = 36500
)

// Validate returns EINVALID naming the first bad field.
func (s Settings) Validate() error {
	if err := s.EnforceMode.Validate(); err != nil {
		return err
	}
	if err := s.FailsafeMode.Validate(); err != nil {
		return err
	}
	if s.AlertThresholdCount < 1 || s.AlertThresholdCount > MaxAlertThresholdCount {
		return Errorf(EINVALID, "alert threshold count must be from 1 to %d, got %d", MaxAlertThresholdCount, s.AlertThresholdCount)
	}
	if s.AlertWindow < time.Second || s.AlertWindow > MaxAlertWindow {
		return Errorf(EINVALID, "alert window must be from 1s to %v, got %v", MaxAlertWindow, s.AlertWindow)
	}
	if s.AlertWebhookURL != "" {
		if u, err := url.Parse(s.AlertWebhookURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return Errorf(EINVALID, "alert webhook URL must be an http:// or https:// URL with a host")
		}
	}
	if s.ArchiveDays < 0 || s.ArchiveDays > MaxArchiveDays {
		return Errorf(EINVALID, "archive days must be from 0 (never) to %d, got %d", MaxArchiveDays, s.ArchiveDays)
	}
	return nil
}

// LogValue shows the settings to log/slog with the webhook URL reduced
// to its host: the URL carries the receiver's token.
func (s Settings) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("enforce_mode", string(s.EnforceMode)), slog.String("failsafe_mode", string(s.FailsafeMode)),
		slog.Int("alert_threshold_count", s.AlertThresholdCount), slog.Duration("alert_window", s.AlertWindow),
		slog.String("alert_webhook_host", s.WebhookHost()), slog.Int("archive_days", s.ArchiveDays))
}

// String returns the settings as text, the webhook URL reduced to its
// host, so %v and %+v never print it either.
func (s Settings) String() string { return s.LogValue().String() }

// GoString is String, so %#v does not print the webhook URL either.
func (s Settings) GoString() string { return "sentinel.Settings" + s.String() }

// WebhookHost returns the host of the webhook URL, the only part of it
// that may be shown or logged; "" when none is set.
func (s Settings) WebhookHost() string {
	if s.AlertWebhookURL == "" {
		return ""
	}
	u, err := url.Parse(s.AlertWebhookURL)
	if err != nil {
		return ""
	}
	return u.Host
}

// LiveSettings holds a process's current Settings. It is the one home of
// the enforcement and failsafe modes: the Decider and the HTTP middleware
// read them from here on every request, so a change takes effect at once.
// Safe for concurrent use; the zero value is not usable, see NewLiveSettings.
type LiveSettings struct {
	p atomic.Pointer[Settings]
}

// NewLiveSettings returns a LiveSettings holding s. It returns EINVALID
// when s is not valid.
func NewLiveSettings(s Settings) (*LiveSettings, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	l := &LiveSettings{}
	l.p.Store(&s)
	return l, nil
}

// Load returns the current settings. The pointer is shared and read-only.
func (l *LiveSettings) Load() *Settings { return l.p.Load() }

// Store replaces the settings. It returns EINVALID, changing nothing, when
// s is not valid.
func (l *LiveSettings) Store(s Settings) error {
	if err := s.Validate(); err != nil {
		return err
	}
	l.p.Store(&s)
	return nil
}

// DefaultSettings returns the settings a deployment starts with when it
// configures none: enforce, failsafe closed, an alert for 5 refusals of
// one key within 5 minutes (posted nowhere), archive after 90 days.
func DefaultSettings() Settings {
	return Settings{
		EnforceMode: ModeEnforce, FailsafeMode: FailsafeClosed,
		AlertThresholdCount: 5, AlertWindow: 5 * time.Minute, ArchiveDays: 90,
	}
}

// MustLiveSettings returns a LiveSettings holding s and panics when s is
// not valid: for tests and examples with literal settings.
func MustLiveSettings(s Settings) *LiveSettings {
	l, err := NewLiveSettings(s)
	if err != nil {
		panic(err)
	}
	return l
}
