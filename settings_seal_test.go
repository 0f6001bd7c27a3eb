package sentinel_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	sentinel "github.com/keyipsentinel/sentinel"
)

// plainSettings is a SettingsStore keeping what it is given, to look at
// what a sealed store hands its inner store.
type plainSettings struct {
	p sentinel.SettingsPatch
	v int64
}

func (s *plainSettings) StoredSettings(context.Context) (sentinel.SettingsPatch, int64, error) {
	return s.p, s.v, nil
}
func (s *plainSettings) SettingsVersion(context.Context) (int64, error) { return s.v, nil }
func (s *plainSettings) SaveSettings(_ context.Context, p sentinel.SettingsPatch, _ *sentinel.AuditEntry) (int64, error) {
	s.p = s.p.Merge(p)
	s.v++
	return s.v, nil
}

func TestSealedSettingsNeverStoreTheWebhookURL(t *testing.T) {
	ctx := context.Background()
	secret := []byte("0123456789abcdef0123456789abcdef")
	const url = "https://hooks.example.com/services/T000/SECRETTOKEN"
	inner := &plainSettings{}
	s, err := sentinel.SealSettings(inner, secret)
	mustNoError(t, err)
	u := url
	_, err = s.SaveSettings(ctx, sentinel.SettingsPatch{AlertWebhookURL: &u}, nil)
	mustNoError(t, err)
	stored := *inner.p.AlertWebhookURL
	if strings.Contains(stored, "SECRETTOKEN") || strings.Contains(stored, "hooks.example.com") {
		t.Fatalf("the inner store holds the URL in plaintext: %q", stored)
	}
	got, _, err := s.StoredSettings(ctx)
	mustNoError(t, err)
	checkEqual(t, url, *got.AlertWebhookURL)

	t.Run("another secret cannot open it", func(t *testing.T) {
		other, err := sentinel.SealSettings(inner, []byte("another-secret-another-secret-000"))
		mustNoError(t, err)
		_, _, err = other.StoredSettings(ctx)
		checkEqual(t, sentinel.EINTERNAL, sentinel.ErrorCode(err))
		if strings.Contains(err.Error(), "SECRETTOKEN") {
			t.Fatalf("the error reveals the URL: %v", err)
		}
	})
	t.Run("plaintext from before sealing is read, and sealed on the next save", func(t *testing.T) {
		legacy := "https://old.example.com/hook"
		inner.p.AlertWebhookURL = &legacy
		got, _, err := s.StoredSettings(ctx)
		mustNoError(t, err)
		checkEqual(t, legacy, *got.AlertWebhookURL)
	})
	t.Run("clearing the URL stores empty", func(t *testing.T) {
		empty := ""
		_, err := s.SaveSettings(ctx, sentinel.SettingsPatch{AlertWebhookURL: &empty}, nil)
		mustNoError(t, err)
		checkEqual(t, "", *inner.p.AlertWebhookURL)
	})
}

func TestSettingsNeverPrintTheWebhookURL(t *testing.T) {
	s := sentinel.DefaultSettings()
	s.AlertWebhookURL = "https://hooks.example.com/services/T000/SECRETTOKEN"
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("settings", "s", s)
	for _, out := range []string{b.String(), fmt.Sprintf("%v %+v %s %#v", s, s, s, s)} {
		if strings.Contains(out, "SECRETTOKEN") {
			t.Fatalf("the webhook URL is printed: %s", out)
		}
		if !strings.Contains(out, "hooks.example.com") {
			t.Fatalf("the webhook host is not shown: %s", out)
		}
	}
}
