package config_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/cmd/internal/config"
)

const (
	pgDSN      = "postgresql+asyncpg://u:pw-secret@db:5432/sentinel"
	goodSecret = "0123456789abcdef0123456789abcdef-hmac"
)

// mapEnv is an injected environment.
func mapEnv(env map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}
}

// load runs the loader with dir as its working directory, exactly env as
// its environment, and args as its flags. The process's own environment
// and working directory play no part, so the tests run in parallel.
func load(t *testing.T, dir string, env map[string]string, args ...string) (*config.Config, error) {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	l := config.NewLoader(fs, config.Environment{LookupEnv: mapEnv(env), Dir: dir})
	require.NoError(t, fs.Parse(args))
	return l.Load()
}

func write(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
}

// files lists what dir holds, relative to it.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var got []string
	require.NoError(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && p != dir {
			rel, _ := filepath.Rel(dir, p)
			got = append(got, rel)
		}
		return err
	}))
	return got
}

func TestDefaultsAndLoadingWritesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c, err := load(t, dir, nil)
	require.NoError(t, err)
	assert.Equal(t, "http://127.0.0.1:3000", c.DownstreamURL.String())
	assert.Equal(t, "0.0.0.0:7000", c.ProxyAddr)
	assert.Equal(t, "127.0.0.1:7001", c.AdminAddr)
	assert.Equal(t, sentinel.FailsafeClosed, c.Failsafe)
	assert.Equal(t, sentinel.ModeEnforce, c.Mode)
	assert.Equal(t, sentinel.Granularity{IPv4Bits: 32, IPv6Bits: 64}, c.Granularity)
	assert.Equal(t, "5s", c.LastUsedInterval.String())
	assert.Equal(t, "2s", c.StoreTimeout.String())
	assert.True(t, c.ForgetUnauth)
	assert.Equal(t, "X-Real-IP", c.ClientIPHeader)
	assert.Empty(t, c.PGDSN)
	assert.Equal(t, filepath.Join(dir, "data"), c.DataDir)
	assert.Equal(t, "12h0m0s", c.AdminSessionTTL.String())
	assert.Equal(t, 5, c.AdminLoginMaxFailures)
	assert.Equal(t, "15m0s", c.AdminLoginLockout.String())
	assert.Nil(t, c.HMACSecret, "generating a secret is EnsureSecrets' job")
	assert.Empty(t, c.AdminPassword)
	assert.Empty(t, files(t, dir), "loading writes no file")
}

// TestSourcesOrder: defaults < config file < .env < environment < flags,
// one source added per case.
func TestSourcesOrder(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                  string
		file, dotenv, envPort string
		flag                  bool
		want                  string
	}{
		{name: "default", want: "0.0.0.0:7000"},
		{name: "config file beats default", file: "7100", want: "0.0.0.0:7100"},
		{name: ".env beats config file", file: "7100", dotenv: "7200", want: "0.0.0.0:7200"},
		{name: "environment beats .env", file: "7100", dotenv: "7200", envPort: "7300", want: "0.0.0.0:7300"},
		{name: "flag beats environment", file: "7100", dotenv: "7200", envPort: "7300", flag: true, want: "0.0.0.0:7400"},
		{name: "empty environment is unset", file: "7100", dotenv: "7200", envPort: "", want: "0.0.0.0:7200"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			env := map[string]string{}
			if tc.file != "" {
				write(t, filepath.Join(dir, "sentinel.yaml"), "app_port: "+tc.file+"\nlog_level: debug\n")
				env["SENTINEL_CONFIG"] = "sentinel.yaml" // relative to the working directory
			}
			if tc.dotenv != "" {
				write(t, filepath.Join(dir, ".env"), "APP_PORT="+tc.dotenv+"\nCOMPOSE_PROJECT_NAME=other-programs-names-are-fine\n")
			}
			env["APP_PORT"] = tc.envPort
			var args []string
			if tc.flag {
				args = []string{"--app-port", "7400"}
			}
			c, err := load(t, dir, env, args...)
			require.NoError(t, err)
			assert.Equal(t, tc.want, c.ProxyAddr)
		})
	}
}

func TestExplicitFilesAndLocators(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "prod.env"), "SENTINEL_FAILSAFE_MODE=open\n")
	write(t, filepath.Join(dir, "s.toml"), "log_format = \"json\"\n")
	c, err := load(t, dir, nil, "--env-file", "prod.env", "--config", filepath.Join(dir, "s.toml"))
	require.NoError(t, err)
	assert.Equal(t, sentinel.FailsafeOpen, c.Failsafe)
	assert.Equal(t, "json", c.LogFormat)

	_, err = load(t, dir, map[string]string{"SENTINEL_ENV_FILE": "missing.env"})
	require.ErrorContains(t, err, "--env-file (SENTINEL_ENV_FILE)")
	_, err = load(t, dir, nil, "--config", "missing.yaml")
	require.ErrorContains(t, err, "--config (SENTINEL_CONFIG)")
}

func TestConfigFileTyposAreRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "s.yaml"), "app_prot: 7100\nsentinel_failsafe: open\nlog_level: debug\n")
	_, err := load(t, dir, map[string]string{"SENTINEL_CONFIG": "s.yaml"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "unknown setting(s) APP_PROT, SENTINEL_FAILSAFE")
	assert.NotContains(t, err.Error(), "LOG_LEVEL")
}

func TestBadValuesNameTheVariable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, value, want string }{
		{"APP_PORT", "seventy", `APP_PORT: must be a whole number from 1 to 65535, got "seventy"`},
		{"ADMIN_PORT", "70000", `ADMIN_PORT: must be a whole number from 1 to 65535, got "70000"`},
		{"SENTINEL_FAILSAFE_MODE", "sideways", `SENTINEL_FAILSAFE_MODE: unknown failsafe mode "sideways"`},
		{"SENTINEL_ENFORCE_MODE", "lax", `SENTINEL_ENFORCE_MODE: `},
		{"DOWNSTREAM_URL", "ftp://x", `DOWNSTREAM_URL: must be an http:// or https:// URL`},
		{"DOWNSTREAM_URL", "http://x/?q=1", `DOWNSTREAM_URL: must not have a query or fragment`},
		{"TRUSTED_PROXY_IPS", "10.0.0.0/8, bogus", `TRUSTED_PROXY_IPS: "bogus" is not an IP address`},
		{"SENTINEL_CLIENT_IP_HEADER", "X Real", `SENTINEL_CLIENT_IP_HEADER: must be an HTTP header name`},
		{"SENTINEL_IPV4_PREFIX", "0", `SENTINEL_IPV4_PREFIX: must be a whole number from 1 to 32`},
		{"SENTINEL_IPV6_PREFIX", "200", `SENTINEL_IPV6_PREFIX: must be a whole number from 1 to 128`},
		{"SENTINEL_LEARN_LIMIT", "-1", `SENTINEL_LEARN_LIMIT: must be a whole number from 0`},
		{"SENTINEL_FORGET_UNAUTHORIZED", "maybe", `SENTINEL_FORGET_UNAUTHORIZED: must be true or false, got "maybe"`},
		{"SENTINEL_LAST_USED_INTERVAL", "1ms", `SENTINEL_LAST_USED_INTERVAL: must be a duration from 100ms to 1h0m0s`},
		{"SENTINEL_CACHE_TTL", "forever", `SENTINEL_CACHE_TTL: must be a duration`},
		{"SENTINEL_STORE_TIMEOUT", "2 s", `SENTINEL_STORE_TIMEOUT: must be a duration`},
		{"SENTINEL_MIGRATE", "yes please", `SENTINEL_MIGRATE: must be true or false`},
		{"SENTINEL_SHUTDOWN_TIMEOUT", "-1s", `SENTINEL_SHUTDOWN_TIMEOUT: must be a duration`},
		{"SENTINEL_DATA_DIR", "./data?x", `SENTINEL_DATA_DIR: must not contain ? or #`},
		{"PG_DSN", "mysql://u:pw-secret@db/x", `PG_DSN: must be a postgres:// or postgresql:// URL`},
		{"ADMIN_SESSION_TTL", "1s", `ADMIN_SESSION_TTL: must be a duration from 1m0s to 720h0m0s (such as 5s or 2m), got "1s"`},
		{"ADMIN_LOGIN_MAX_FAILURES", "0", `ADMIN_LOGIN_MAX_FAILURES: must be a whole number from 1 to 1000, got "0"`},
		{"ADMIN_LOGIN_LOCKOUT", "a while", `ADMIN_LOGIN_LOCKOUT: must be a duration`},
		{"ALERT_WEBHOOK_URL", "slack-token-pw-secret", `ALERT_WEBHOOK_URL: must be an http:// or https:// URL with a host`},
		{"ALERT_THRESHOLD_COUNT", "0", `ALERT_THRESHOLD_COUNT: must be a whole number from 1`},
		{"ALERT_THRESHOLD_SECONDS", "x", `ALERT_THRESHOLD_SECONDS: must be a whole number`},
		{"ARCHIVE_DAYS", "-5", `ARCHIVE_DAYS: must be a whole number from 0 to 36500`},
		{"LOG_LEVEL", "loud", `LOG_LEVEL: must be debug, info, warn or error, got "loud"`},
		{"LOG_FORMAT", "xml", `LOG_FORMAT: must be one of text, json`},
	} {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			t.Parallel()
			_, err := load(t, t.TempDir(), map[string]string{tc.name: tc.value})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "pw-secret", "a secret value is never echoed")
		})
	}

	t.Run("every problem at once", func(t *testing.T) {
		t.Parallel()
		_, err := load(t, t.TempDir(), map[string]string{"APP_PORT": "x", "LOG_FORMAT": "xml"}, "--admin-login-lockout", "soon")
		require.Error(t, err)
		for _, want := range []string{"APP_PORT:", "LOG_FORMAT:", "ADMIN_LOGIN_LOCKOUT:"} {
			assert.Contains(t, err.Error(), want)
		}
	})
}

func TestPlaceholdersAndShortSecretsAreRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, value, want string }{
		{"SENTINEL_HMAC_SECRET", "replace-with-a-random-32-byte-secret", "SENTINEL_HMAC_SECRET: is still the example placeholder"},
		{"SENTINEL_HMAC_SECRET", "tooshort-hunter2", "SENTINEL_HMAC_SECRET: must be at least 32 bytes long, got 16"},
		{"ADMIN_PASSWORD", "replace-with-a-strong-password", "ADMIN_PASSWORD: is still the example placeholder"},
		{"ADMIN_PASSWORD", "changeme", "ADMIN_PASSWORD: is still the example placeholder"},
		{"ADMIN_PASSWORD", "hunter2", "ADMIN_PASSWORD: must be at least 8 bytes long, got 7"},
		{"ADMIN_JWT_SECRET", "REPLACE_WITH_SOMETHING", "ADMIN_JWT_SECRET: is still the example placeholder"},
		{"ADMIN_JWT_SECRET", "short-hunter2", "ADMIN_JWT_SECRET: must be at least 32 bytes"},
	} {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			t.Parallel()
			_, err := load(t, t.TempDir(), map[string]string{tc.name: tc.value})
			require.ErrorContains(t, err, tc.want)
			assert.NotContains(t, err.Error(), tc.value)
		})
	}
	c, err := load(t, t.TempDir(), map[string]string{"SENTINEL_HMAC_SECRET": goodSecret})
	require.NoError(t, err)
	assert.Equal(t, "SENTINEL_HMAC_SECRET", c.SecretSource)
	assert.Equal(t, []byte(goodSecret), c.HMACSecret)
}

// ensure loads with env in dir, then runs EnsureSecrets for needs and
// returns what it printed.
func ensure(t *testing.T, dir string, env map[string]string, needs config.Needs) (*config.Config, string, error) {
	t.Helper()
	c, err := load(t, dir, env)
	require.NoError(t, err)
	var out bytes.Buffer
	err = config.EnsureSecrets(c, needs, &out)
	return c, out.String(), err
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	info, err := os.Stat(path)
	require.NoError(t, err)
	return info.Mode().Perm()
}

func TestEnsureSecretsInTheEmbeddedDefault(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	all := config.Needs{HMAC: true, Admin: true}
	c1, out, err := ensure(t, dir, nil, all)
	require.NoError(t, err)
	data := filepath.Join(dir, "data")
	assert.ElementsMatch(t, []string{"data", "data/hmac.secret", "data/admin.password", "data/admin-jwt.secret"}, files(t, dir))
	for _, f := range []string{"hmac.secret", "admin.password", "admin-jwt.secret"} {
		assert.Equal(t, os.FileMode(0o600), mode(t, filepath.Join(data, f)), f)
	}
	assert.Equal(t, filepath.Join(data, "hmac.secret"), c1.SecretSource)
	assert.Len(t, c1.HMACSecret, 64)
	assert.Len(t, c1.AdminJWTSecret, 64)
	assert.GreaterOrEqual(t, len(c1.AdminPassword), 16)
	assert.True(t, c1.AdminPasswordGenerated)
	assert.Equal(t, 1, strings.Count(out, c1.AdminPassword), "the start that generated the password prints it")
	assert.NotContains(t, out, c1.AdminJWTSecret)
	assert.NotContains(t, out, string(c1.HMACSecret))

	c2, out, err := ensure(t, dir, nil, all)
	require.NoError(t, err)
	assert.Empty(t, out, "a restart prints no password")
	assert.False(t, c2.AdminPasswordGenerated)
	assert.Equal(t, c1.HMACSecret, c2.HMACSecret, "a restart reuses the generated secrets")
	assert.Equal(t, c1.AdminPassword, c2.AdminPassword)
	assert.Equal(t, c1.AdminJWTSecret, c2.AdminJWTSecret)

	t.Run("a file readable by others is restricted", func(t *testing.T) {
		require.NoError(t, os.Chmod(filepath.Join(data, "admin.password"), 0o644))
		_, _, err := ensure(t, dir, nil, all)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), mode(t, filepath.Join(data, "admin.password")))
	})
	t.Run("a damaged file names the variable", func(t *testing.T) {
		write(t, filepath.Join(data, "admin-jwt.secret"), "short\n")
		_, _, err := ensure(t, dir, nil, all)
		require.ErrorContains(t, err, "ADMIN_JWT_SECRET: is unset and the generated one at")
		assert.Contains(t, err.Error(), "fewer than 32")
	})
}

func TestEnsureSecretsWritesOnlyWhatTheCommandNeeds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		env   map[string]string
		needs config.Needs
		files []string
	}{
		{name: "migrate, embedded", needs: config.Needs{}},
		{name: "migrate on PostgreSQL", env: map[string]string{"PG_DSN": pgDSN}, needs: config.Needs{}},
		{name: "proxy only, embedded", needs: config.Needs{HMAC: true}, files: []string{"data", "data/hmac.secret"}},
		{name: "proxy only on PostgreSQL needs no admin secret", env: map[string]string{"PG_DSN": pgDSN, "SENTINEL_HMAC_SECRET": goodSecret}, needs: config.Needs{HMAC: true}},
		{name: "configured secrets are used, not files", env: map[string]string{
			"SENTINEL_HMAC_SECRET": goodSecret, "ADMIN_PASSWORD": "correct horse", "ADMIN_JWT_SECRET": goodSecret + "-jwt",
		}, needs: config.Needs{HMAC: true, Admin: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			c, out, err := ensure(t, dir, tc.env, tc.needs)
			require.NoError(t, err)
			assert.Empty(t, out)
			assert.ElementsMatch(t, tc.files, files(t, dir))
			assert.False(t, c.AdminPasswordGenerated)
			if v := tc.env["ADMIN_PASSWORD"]; v != "" {
				assert.Equal(t, v, c.AdminPassword)
			}
		})
	}
}

func TestEnsureSecretsWithPostgresRequiresThem(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		env     map[string]string
		needs   config.Needs
		want    []string
		notWant []string
	}{
		{name: "proxy", env: map[string]string{"PG_DSN": pgDSN}, needs: config.Needs{HMAC: true},
			want: []string{"SENTINEL_HMAC_SECRET: is required with PG_DSN"}, notWant: []string{"ADMIN_"}},
		{name: "admin API", env: map[string]string{"PG_DSN": pgDSN, "SENTINEL_HMAC_SECRET": goodSecret}, needs: config.Needs{HMAC: true, Admin: true},
			want: []string{"ADMIN_PASSWORD: is required with PG_DSN", "ADMIN_JWT_SECRET: is required with PG_DSN"}, notWant: []string{"SENTINEL_HMAC_SECRET"}},
		{name: "admin API with a password", env: map[string]string{"PG_DSN": pgDSN, "SENTINEL_HMAC_SECRET": goodSecret, "ADMIN_PASSWORD": "correct horse"}, needs: config.Needs{HMAC: true, Admin: true},
			want: []string{"ADMIN_JWT_SECRET: is required with PG_DSN"}, notWant: []string{"ADMIN_PASSWORD"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			_, out, err := ensure(t, dir, tc.env, tc.needs)
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			for _, w := range tc.notWant {
				assert.NotContains(t, err.Error(), w)
			}
			assert.NotContains(t, err.Error(), "pw-secret")
			assert.Empty(t, out)
			assert.Empty(t, files(t, dir), "nothing is generated with PG_DSN")
		})
	}
}

// TestConcurrentStartersAgree: processes starting together on one data
// directory end with one set of secrets, and exactly one prints the
// password.
func TestConcurrentStartersAgree(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const n = 8
	cfgs := make([]*config.Config, n)
	outs := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		c, err := load(t, dir, nil)
		require.NoError(t, err)
		cfgs[i] = c
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out bytes.Buffer
			errs[i] = config.EnsureSecrets(cfgs[i], config.Needs{HMAC: true, Admin: true}, &out)
			outs[i] = out.String()
		}()
	}
	wg.Wait()
	printed := 0
	for i := range n {
		require.NoError(t, errs[i])
		assert.Equal(t, cfgs[0].HMACSecret, cfgs[i].HMACSecret)
		assert.Equal(t, cfgs[0].AdminPassword, cfgs[i].AdminPassword)
		assert.Equal(t, cfgs[0].AdminJWTSecret, cfgs[i].AdminJWTSecret)
		if cfgs[i].AdminPasswordGenerated {
			printed++
			assert.Contains(t, outs[i], cfgs[i].AdminPassword)
		} else {
			assert.Empty(t, outs[i])
		}
	}
	assert.Equal(t, 1, printed)
	assert.ElementsMatch(t, []string{"data", "data/hmac.secret", "data/admin.password", "data/admin-jwt.secret"}, files(t, dir), "no temporary file is left")
}

func TestDSNForms(t *testing.T) {
	t.Parallel()
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
	assert.Equal(t, "postgres://u:xxxxx@db/x?password=xxxxx", config.RedactDSN("postgres://u:secretpw@db/x?password=secretpw"))
}

// TestREADMETableIsCurrent: the README's configuration table is exactly
// what go generate writes, so every setting, its default and its meaning
// are documented as the code has them.
func TestREADMETableIsCurrent(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../../README.md")
	require.NoError(t, err)
	want, err := config.ReplaceTable(readme)
	require.NoError(t, err)
	if string(want) != string(readme) {
		t.Error("README.md's configuration table is stale: run go generate ./cmd/internal/config")
	}
	for _, s := range config.Settings() {
		require.Contains(t, string(readme), "| `"+s.Name+"` |", "README's configuration table lacks %s", s.Name)
	}
	_, err = config.ReplaceTable([]byte("no markers"))
	require.Error(t, err)
}

func TestDotenvTyposInSentinelsNamespaceAreRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, dotenv, want string
	}{
		{"misspelt setting", "SENTINEL_FAILSAFE=open\n", "SENTINEL_FAILSAFE: in "},
		{"locator inside the file it locates", "SENTINEL_ENV_FILE=other.env\n", "SENTINEL_ENV_FILE: is read from the environment or its flag only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			write(t, filepath.Join(dir, ".env"), tc.dotenv)
			_, err := load(t, dir, nil)
			require.ErrorContains(t, err, tc.want)
		})
	}
	t.Run("other programs' names and the test suite's are fine", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		write(t, filepath.Join(dir, ".env"), "POSTGRES_PASSWORD=x\nSENTINEL_TEST_PG_DSN=postgres://db/x\nAPP_PORT=7001\n")
		c, err := load(t, dir, nil)
		require.NoError(t, err)
		assert.Equal(t, "0.0.0.0:7001", c.ProxyAddr)
	})
}

func TestMisspeltEnvironmentVariablesWarn(t *testing.T) {
	t.Parallel()
	env := map[string]string{"SENTINEL_FAILSAFE": "open", "SENTINEL_TEST_PG_DSN": "x", "SENTINEL_STORE_TIMEOUT": "1s", "HOME": "/root"}
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	environ := func() []string {
		var kv []string
		for k, v := range env {
			kv = append(kv, k+"="+v)
		}
		return kv
	}
	l := config.NewLoader(fs, config.Environment{LookupEnv: mapEnv(env), Environ: environ, Dir: t.TempDir()})
	require.NoError(t, fs.Parse(nil))
	c, err := l.Load()
	require.NoError(t, err)
	assert.Equal(t, []string{"SENTINEL_FAILSAFE is set but names no setting (misspelt? --help lists every setting)"}, c.Warnings)
}

func TestConfigFileLists(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "s.yaml"), "trusted_proxy_ips: [10.0.0.0/8, 192.168.1.1]\napp_port: 7100\nsentinel_forget_unauthorized: false\n")
	c, err := load(t, dir, nil, "--config", "s.yaml")
	require.NoError(t, err)
	require.Len(t, c.TrustedProxies, 2)
	assert.Equal(t, "10.0.0.0/8", c.TrustedProxies[0].String())
	assert.Equal(t, "0.0.0.0:7100", c.ProxyAddr)
	assert.False(t, c.ForgetUnauth)

	write(t, filepath.Join(dir, "s.json"), `{"APP_PORT": 7200, "SENTINEL_ENFORCE_MODE": "monitor"}`)
	c, err = load(t, dir, nil, "--config", "s.json")
	require.NoError(t, err)
	assert.Equal(t, "0.0.0.0:7200", c.ProxyAddr)
	assert.Equal(t, sentinel.ModeMonitor, c.Mode)
}
