package app_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyipsentinel/sentinel/cmd/internal/app"
)

func TestConfigCheck(t *testing.T) {
	const (
		pgPassword = "pg-pass-Secret99"
		webhookTok = "hook-token-Secret77"
		alertSec   = "alert-signing-Secret55"
	)
	full := map[string]string{
		"PG_DSN":               "postgresql+asyncpg://sentinel:" + pgPassword + "@db:5432/sentinel",
		"SENTINEL_HMAC_SECRET": hmacSecret,
		"ALERT_WEBHOOK_URL":    "https://hooks.example.com/services/" + webhookTok,
		"ALERT_WEBHOOK_SECRET": alertSec,
		"REDIS_PASSWORD":       "redis-Secret33",
		"SENTINEL_ACCESS_LOG":  "true",
	}
	for _, b := range []struct {
		binary app.Binary
		name   string
	}{{app.AllInOne, "sentinel"}, {app.ProxyOnly, "sentinel-proxy"}, {app.AdminOnly, "sentinel-admin"}, {app.ArchiverOnly, "sentinel-archiver"}} {
		t.Run(b.name, func(t *testing.T) {
			dir := t.TempDir()
			r := run(t, context.Background(), b.binary, b.name, dir, full, "config", "check", "--log-level", "debug")
			require.Equal(t, 0, r.code, r.stderr)
			for _, secret := range []string{pgPassword, webhookTok, alertSec, "redis-Secret33", hmacSecret} {
				assert.NotContains(t, r.stdout+r.stderr, secret)
			}
			for _, want := range []string{
				"SENTINEL_HMAC_SECRET", "•••• (" + strconv.Itoa(len(hmacSecret)) + " bytes)", "environment",
				"postgres://sentinel:xxxxx@db:5432/sentinel", "LOG_LEVEL", "debug", "flag",
				"SENTINEL_METRICS_ADDR", "127.0.0.1:9090", "default", "SENTINEL_ACCESS_LOG", "configuration OK",
			} {
				assert.Contains(t, r.stdout, want)
			}
			assert.Regexp(t, `ADMIN_PASSWORD\s+unset\s+default`, r.stdout)
			assert.Empty(t, dirEntries(t, dir), "config check generates no secret")
		})
	}
	t.Run("bad values exit 2 naming them", func(t *testing.T) {
		r := run(t, context.Background(), app.ProxyOnly, "sentinel-proxy", t.TempDir(),
			map[string]string{"SENTINEL_METRICS_ADDR": "nine-thousand", "ALERT_WEBHOOK_FORMAT": "teams", "ALERT_WEBHOOK_SECRET": "replace-with-x"}, "config", "check")
		require.Equal(t, 2, r.code)
		assert.Contains(t, r.stderr, "SENTINEL_METRICS_ADDR: must be host:port")
		assert.Contains(t, r.stderr, "ALERT_WEBHOOK_FORMAT: must be one of")
		assert.Contains(t, r.stderr, "ALERT_WEBHOOK_SECRET: is still the example placeholder")
		assert.NotContains(t, r.stdout, "configuration OK")
	})
	t.Run("usage", func(t *testing.T) {
		r := run(t, context.Background(), app.ProxyOnly, "sentinel-proxy", t.TempDir(), nil, "config")
		require.Equal(t, 2, r.code)
		assert.Contains(t, r.stderr, "config check")
	})
}

func TestHealthcheck(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ready" {
			io.WriteString(w, `{"status":"ok"}`)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	for _, tc := range []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"2xx", []string{"healthcheck", srv.URL + "/ready"}, 0, `200 OK {"status":"ok"}`},
		{"503", []string{"healthcheck", srv.URL + "/other"}, 1, "503 Service Unavailable"},
		{"unreachable", []string{"healthcheck", "http://127.0.0.1:1/ready"}, 1, "unreachable"},
		{"no url", []string{"healthcheck"}, 2, ""},
		{"not http", []string{"healthcheck", "tcp://x"}, 2, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, context.Background(), app.ArchiverOnly, "sentinel-archiver", t.TempDir(), nil, tc.args...)
			require.Equal(t, tc.code, r.code, r.stdout+r.stderr)
			require.Contains(t, r.stdout, tc.out)
		})
	}
}
