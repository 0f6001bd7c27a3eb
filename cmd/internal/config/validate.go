package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	sentinel "github.com/keyipsentinel/sentinel"
)

// Load reads every source and validates. The error lists every bad value.
// It writes nothing: generated secrets are EnsureSecrets' job.
func (l *Loader) Load() (*Config, error) {
	if err := l.readFiles(); err != nil {
		return nil, err
	}
	p := &parser{value: l.value}
	c := fill(p)
	if err := p.err(); err != nil {
		return nil, err
	}
	c.DataDir = l.env.path(c.DataDir)
	c.Warnings = l.env.unknownEnv()
	return c, nil
}

// fill reads every setting into a Config, collecting problems in p.
func fill(p *parser) *Config {
	c := &Config{}
	c.DownstreamURL = p.httpURL(DownstreamURL)
	c.ProxyAddr = net.JoinHostPort(p.str(AppHost), strconv.Itoa(p.port(AppPort)))
	c.AdminAddr = net.JoinHostPort(p.str(AdminHost), strconv.Itoa(p.port(AdminPort)))
	c.DataDir = p.str(DataDir)
	if strings.ContainsAny(c.DataDir, "?#") {
		p.fail(DataDir, "must not contain ? or # (the SQLite URI would cut the path there), got %q", c.DataDir)
	}
	c.PGDSN = p.dsn(PGDSN)
	c.RedisAddr = p.str(RedisAddr)
	c.RedisPassword = p.raw(RedisPassword)
	c.RedisPrefix = p.str(RedisPrefix)
	c.TrustedProxies = p.prefixes(TrustedProxyIPs)
	c.ClientIPHeader = p.headerName(ClientIPHeader)
	c.Failsafe = sentinel.FailsafeMode(strings.ToLower(p.str(FailsafeMode)))
	p.check(FailsafeMode, c.Failsafe.Validate())
	c.Mode = sentinel.Mode(strings.ToLower(p.str(EnforceMode)))
	p.check(EnforceMode, c.Mode.Validate())
	c.Granularity = sentinel.Granularity{IPv4Bits: p.intIn(IPv4Prefix, 1, 32), IPv6Bits: p.intIn(IPv6Prefix, 1, 128)}
	c.LearnLimit = p.intIn(LearnLimit, 0, sentinel.MaxRulePrefixes)
	c.ForgetUnauth = p.boolean(ForgetUnauthorized)
	c.LastUsedInterval = p.duration(LastUsedInterval, 100*time.Millisecond, time.Hour)
	c.CacheTTL = p.duration(CacheTTL, time.Second, 7*24*time.Hour)
	c.StoreTimeout = p.duration(StoreTimeout, 10*time.Millisecond, time.Minute)
	c.WSProtocolKeys = p.oneOf(WSProtocolKeys, "legacy", "insecure-api-key")
	c.BindManagementTokens = p.boolean(BindManagementTokens)
	c.NewBindingsPerIP = p.intIn(NewBindingsPerIP, 0, 1_000_000)
	c.InterceptsPerIP = p.intIn(InterceptsPerIP, 0, 1_000_000)
	c.MaxPendingLookups = p.intIn(MaxPendingLookups, 1, 100_000)
	c.PassHost = p.boolean(PassHost)
	c.MaxHeaderBytes = p.intIn(MaxHeaderBytes, 1024, 16<<20)
	c.ReadHeaderTimeout = p.duration(ReadHeaderTimeout, 100*time.Millisecond, time.Hour)
	c.BodyIdleTimeout = p.duration(BodyIdleTimeout, 100*time.Millisecond, time.Hour)
	c.IdleTimeout = p.duration(IdleTimeout, time.Second, 24*time.Hour)
	c.MaxConnsPerIP = p.intIn(MaxConnsPerIP, 1, 10_000_000)
	c.MaxConns = p.intIn(MaxConns, 1, 10_000_000)
	c.MaxDownstreamConns = p.intIn(MaxDownstreamConns, 1, 10_000_000)
	c.Migrate = p.boolean(Migrate)
	c.ShutdownTimeout = p.duration(ShutdownTimeout, 0, time.Hour)
	c.AdminPassword = p.secret(AdminPassword, minAdminPasswordLen)
	c.AdminJWTSecret = p.secret(AdminJWTSecret, sentinel.MinSecretLen)
	c.AdminSessionTTL = p.duration(AdminSessionTTL, time.Minute, 30*24*time.Hour)
	c.AdminLoginMaxFailures = p.intIn(AdminLoginMaxFailures, 1, 1000)
	c.AdminLoginLockout = p.duration(AdminLoginLockout, 10*time.Millisecond, 7*24*time.Hour)
	c.AlertWebhookURL = p.optionalHTTPURL(AlertWebhookURL)
	c.AlertThresholdCount = p.intIn(AlertThresholdCount, 1, 1_000_000)
	c.AlertThresholdSeconds = p.intIn(AlertThresholdSeconds, 1, 30*24*3600)
	c.AlertWebhookFormat = p.oneOf(AlertWebhookFormat, "auto", "generic", "slack", "feishu", "lark", "dingtalk")
	c.AlertWebhookSecret = p.secret(AlertWebhookSecret, 1)
	c.AlertAllowPrivate = p.boolean(AlertAllowPrivate)
	if p.str(PublicURL) != "" {
		if u := p.httpURL(PublicURL); u != nil {
			c.PublicURL = u.String()
		}
	}
	c.ArchiveDays = p.intIn(ArchiveDays, 0, 36500)
	c.LogRetentionDays = p.intIn(LogRetentionDays, 0, 36500)
	c.ArchiveInterval = p.duration(ArchiveInterval, time.Minute, 7*24*time.Hour)
	c.AccessLog = p.boolean(AccessLog)
	c.MetricsAddr = p.optionalHostPort(MetricsAddr)
	c.LogLevel = p.logLevel(LogLevel)
	c.LogFormat = p.oneOf(LogFormat, "text", "json")
	if s := p.secret(HMACSecret, sentinel.MinSecretLen); s != "" {
		c.HMACSecret, c.SecretSource = []byte(s), HMACSecret.String()
	}
	// The locators were used by readFiles; marking them read keeps the
	// every-setting-is-read test honest.
	p.raw(ConfigFile)
	p.raw(EnvFile)
	return c
}

// parser reads and checks values, collecting every problem.
type parser struct {
	value func(Key) string
	errs  []string
	read  [numKeys]bool // which settings were read, for the tests
}

func (p *parser) raw(k Key) string {
	p.read[k] = true
	return p.value(k)
}

func (p *parser) str(k Key) string { return strings.TrimSpace(p.raw(k)) }

func (p *parser) fail(k Key, format string, args ...any) {
	p.errs = append(p.errs, k.String()+": "+fmt.Sprintf(format, args...))
}

func (p *parser) check(k Key, err error) {
	if err != nil {
		p.fail(k, "%s", sentinel.ErrorMessage(err))
	}
}

func (p *parser) err() error { return joinProblems(p.errs) }

// joinProblems is the one shape of a configuration error: every problem,
// sorted, each starting with the variable's name.
func joinProblems(problems []string) error {
	if len(problems) == 0 {
		return nil
	}
	sort.Strings(problems)
	return errors.New("invalid configuration:\n  " + strings.Join(problems, "\n  "))
}

func (p *parser) intIn(k Key, lo, hi int) int {
	s := p.str(k)
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		p.fail(k, "must be a whole number from %d to %d, got %q", lo, hi, s)
		return 0
	}
	return n
}

// optionalHostPort reads an optional listen address, host:port.
func (p *parser) optionalHostPort(k Key) string {
	s := p.str(k)
	if s == "" || strings.EqualFold(s, "off") {
		return ""
	}
	_, port, err := net.SplitHostPort(s)
	if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 {
		p.fail(k, "must be host:port (such as 127.0.0.1:9090), or empty for off, got %q", s)
	}
	return s
}

func (p *parser) port(k Key) int { return p.intIn(k, 1, 65535) }

func (p *parser) boolean(k Key) bool {
	s := p.str(k)
	b, err := strconv.ParseBool(s)
	if err != nil {
		p.fail(k, "must be true or false, got %q", s)
	}
	return b
}

func (p *parser) duration(k Key, lo, hi time.Duration) time.Duration {
	s := p.str(k)
	d, err := time.ParseDuration(s)
	if err != nil {
		if n, nerr := strconv.Atoi(s); nerr == nil { // plain seconds, as the seed's numbers
			d, err = time.Duration(n)*time.Second, nil
		}
	}
	if err != nil || d < lo || d > hi {
		p.fail(k, "must be a duration from %v to %v (such as 5s or 2m), got %q", lo, hi, s)
	}
	return d
}

func (p *parser) oneOf(k Key, options ...string) string {
	s := strings.ToLower(p.str(k))
	for _, o := range options {
		if s == o {
			return s
		}
	}
	p.fail(k, "must be one of %s, got %q", strings.Join(options, ", "), s)
	return options[0]
}

func (p *parser) logLevel(k Key) slog.Level {
	var l slog.Level
	s := p.str(k)
	if err := l.UnmarshalText([]byte(s)); err != nil {
		p.fail(k, "must be debug, info, warn or error, got %q", s)
	}
	return l
}

func (p *parser) httpURL(k Key) *url.URL {
	s := p.str(k)
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.fail(k, "must be an http:// or https:// URL with a host, got %q", s)
		return nil
	}
	if u.RawQuery != "" || u.Fragment != "" {
		p.fail(k, "must not have a query or fragment, got %q", s)
	}
	return u
}

// optionalHTTPURL never quotes the value: webhook URLs carry tokens.
func (p *parser) optionalHTTPURL(k Key) string {
	s := p.str(k)
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.fail(k, "must be an http:// or https:// URL with a host")
	}
	return s
}

func (p *parser) prefixes(k Key) []netip.Prefix {
	ps, err := sentinel.ParsePrefixList(p.str(k))
	if err != nil {
		p.fail(k, "%s", sentinel.ErrorMessage(err))
	}
	return ps
}

func (p *parser) headerName(k Key) string {
	s := p.str(k)
	if s == "" || strings.ContainsAny(s, " \t\r\n:()<>@,;\\\"/[]?={}") {
		p.fail(k, "must be an HTTP header name, got %q", s)
	}
	return s
}

// secret reads an optional secret: unset is fine, but a value given must
// not be a placeholder and must be at least minLen bytes. The value itself
// never appears in a message.
func (p *parser) secret(k Key, minLen int) string {
	s := p.raw(k)
	switch {
	case s == "":
		return ""
	case IsPlaceholder(s):
		p.fail(k, "is still the example placeholder; set a real secret")
	case len(s) < minLen:
		p.fail(k, "must be at least %d bytes long, got %d", minLen, len(s))
	}
	return s
}

// IsPlaceholder reports whether s is an example value left in a .env.
func IsPlaceholder(s string) bool {
	l := strings.ToLower(strings.TrimSpace(s))
	return strings.HasPrefix(l, "replace-with-") || strings.HasPrefix(l, "replace_with_") ||
		l == "changeme" || l == "change-me" || l == "secret" || l == "password"
}
