package config_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyipsentinel/sentinel/cmd/internal/config"
)

func TestOperationsSettings(t *testing.T) {
	t.Parallel()
	c, err := load(t, t.TempDir(), nil)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:9090", c.MetricsAddr)
	assert.False(t, c.AccessLog)
	assert.Equal(t, 180, c.LogRetentionDays)
	assert.Equal(t, time.Hour, c.ArchiveInterval)
	assert.Equal(t, "auto", c.AlertWebhookFormat)
	assert.Empty(t, c.AlertWebhookSecret)
	assert.False(t, c.AlertAllowPrivate)
	assert.Empty(t, c.PublicURL)

	c, err = load(t, t.TempDir(), map[string]string{
		"SENTINEL_METRICS_ADDR": "off", "SENTINEL_ACCESS_LOG": "true", "LOG_RETENTION_DAYS": "0",
		"SENTINEL_ARCHIVE_INTERVAL": "15m", "ALERT_WEBHOOK_FORMAT": "DingTalk", "ALERT_WEBHOOK_SECRET": "s3",
		"ALERT_WEBHOOK_ALLOW_PRIVATE": "true", "SENTINEL_PUBLIC_URL": "https://sentinel.example.com/",
	})
	require.NoError(t, err)
	assert.Empty(t, c.MetricsAddr, "off")
	assert.True(t, c.AccessLog)
	assert.Equal(t, 0, c.LogRetentionDays)
	assert.Equal(t, 15*time.Minute, c.ArchiveInterval)
	assert.Equal(t, "dingtalk", c.AlertWebhookFormat)
	assert.Equal(t, "s3", c.AlertWebhookSecret)
	assert.True(t, c.AlertAllowPrivate)
	assert.Equal(t, "https://sentinel.example.com/", c.PublicURL)

	c, err = load(t, t.TempDir(), nil, "--metrics-addr", ":9100")
	require.NoError(t, err)
	assert.Equal(t, ":9100", c.MetricsAddr)

	for _, tc := range []struct{ name, value, want string }{
		{"SENTINEL_METRICS_ADDR", "9090", "SENTINEL_METRICS_ADDR: must be host:port"},
		{"SENTINEL_METRICS_ADDR", "127.0.0.1:99999", "SENTINEL_METRICS_ADDR: must be host:port"},
		{"SENTINEL_ACCESS_LOG", "sometimes", "SENTINEL_ACCESS_LOG: must be true or false"},
		{"LOG_RETENTION_DAYS", "-1", "LOG_RETENTION_DAYS: must be a whole number from 0"},
		{"SENTINEL_ARCHIVE_INTERVAL", "1s", "SENTINEL_ARCHIVE_INTERVAL: must be a duration from 1m0s"},
		{"ALERT_WEBHOOK_FORMAT", "teams", "ALERT_WEBHOOK_FORMAT: must be one of auto, generic"},
		{"ALERT_WEBHOOK_SECRET", "replace-with-secret", "ALERT_WEBHOOK_SECRET: is still the example placeholder"},
		{"ALERT_WEBHOOK_ALLOW_PRIVATE", "maybe", "ALERT_WEBHOOK_ALLOW_PRIVATE: must be true or false"},
		{"SENTINEL_PUBLIC_URL", "sentinel.example.com", "SENTINEL_PUBLIC_URL: must be an http:// or https:// URL"},
	} {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			t.Parallel()
			_, err := load(t, t.TempDir(), map[string]string{tc.name: tc.value})
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestMasked(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "unset", config.Masked(""))
	assert.Equal(t, "•••• (6 bytes)", config.Masked("abcdef"))
}
