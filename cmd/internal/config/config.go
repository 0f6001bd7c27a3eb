// Package config loads Sentinel's configuration into a plain Config: from
// defaults, a config file, a .env file, the environment and flags, highest
// last. The names are the Python seed's, so an operator's .env keeps
// working. Every bad value stops the program with a message naming the
// variable; secrets never appear in those messages.
package config

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	sentinel "github.com/keyipsentinel/sentinel"
)

// Setting is one configuration variable.
type Setting struct {
	Name    string // environment / .env / config file name
	Flag    string // command-line flag, without dashes
	Default string
	Help    string
	Secret  bool // never echoed
}

// Settings lists every variable Sentinel reads, in README order.
var Settings = []Setting{
	{Name: "DOWNSTREAM_URL", Flag: "downstream-url", Default: "http://127.0.0.1:3000", Help: "the New API (or one-api) base URL requests are forwarded to"},
	{Name: "APP_HOST", Flag: "app-host", Default: "0.0.0.0", Help: "address the proxy listens on"},
	{Name: "APP_PORT", Flag: "app-port", Default: "7000", Help: "port the proxy listens on"},
	{Name: "ADMIN_HOST", Flag: "admin-host", Default: "127.0.0.1", Help: "address the admin API listens on"},
	{Name: "ADMIN_PORT", Flag: "admin-port", Default: "7001", Help: "port the admin API listens on"},
	{Name: "SENTINEL_DATA_DIR", Flag: "data-dir", Default: "./data", Help: "where the embedded SQLite store and generated secrets live"},
	{Name: "SENTINEL_HMAC_SECRET", Flag: "hmac-secret", Help: "secret keying the key hashes, at least 32 bytes; generated into the data directory when unset (required with PG_DSN)", Secret: true},
	{Name: "PG_DSN", Flag: "pg-dsn", Help: "PostgreSQL DSN (postgres://, postgresql:// or the seed's postgresql+asyncpg://); unset: the embedded SQLite store", Secret: true},
	{Name: "REDIS_ADDR", Flag: "redis-addr", Help: "Valkey/Redis address: host:port, a comma-separated list of cluster nodes, or a redis:// / rediss:// URL; unset: in-process cache"},
	{Name: "REDIS_PASSWORD", Flag: "redis-password", Help: "Valkey/Redis password", Secret: true},
	{Name: "SENTINEL_REDIS_PREFIX", Flag: "redis-prefix", Default: "sentinel:", Help: "prefix of every Valkey key Sentinel uses, so deployments can share a server"},
	{Name: "TRUSTED_PROXY_IPS", Flag: "trusted-proxy-ips", Help: "addresses/CIDRs of the proxies in front of Sentinel whose client IP header is believed (comma-separated)"},
	{Name: "SENTINEL_CLIENT_IP_HEADER", Flag: "client-ip-header", Default: "X-Real-IP", Help: "header trusted proxies name the client in, e.g. CF-Connecting-IP; X-Forwarded-For is walked right to left"},
	{Name: "SENTINEL_FAILSAFE_MODE", Flag: "failsafe-mode", Default: "closed", Help: "closed: 503 when no store can decide; open: forward unchecked"},
	{Name: "SENTINEL_ENFORCE_MODE", Flag: "enforce-mode", Default: "enforce", Help: "enforce, or monitor: record would-be refusals and refuse nothing"},
	{Name: "SENTINEL_IPV4_PREFIX", Flag: "ipv4-prefix", Default: "32", Help: "prefix length a first-use binding covers for IPv4 clients"},
	{Name: "SENTINEL_IPV6_PREFIX", Flag: "ipv6-prefix", Default: "64", Help: "prefix length a first-use binding covers for IPv6 clients"},
	{Name: "SENTINEL_LEARN_LIMIT", Flag: "learn-limit", Default: "0", Help: "above 1: new keys may be used from this many addresses before they lock (0: off, bind to the first)"},
	{Name: "SENTINEL_FORGET_UNAUTHORIZED", Flag: "forget-unauthorized", Default: "true", Help: "remove a first-use binding when the downstream answers its request with 401 (junk keys)"},
	{Name: "SENTINEL_LAST_USED_INTERVAL", Flag: "last-used-interval", Default: "5s", Help: "how often last-use times are written (one write per key per interval)"},
	{Name: "SENTINEL_CACHE_TTL", Flag: "cache-ttl", Default: "1h", Help: "how long a cached binding lives without news from the store (changes reach caches at once; this bounds what a missed one costs)"},
	{Name: "SENTINEL_STORE_TIMEOUT", Flag: "store-timeout", Default: "2s", Help: "deadline of one store call on the request path"},
	{Name: "SENTINEL_MIGRATE", Flag: "migrate", Default: "false", Help: "apply PostgreSQL migrations at start (the embedded store always migrates)"},
	{Name: "SENTINEL_SHUTDOWN_TIMEOUT", Flag: "shutdown-timeout", Default: "30s", Help: "how long in-flight requests and streams may finish after SIGTERM"},
	{Name: "ADMIN_PASSWORD", Flag: "admin-password", Help: "admin console password", Secret: true},
	{Name: "ADMIN_JWT_SECRET", Flag: "admin-jwt-secret", Help: "secret signing admin sessions", Secret: true},
	{Name: "ALERT_WEBHOOK_URL", Flag: "alert-webhook-url", Help: "where refusal alerts are posted", Secret: true},
	{Name: "ALERT_THRESHOLD_COUNT", Flag: "alert-threshold-count", Default: "5", Help: "refusals of one key within the window that raise an alert"},
	{Name: "ALERT_THRESHOLD_SECONDS", Flag: "alert-threshold-seconds", Default: "300", Help: "the alert window, in seconds"},
	{Name: "ARCHIVE_DAYS", Flag: "archive-days", Default: "90", Help: "bindings unused this many days are archived"},
	{Name: "LOG_LEVEL", Flag: "log-level", Default: "info", Help: "debug, info, warn or error"},
	{Name: "LOG_FORMAT", Flag: "log-format", Default: "text", Help: "text or json"},
}

// Config is the validated configuration.
type Config struct {
	DownstreamURL *url.URL
	ProxyAddr     string // host:port
	AdminAddr     string

	DataDir      string
	HMACSecret   []byte // never log
	SecretSource string // "SENTINEL_HMAC_SECRET" or the file it was read from

	PGDSN         string // normalised to postgres://; never log, see RedactDSN
	RedisAddr     string
	RedisPassword string // never log
	RedisPrefix   string

	TrustedProxies []netip.Prefix
	ClientIPHeader string

	Failsafe         sentinel.FailsafeMode
	Mode             sentinel.Mode
	Granularity      sentinel.Granularity
	LearnLimit       int
	ForgetUnauth     bool
	LastUsedInterval time.Duration
	CacheTTL         time.Duration
	StoreTimeout     time.Duration
	Migrate          bool
	ShutdownTimeout  time.Duration

	AdminPassword  string // never log
	AdminJWTSecret string // never log

	AlertWebhookURL       string // never log: webhook URLs carry tokens
	AlertThresholdCount   int
	AlertThresholdSeconds int
	ArchiveDays           int

	LogLevel  slog.Level
	LogFormat string
}

// Loader reads the configuration from its sources.
type Loader struct {
	v  *viper.Viper
	fs *pflag.FlagSet
}

// NewLoader registers the configuration flags on fs (plus --config and
// --env-file) and returns a loader for after fs.Parse.
func NewLoader(fs *pflag.FlagSet) *Loader {
	v := viper.New()
	v.AutomaticEnv()
	for _, s := range Settings {
		help := s.Help + " [" + s.Name + "]"
		if s.Default != "" {
			help += " (default " + s.Default + ")"
		}
		fs.String(s.Flag, "", help)
		_ = v.BindPFlag(key(s.Name), fs.Lookup(s.Flag))
	}
	fs.String("config", "", "configuration file (YAML, TOML or JSON) with the same names as the environment [SENTINEL_CONFIG]")
	fs.String("env-file", "", "dotenv file to read (default .env in the working directory, when present) [SENTINEL_ENV_FILE]")
	return &Loader{v: v, fs: fs}
}

func key(name string) string { return strings.ToLower(name) }

// Load reads every source and validates. The error lists every bad value.
func (l *Loader) Load() (*Config, error) {
	if err := l.readFiles(); err != nil {
		return nil, err
	}
	p := parser{v: l.v}
	c := &Config{}

	c.DownstreamURL = p.httpURL("DOWNSTREAM_URL")
	c.ProxyAddr = net.JoinHostPort(p.str("APP_HOST"), strconv.Itoa(p.port("APP_PORT")))
	c.AdminAddr = net.JoinHostPort(p.str("ADMIN_HOST"), strconv.Itoa(p.port("ADMIN_PORT")))
	c.DataDir = p.str("SENTINEL_DATA_DIR")
	if strings.ContainsAny(c.DataDir, "?#") {
		p.fail("SENTINEL_DATA_DIR", "must not contain ? or # (the SQLite URI would cut the path there), got %q", c.DataDir)
	}
	c.PGDSN = p.dsn("PG_DSN")
	c.RedisAddr = p.str("REDIS_ADDR")
	c.RedisPassword = p.raw("REDIS_PASSWORD")
	c.RedisPrefix = p.str("SENTINEL_REDIS_PREFIX")
	c.TrustedProxies = p.prefixes("TRUSTED_PROXY_IPS")
	c.ClientIPHeader = p.headerName("SENTINEL_CLIENT_IP_HEADER")
	c.Failsafe = sentinel.FailsafeMode(strings.ToLower(p.str("SENTINEL_FAILSAFE_MODE")))
	p.check("SENTINEL_FAILSAFE_MODE", c.Failsafe.Validate())
	c.Mode = sentinel.Mode(strings.ToLower(p.str("SENTINEL_ENFORCE_MODE")))
	p.check("SENTINEL_ENFORCE_MODE", c.Mode.Validate())
	c.Granularity = sentinel.Granularity{IPv4Bits: p.intIn("SENTINEL_IPV4_PREFIX", 1, 32), IPv6Bits: p.intIn("SENTINEL_IPV6_PREFIX", 1, 128)}
	c.LearnLimit = p.intIn("SENTINEL_LEARN_LIMIT", 0, sentinel.MaxRulePrefixes)
	c.ForgetUnauth = p.boolean("SENTINEL_FORGET_UNAUTHORIZED")
	c.LastUsedInterval = p.duration("SENTINEL_LAST_USED_INTERVAL", 100*time.Millisecond, time.Hour)
	c.CacheTTL = p.duration("SENTINEL_CACHE_TTL", time.Second, 7*24*time.Hour)
	c.StoreTimeout = p.duration("SENTINEL_STORE_TIMEOUT", 10*time.Millisecond, time.Minute)
	c.Migrate = p.boolean("SENTINEL_MIGRATE")
	c.ShutdownTimeout = p.duration("SENTINEL_SHUTDOWN_TIMEOUT", 0, time.Hour)
	c.AdminPassword = p.secret("ADMIN_PASSWORD", 8)
	c.AdminJWTSecret = p.secret("ADMIN_JWT_SECRET", 32)
	c.AlertWebhookURL = p.optionalHTTPURL("ALERT_WEBHOOK_URL")
	c.AlertThresholdCount = p.intIn("ALERT_THRESHOLD_COUNT", 1, 1_000_000)
	c.AlertThresholdSeconds = p.intIn("ALERT_THRESHOLD_SECONDS", 1, 30*24*3600)
	c.ArchiveDays = p.intIn("ARCHIVE_DAYS", 0, 36500)
	c.LogLevel = p.logLevel("LOG_LEVEL")
	c.LogFormat = p.oneOf("LOG_FORMAT", "text", "json")

	if s := p.secret("SENTINEL_HMAC_SECRET", sentinel.MinSecretLen); s != "" {
		c.HMACSecret, c.SecretSource = []byte(s), "SENTINEL_HMAC_SECRET"
	} else if c.PGDSN != "" && p.ok("SENTINEL_HMAC_SECRET") {
		p.fail("SENTINEL_HMAC_SECRET", "is required with PG_DSN: every proxy sharing the database must hash keys with the same secret")
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	if c.HMACSecret == nil {
		path := filepath.Join(c.DataDir, "hmac.secret")
		secret, err := loadOrCreateSecret(path)
		if err != nil {
			return nil, fmt.Errorf("SENTINEL_HMAC_SECRET is unset and the generated secret at %s cannot be used: %w", path, err)
		}
		c.HMACSecret, c.SecretSource = secret, path
	}
	return c, nil
}

func (l *Loader) readFiles() error {
	file := l.flagOrEnv("config", "SENTINEL_CONFIG")
	if file != "" {
		l.v.SetConfigFile(file)
		if err := l.v.ReadInConfig(); err != nil {
			return fmt.Errorf("--config %s: %w", file, err)
		}
	}
	envFile := l.flagOrEnv("env-file", "SENTINEL_ENV_FILE")
	explicit := envFile != ""
	if !explicit {
		envFile = ".env"
	}
	data, err := os.ReadFile(envFile)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !explicit:
		return nil
	case err != nil:
		return fmt.Errorf("--env-file %s: %w", envFile, err)
	}
	l.v.SetConfigType("dotenv")
	if err := l.v.MergeConfig(bytes.NewReader(data)); err != nil {
		return fmt.Errorf("%s: %w", envFile, err)
	}
	return nil
}

func (l *Loader) flagOrEnv(flag, env string) string {
	if f := l.fs.Lookup(flag); f != nil && f.Changed {
		return f.Value.String()
	}
	return os.Getenv(env)
}

// parser reads and checks values, collecting every problem.
type parser struct {
	v    *viper.Viper
	errs []string
	bad  map[string]bool
}

func (p *parser) raw(name string) string {
	s := p.v.GetString(key(name))
	if s == "" {
		for _, st := range Settings {
			if st.Name == name {
				return st.Default
			}
		}
	}
	return s
}

func (p *parser) str(name string) string { return strings.TrimSpace(p.raw(name)) }

func (p *parser) fail(name, format string, args ...any) {
	if p.bad == nil {
		p.bad = map[string]bool{}
	}
	p.bad[name] = true
	p.errs = append(p.errs, name+": "+fmt.Sprintf(format, args...))
}

func (p *parser) ok(name string) bool { return !p.bad[name] }

func (p *parser) check(name string, err error) {
	if err != nil {
		p.fail(name, "%s", sentinel.ErrorMessage(err))
	}
}

func (p *parser) err() error {
	if len(p.errs) == 0 {
		return nil
	}
	sort.Strings(p.errs)
	return errors.New("invalid configuration:\n  " + strings.Join(p.errs, "\n  "))
}

func (p *parser) intIn(name string, lo, hi int) int {
	s := p.str(name)
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		p.fail(name, "must be a whole number from %d to %d, got %q", lo, hi, s)
		return 0
	}
	return n
}

func (p *parser) port(name string) int { return p.intIn(name, 1, 65535) }

func (p *parser) boolean(name string) bool {
	s := p.str(name)
	b, err := strconv.ParseBool(s)
	if err != nil {
		p.fail(name, "must be true or false, got %q", s)
	}
	return b
}

func (p *parser) duration(name string, lo, hi time.Duration) time.Duration {
	s := p.str(name)
	d, err := time.ParseDuration(s)
	if err != nil {
		if n, nerr := strconv.Atoi(s); nerr == nil { // plain seconds, as the seed's numbers
			d, err = time.Duration(n)*time.Second, nil
		}
	}
	if err != nil || d < lo || d > hi {
		p.fail(name, "must be a duration from %v to %v (such as 5s or 2m), got %q", lo, hi, s)
	}
	return d
}

func (p *parser) oneOf(name string, options ...string) string {
	s := strings.ToLower(p.str(name))
	for _, o := range options {
		if s == o {
			return s
		}
	}
	p.fail(name, "must be one of %s, got %q", strings.Join(options, ", "), s)
	return options[0]
}

func (p *parser) logLevel(name string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(p.str(name))); err != nil {
		p.fail(name, "must be debug, info, warn or error, got %q", p.str(name))
	}
	return l
}

func (p *parser) httpURL(name string) *url.URL {
	s := p.str(name)
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.fail(name, "must be an http:// or https:// URL with a host, got %q", s)
		return nil
	}
	if u.RawQuery != "" || u.Fragment != "" {
		p.fail(name, "must not have a query or fragment, got %q", s)
	}
	return u
}

func (p *parser) optionalHTTPURL(name string) string {
	s := p.str(name)
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.fail(name, "must be an http:// or https:// URL with a host")
	}
	return s
}

func (p *parser) prefixes(name string) []netip.Prefix {
	ps, err := sentinel.ParsePrefixList(p.str(name))
	if err != nil {
		p.fail(name, "%s", sentinel.ErrorMessage(err))
	}
	return ps
}

func (p *parser) headerName(name string) string {
	s := p.str(name)
	if s == "" || strings.ContainsAny(s, " \t\r\n:()<>@,;\\\"/[]?={}") {
		p.fail(name, "must be an HTTP header name, got %q", s)
	}
	return s
}

// secret reads an optional secret: unset is fine, but a value given must
// not be a placeholder and must be at least minLen bytes. The value itself
// never appears in a message.
func (p *parser) secret(name string, minLen int) string {
	s := p.raw(name)
	switch {
	case s == "":
		return ""
	case IsPlaceholder(s):
		p.fail(name, "is still the example placeholder; set a real secret")
	case len(s) < minLen:
		p.fail(name, "must be at least %d bytes long, got %d", minLen, len(s))
	}
	return s
}

// IsPlaceholder reports whether s is an example value left in a .env.
func IsPlaceholder(s string) bool {
	l := strings.ToLower(strings.TrimSpace(s))
	return strings.HasPrefix(l, "replace-with-") || strings.HasPrefix(l, "replace_with_") ||
		l == "changeme" || l == "change-me" || l == "secret" || l == "password"
}

func (p *parser) dsn(name string) string {
	s := p.str(name)
	if s == "" {
		return ""
	}
	norm, err := NormalizeDSN(s)
	if err != nil {
		p.fail(name, "%v", err)
	}
	return norm
}

// NormalizeDSN accepts postgres:// and postgresql:// URLs, the seed's
// SQLAlchemy forms (postgresql+asyncpg://, +psycopg, +psycopg2) and
// key=value DSNs, and returns a form pgx understands. Errors never quote
// the DSN, which may hold a password.
func NormalizeDSN(s string) (string, error) {
	if !strings.Contains(s, "://") {
		if !strings.Contains(s, "=") {
			return "", errors.New("must be a postgres:// URL or a key=value DSN")
		}
		return s, nil
	}
	scheme, rest, _ := strings.Cut(s, "://")
	base, driver, _ := strings.Cut(strings.ToLower(scheme), "+")
	if base != "postgres" && base != "postgresql" {
		return "", fmt.Errorf("must be a postgres:// or postgresql:// URL, got scheme %q", scheme)
	}
	switch driver {
	case "", "asyncpg", "psycopg", "psycopg2", "pg8000":
	default:
		return "", fmt.Errorf("unknown driver suffix %q in the scheme", "+"+driver)
	}
	u, err := url.Parse("postgres://" + rest)
	if err != nil || u.Host == "" {
		return "", errors.New("is not a valid postgres:// URL (host missing or malformed)")
	}
	return u.String(), nil
}

// RedactDSN returns the DSN without its password, for logs.
func RedactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return "(key=value DSN)"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// loadOrCreateSecret reads the secret at path, or creates it (32 random
// bytes, hex, mode 0600). Processes starting together agree: the file
// appears atomically and the loser of the race reads the winner's.
func loadOrCreateSecret(path string) ([]byte, error) {
	if b, err := readSecretFile(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return b, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".hmac.secret.*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(hex.EncodeToString(raw) + "\n"); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	return readSecretFile(path)
}

func readSecretFile(path string) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if info.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(path, 0o600); err != nil {
			return nil, fmt.Errorf("it is readable by others and cannot be restricted: %w", err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b = bytes.TrimSpace(b)
	if len(b) < sentinel.MinSecretLen {
		return nil, fmt.Errorf("it holds %d bytes, fewer than %d", len(b), sentinel.MinSecretLen)
	}
	return b, nil
}
