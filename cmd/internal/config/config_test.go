package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/cmd/internal/config"
)

// load runs the loader in a fresh directory with only the given
// environment (every Sentinel variable is cleared first) and flags.
func load(t *testing.T, env map[string]string, args ...string) (*config.Config, error) {
	t.Helper()
	t.Chdir(t.TempDir())
	for _, s := range config.Settings {
		t.Setenv(s.Name, "")
		os.Unsetenv(s.Name)
	}
	t.Setenv("SENTINEL_CONFIG", "")
	t.Setenv("SENTINEL_ENV_FILE", "")
	for k, v := range env {
		t.Setenv(k, v)
	}
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	l := config.NewLoader(fs)
	require.NoError(t, fs.Parse(args))
	return l.Load()
}

func TestDefaults(t *testing.T) {
	c, err := load(t, nil)
	require.NoError(t, err)
	assert.Equal(t, "http://127.0.0.1:3000", c.DownstreamURL.String())
	assert.Equal(t, "0.0.0.0:7000", c.ProxyAddr)
	assert.Equal(t, "127.0.0.1:7001", c.AdminAddr)
	assert.Equal(t, sentinel.FailsafeClosed, c.Failsafe)
	assert.Equal(t, sentinel.ModeEnforce, c.Mode)
	assert.Equal(t, sentinel.Granularity{IPv4Bits: 32, IPv6Bits: 64}, c.Granularity)
	assert.Equal(t, "5s", c.LastUsedInterval.String())
	assert.True(t, c.ForgetUnauth)
	assert.Equal(t, "X-Real-IP", c.ClientIPHeader)
	assert.Empty(t, c.PGDSN)
	assert.Equal(t, filepath.Join("data", "hmac.secret"), c.SecretSource)
	assert.Len(t, c.HMACSecret, 64)
}

func TestGeneratedSecretIsKeptAndReused(t *testing.T) {
	c1, err := load(t, nil)
	require.NoError(t, err)
	info, err := os.Stat(c1.SecretSource)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	fs := pflag.NewFlagSet("again", pflag.ContinueOnError)
	l := config.NewLoader(fs)
	require.NoError(t, fs.Parse(nil))
	c2, err := l.Load()
	require.NoError(t, err)
	assert.Equal(t, c1.HMACSecret, c2.HMACSecret, "a restart reuses the generated secret")
}

func TestSourcesOrder(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "sentinel.yaml")
	require.NoError(t, os.WriteFile(cfgFile, []byte("app_port: 7100\nsentinel_failsafe_mode: open\nlog_level: debug\ndownstream_url: http://from-file:1\n"), 0o600))
	c, err := load(t, map[string]string{"APP_PORT": "7300", "SENTINEL_CONFIG": cfgFile})
	require.NoError(t, err)
	assert.Equal(t, "0.0.0.0:7300", c.ProxyAddr, "the environment beats the config file")
	assert.Equal(t, "http://from-file:1", c.DownstreamURL.String())
	require.NoError(t, os.WriteFile(".env", []byte("APP_PORT=7200\nDOWNSTREAM_URL=http://from-dotenv:2\n"), 0o600))
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	l := config.NewLoader(fs)
	require.NoError(t, fs.Parse([]string{"--app-port", "7400"}))
	c, err = l.Load()
	require.NoError(t, err)
	assert.Equal(t, "0.0.0.0:7400", c.ProxyAddr, "flags beat the environment")
	assert.Equal(t, "http://from-dotenv:2", c.DownstreamURL.String(), ".env beats the config file")
	assert.Equal(t, sentinel.FailsafeOpen, c.Failsafe, "the config file beats defaults")

	fs = pflag.NewFlagSet("y", pflag.ContinueOnError)
	l = config.NewLoader(fs)
	require.NoError(t, fs.Parse(nil))
	c, err = l.Load()
	require.NoError(t, err)
	assert.Equal(t, "0.0.0.0:7300", c.ProxyAddr, "the environment beats .env")
}

func TestBadValuesNameTheVariable(t *testing.T) {
	_, err := load(t, map[string]string{
		"APP_PORT":               "seventy",
		"SENTINEL_FAILSAFE_MODE": "sideways",
		"DOWNSTREAM_URL":         "ftp://x",
		"TRUSTED_PROXY_IPS":      "10.0.0.0/8, bogus",
		"SENTINEL_IPV6_PREFIX":   "200",
		"LOG_FORMAT":             "xml",
	})
	require.Error(t, err)
	msg := err.Error()
	for _, want := range []string{
		`APP_PORT: must be a whole number from 1 to 65535, got "seventy"`,
		`SENTINEL_FAILSAFE_MODE: unknown failsafe mode "sideways"`,
		`DOWNSTREAM_URL: must be an http:// or https:// URL`,
		`TRUSTED_PROXY_IPS: "bogus" is not an IP address`,
		`SENTINEL_IPV6_PREFIX: must be a whole number from 1 to 128`,
		`LOG_FORMAT: must be one of text, json`,
	} {
		assert.Contains(t, msg, want)
	}
}

func TestSecretsAreCheckedAndNeverEchoed(t *testing.T) {
	_, err := load(t, map[string]string{"SENTINEL_HMAC_SECRET": "replace-with-a-random-32-byte-secret"})
	require.ErrorContains(t, err, "SENTINEL_HMAC_SECRET: is still the example placeholder")
	assert.NotContains(t, err.Error(), "replace-with-a-random")

	_, err = load(t, map[string]string{"SENTINEL_HMAC_SECRET": "tooshort-hunter2"})
	require.ErrorContains(t, err, "SENTINEL_HMAC_SECRET: must be at least 32 bytes long, got 16")
	assert.NotContains(t, err.Error(), "hunter2")

	_, err = load(t, map[string]string{"ADMIN_PASSWORD": "replace-with-a-strong-password", "ADMIN_JWT_SECRET": "short"})
	require.ErrorContains(t, err, "ADMIN_PASSWORD: is still the example placeholder")
	require.ErrorContains(t, err, "ADMIN_JWT_SECRET: must be at least 32 bytes")

	_, err = load(t, map[string]string{"PG_DSN": "postgresql+asyncpg://u:pw-secret@db:5432/sentinel"})
	require.ErrorContains(t, err, "SENTINEL_HMAC_SECRET: is required with PG_DSN")
	assert.NotContains(t, err.Error(), "pw-secret")

	c, err := load(t, map[string]string{"SENTINEL_HMAC_SECRET": strings.Repeat("k", 40)})
	require.NoError(t, err)
	assert.Equal(t, "SENTINEL_HMAC_SECRET", c.SecretSource)
}

func TestDSNForms(t *testing.T) {
	for in, want := range map[string]string{
		"postgresql+asyncpg://u:p@db:5432/sentinel":    "postgres://u:p@db:5432/sentinel",
		"postgresql://u:p@db/sentinel?sslmode=require": "postgres://u:p@db/sentinel?sslmode=require",
		"postgres://db/x":         "postgres://db/x",
		"host=db user=u dbname=x": "host=db user=u dbname=x",
	} {
		got, err := config.NormalizeDSN(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got)
	}
	for _, bad := range []string{"mysql://u:secretpw@db/x", "postgresql+odbc://u:secretpw@db/x", "nonsense", "postgres://"} {
		_, err := config.NormalizeDSN(bad)
		require.Error(t, err, bad)
		assert.NotContains(t, err.Error(), "secretpw")
	}
	assert.Equal(t, "postgres://u:xxxxx@db/x", config.RedactDSN("postgres://u:secretpw@db/x"))
}

func TestREADMEDocumentsEverySetting(t *testing.T) {
	readme, err := os.ReadFile("../../../README.md")
	require.NoError(t, err)
	for _, s := range config.Settings {
		assert.Contains(t, string(readme), "`"+s.Name+"`", "README's configuration table lacks %s", s.Name)
	}
}
