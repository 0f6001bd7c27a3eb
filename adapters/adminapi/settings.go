package adminapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	sentinel "github.com/keyipsentinel/sentinel"
)

// SettingsDTO are the live settings as shown. The webhook URL is
// write-only: it carries a token, so only whether one is set and its host
// are shown.
type SettingsDTO struct {
	EnforceMode           string `json:"enforce_mode" enum:"enforce,monitor"`
	FailsafeMode          string `json:"failsafe_mode" enum:"closed,open"`
	AlertThresholdCount   int    `json:"alert_threshold_count" example:"5"`
	AlertThresholdSeconds int    `json:"alert_threshold_seconds" example:"300"`
	AlertWebhookSet       bool   `json:"alert_webhook_set"`
	AlertWebhookHost      string `json:"alert_webhook_host" example:"hooks.example.com"`
	ArchiveDays           int    `json:"archive_days" example:"90"`
}

func toSettingsDTO(s sentinel.Settings) SettingsDTO {
	return SettingsDTO{
		EnforceMode: string(s.EnforceMode), FailsafeMode: string(s.FailsafeMode),
		AlertThresholdCount: s.AlertThresholdCount, AlertThresholdSeconds: int(s.AlertWindow / time.Second),
		AlertWebhookSet: s.AlertWebhookURL != "", AlertWebhookHost: s.WebhookHost(), ArchiveDays: s.ArchiveDays,
	}
}

// SettingsOutput are the live settings.
type SettingsOutput struct{ Body SettingsDTO }

// PutSettingsInput changes any subset of the live settings.
type PutSettingsInput struct {
	Body struct {
		EnforceMode           *string `json:"enforce_mode,omitempty" enum:"enforce,monitor" doc:"monitor records would-be refusals and refuses nothing."`
		FailsafeMode          *string `json:"failsafe_mode,omitempty" enum:"closed,open" doc:"What key-bearing requests get when no store can decide."`
		AlertThresholdCount   *int    `json:"alert_threshold_count,omitempty" minimum:"1" maximum:"1000000"`
		AlertThresholdSeconds *int    `json:"alert_threshold_seconds,omitempty" minimum:"1" maximum:"2592000"`
		AlertWebhookURL       *string `json:"alert_webhook_url,omitempty" maxLength:"2048" doc:"http(s) URL alerts are posted to; empty string removes it. Never shown back." example:"https://hooks.example.com/services/T000/B000/XXXX"`
		ArchiveDays           *int    `json:"archive_days,omitempty" minimum:"0" maximum:"36500" doc:"Archive bindings unused this many days; 0 never."`
	}
}

func (s *Server) registerSettings() {
	tags := []string{"settings"}
	huma.Register(s.api, huma.Operation{
		OperationID: "getSettings", Method: http.MethodGet, Path: Prefix + "/settings",
		Summary: "Get the live settings", Tags: tags, Security: secured,
		Errors: []int{http.StatusUnauthorized, http.StatusServiceUnavailable},
	}, func(ctx context.Context, _ *struct{}) (*SettingsOutput, error) {
		cur, _, err := s.opts.Follower.Current(ctx)
		if err != nil {
			return nil, s.httpError(ctx, err)
		}
		return &SettingsOutput{Body: toSettingsDTO(cur)}, nil
	})
	huma.Register(s.api, huma.Operation{
		OperationID: "putSettings", Method: http.MethodPut, Path: Prefix + "/settings",
		Summary: "Change live settings", Tags: tags, Security: secured,
		Description: "Takes any subset of the fields. The change is stored, audited, and reaches every process within a second.",
		Errors:      []int{http.StatusUnauthorized, http.StatusUnprocessableEntity, http.StatusServiceUnavailable},
	}, s.putSettings)
}

func (s *Server) putSettings(ctx context.Context, in *PutSettingsInput) (*SettingsOutput, error) {
	b := in.Body
	var p sentinel.SettingsPatch
	if b.EnforceMode != nil {
		m := sentinel.Mode(*b.EnforceMode)
		p.EnforceMode = &m
	}
	if b.FailsafeMode != nil {
		m := sentinel.FailsafeMode(*b.FailsafeMode)
		p.FailsafeMode = &m
	}
	p.AlertThresholdCount = b.AlertThresholdCount
	if b.AlertThresholdSeconds != nil {
		d := time.Duration(*b.AlertThresholdSeconds) * time.Second
		p.AlertWindow = &d
	}
	if b.AlertWebhookURL != nil {
		probe := sentinel.Settings{AlertWebhookURL: *b.AlertWebhookURL}
		if err := validWebhook(probe); err != nil {
			return nil, invalid("body.alert_webhook_url", nil, err)
		}
		p.AlertWebhookURL = b.AlertWebhookURL
	}
	p.ArchiveDays = b.ArchiveDays

	before, _, err := s.opts.Follower.Current(ctx)
	if err != nil {
		return nil, s.httpError(ctx, err)
	}
	after := before.Apply(p)
	if err := after.Validate(); err != nil {
		return nil, s.httpError(ctx, err)
	}
	a := s.audit(ctx, sentinel.AuditSettings, "settings")
	a.Before, _ = json.Marshal(toSettingsDTO(before))
	a.After, _ = json.Marshal(toSettingsDTO(after))
	if _, err := s.opts.Settings.SaveSettings(ctx, p, a); err != nil {
		return nil, s.httpError(ctx, err)
	}
	if err := s.opts.Follower.Reload(ctx); err != nil {
		s.opts.Logger.WarnContext(ctx, "admin API: settings saved but not reloaded here", "error", err)
	}
	if s.opts.Notifier != nil {
		if err := s.opts.Notifier.NotifySettingsChanged(ctx); err != nil {
			// Saved all the same; processes polling the version or
			// reconnecting to the notifier still pick it up.
			s.opts.Logger.WarnContext(ctx, "admin API: settings change not announced", "error", err)
		}
	}
	s.opts.Logger.InfoContext(ctx, "admin changed settings", "session", sessionOf(ctx).ID)
	return &SettingsOutput{Body: toSettingsDTO(after)}, nil
}

// validWebhook checks the webhook URL alone, so its error names it; the
// message never repeats the URL.
func validWebhook(probe sentinel.Settings) error {
	if probe.AlertWebhookURL == "" {
		return nil
	}
	probe.EnforceMode, probe.FailsafeMode = sentinel.ModeEnforce, sentinel.FailsafeClosed
	probe.AlertThresholdCount, probe.AlertWindow = 1, time.Second
	return probe.Validate()
}
