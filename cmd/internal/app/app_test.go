package app_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyipsentinel/sentinel/cmd/internal/app"
	"github.com/keyipsentinel/sentinel/test/testenv"
)

type result struct {
	code           int
	stdout, stderr string
	// realOut is what went to the process's own stdout and stderr.
	realOut string
}

// run calls app.Main in process with exactly env as its environment and
// dir as its working directory, capturing the injected output and,
// separately, anything written to the process's real stdout/stderr.
// It swaps os.Stdout/os.Stderr, so tests using it do not run in parallel.
func run(t *testing.T, ctx context.Context, b app.Binary, name, dir string, env map[string]string, args ...string) result {
	t.Helper()
	real, err := os.Create(filepath.Join(t.TempDir(), "real-output"))
	require.NoError(t, err)
	defer real.Close()
	var stdout, stderr bytes.Buffer
	lookup := func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
	savedOut, savedErr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = real, real
	code := app.Main(ctx, b, name, args, app.Env{LookupEnv: lookup, Stdout: &stdout, Stderr: &stderr, Dir: dir})
	os.Stdout, os.Stderr = savedOut, savedErr
	realOut, err := os.ReadFile(real.Name())
	require.NoError(t, err)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String(), realOut: string(realOut)}
}

func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	require.NoError(t, filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		if err == nil && p != dir {
			rel, _ := filepath.Rel(dir, p)
			names = append(names, rel)
		}
		return err
	}))
	return names
}

const hmacSecret = "0123456789abcdef0123456789abcdef-app-test"

func TestMainCommandsAndErrors(t *testing.T) {
	for _, tc := range []struct {
		name       string
		binary     app.Binary
		prog       string
		env        map[string]string
		args       []string
		code       int
		stdout     []string // each must appear
		stderr     []string
		noStdout   bool
		noStderr   bool
		notInStder []string
	}{
		{name: "version", binary: app.ProxyOnly, prog: "sentinel-proxy", args: []string{"version"},
			code: 0, stdout: []string{"sentinel-proxy "}, noStderr: true},
		{name: "help lists every setting with its variable", binary: app.AllInOne, prog: "sentinel", args: []string{"help"},
			code: 0, stdout: []string{"Usage:", "migrate up|down|status", "--admin-session-ttl", "[ADMIN_LOGIN_LOCKOUT]", "(default 12h)"}, noStderr: true},
		{name: "--help prints usage on stderr", binary: app.AdminOnly, prog: "sentinel-admin", args: []string{"migrate", "--help"},
			code: 0, stderr: []string{"Usage:", "--pg-dsn"}, noStdout: true},
		{name: "unknown command", binary: app.AllInOne, prog: "sentinel", args: []string{"frobnicate"},
			code: 2, stderr: []string{`sentinel: unknown command "frobnicate"`, "Usage:"}, noStdout: true},
		{name: "the proxy has no migrate", binary: app.ProxyOnly, prog: "sentinel-proxy", args: []string{"migrate", "up"},
			code: 2, stderr: []string{`unknown command "migrate"`}, noStdout: true},
		{name: "sentinel-admin help lists serve, openapi and migrate", binary: app.AdminOnly, prog: "sentinel-admin", args: []string{"help"},
			code: 0, stdout: []string{"[serve]", "openapi [--format yaml|json|3.0]", "migrate up|down|status"}, noStderr: true},
		{name: "sentinel-admin openapi prints the 3.1 document", binary: app.AdminOnly, prog: "sentinel-admin", args: []string{"openapi"},
			code: 0, stdout: []string{"openapi: 3.1.0", "/admin/api/settings/webhook/test:"}, noStderr: true},
		{name: "sentinel-admin openapi as 3.0", binary: app.AdminOnly, prog: "sentinel-admin", args: []string{"openapi", "--format", "3.0"},
			code: 0, stdout: []string{"openapi: 3.0.3"}, noStderr: true},
		{name: "sentinel-admin openapi as JSON", binary: app.AdminOnly, prog: "sentinel-admin", args: []string{"openapi", "--format", "json"},
			code: 0, stdout: []string{`"openapi": "3.1.0"`}, noStderr: true},
		{name: "sentinel-admin openapi with a bad format", binary: app.AdminOnly, prog: "sentinel-admin", args: []string{"openapi", "--format", "xml"},
			code: 2, stderr: []string{"--format: must be yaml, json or 3.0"}, noStdout: true},
		{name: "unknown flag", binary: app.ProxyOnly, prog: "sentinel-proxy", args: []string{"--app-prot", "1"},
			code: 2, stderr: []string{"unknown flag: --app-prot"}, noStdout: true},
		{name: "bad configuration names the variable", binary: app.ProxyOnly, prog: "sentinel-proxy",
			env:  map[string]string{"APP_PORT": "seventy", "DOWNSTREAM_URL": "ftp://gateway", "SENTINEL_HMAC_SECRET": "replace-with-a-random-32-byte-secret"},
			code: 2, stderr: []string{`APP_PORT: must be a whole number from 1 to 65535, got "seventy"`, "DOWNSTREAM_URL: must be an http:// or https:// URL", "SENTINEL_HMAC_SECRET: is still the example placeholder"},
			notInStder: []string{"replace-with-a-random"}, noStdout: true},
		{name: "a bad flag value names the variable", binary: app.AllInOne, prog: "sentinel", args: []string{"--admin-login-max-failures", "0"},
			code: 2, stderr: []string{"ADMIN_LOGIN_MAX_FAILURES: must be a whole number from 1 to 1000"}, noStdout: true},
		{name: "the proxy on PostgreSQL needs the HMAC secret", binary: app.ProxyOnly, prog: "sentinel-proxy",
			env:  map[string]string{"PG_DSN": "postgres://u:pw-secret@127.0.0.1:1/x"},
			code: 2, stderr: []string{"SENTINEL_HMAC_SECRET: is required with PG_DSN"}, notInStder: []string{"pw-secret", "ADMIN_"}, noStdout: true},
		{name: "the admin API on PostgreSQL needs its secrets", binary: app.AllInOne, prog: "sentinel",
			env:  map[string]string{"PG_DSN": "postgres://u:pw-secret@127.0.0.1:1/x", "SENTINEL_HMAC_SECRET": hmacSecret},
			code: 2, stderr: []string{"ADMIN_PASSWORD: is required with PG_DSN", "ADMIN_JWT_SECRET: is required with PG_DSN"}, notInStder: []string{"pw-secret"}, noStdout: true},
		{name: "migrate without PG_DSN", binary: app.AllInOne, prog: "sentinel", args: []string{"migrate", "status"},
			code: 1, stderr: []string{"PG_DSN is unset"}, noStdout: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			r := run(t, context.Background(), tc.binary, tc.prog, dir, tc.env, tc.args...)
			assert.Equal(t, tc.code, r.code, "stderr: %s", r.stderr)
			for _, w := range tc.stdout {
				assert.Contains(t, r.stdout, w)
			}
			for _, w := range tc.stderr {
				assert.Contains(t, r.stderr, w)
			}
			for _, w := range tc.notInStder {
				assert.NotContains(t, r.stderr, w)
			}
			if tc.noStdout {
				assert.Empty(t, r.stdout)
			}
			if tc.noStderr {
				assert.Empty(t, r.stderr)
			}
			assert.Empty(t, r.realOut, "nothing goes to the process's own stdout/stderr")
			assert.Empty(t, dirEntries(t, dir), "no file is written")
		})
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// TestServePrintsTheGeneratedAdminPasswordOnce: the embedded default's
// first start generates the secrets and shows the password on stdout; a
// restart shows nothing and logs never carry it. The context is already
// cancelled: the start-up, not the serving, is under test.
func TestServePrintsTheGeneratedAdminPasswordOnce(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	env := map[string]string{"APP_HOST": "127.0.0.1", "APP_PORT": freePort(t), "ADMIN_HOST": "127.0.0.1", "ADMIN_PORT": freePort(t),
		"SENTINEL_SHUTDOWN_TIMEOUT": "1s", "SENTINEL_METRICS_ADDR": "127.0.0.1:0"}

	first := run(t, ctx, app.AllInOne, "sentinel", dir, env)
	data := filepath.Join(dir, "data")
	for _, f := range []string{"hmac.secret", "admin.password", "admin-jwt.secret"} {
		info, err := os.Stat(filepath.Join(data, f))
		require.NoError(t, err, f)
		assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), f)
	}
	raw, err := os.ReadFile(filepath.Join(data, "admin.password"))
	require.NoError(t, err)
	password := strings.TrimSpace(string(raw))
	require.NotEmpty(t, password)
	assert.Equal(t, 1, strings.Count(first.stdout, password), "the first start shows the password once")
	assert.NotContains(t, first.stderr, password, "logs never carry the password")
	assert.Empty(t, first.realOut)

	second := run(t, ctx, app.AllInOne, "sentinel", dir, env)
	assert.NotContains(t, second.stdout, password, "a restart does not show it again")
	assert.NotContains(t, second.stderr, password)
	assert.Empty(t, second.realOut)

	proxyDir := t.TempDir()
	run(t, ctx, app.ProxyOnly, "sentinel-proxy", proxyDir, env)
	_, err = os.Stat(filepath.Join(proxyDir, "data", "admin.password"))
	assert.ErrorIs(t, err, os.ErrNotExist, "the proxy-only binary generates no admin secret")
	_, err = os.Stat(filepath.Join(proxyDir, "data", "hmac.secret"))
	assert.NoError(t, err)
}

// TestMigrateOnPostgresWritesNoFile: sentinel-admin migrate needs neither
// the HMAC secret nor the admin secrets and creates nothing locally.
func TestMigrateOnPostgresWritesNoFile(t *testing.T) {
	dsn := testenv.Postgres(t)
	dir := t.TempDir()
	for _, cmd := range []string{"up", "status", "down"} {
		r := run(t, context.Background(), app.AdminOnly, "sentinel-admin", dir, map[string]string{"PG_DSN": dsn}, "migrate", cmd)
		require.Equal(t, 0, r.code, "migrate %s: %s", cmd, r.stderr)
	}
	assert.Empty(t, dirEntries(t, dir))
}
