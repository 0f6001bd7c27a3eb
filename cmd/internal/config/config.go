// Package config loads Sentinel's configuration into a plain Config: from
// defaults, a config file, a .env file, the environment and flags, highest
// last. The names are the Python seed's, so an operator's .env keeps
// working. Every bad value stops the program with a message naming the
// variable; secrets never appear in those messages.
//
// The package is split by job: settings.go declares every setting once,
// sources.go reads the sources, validate.go turns the values into a
// Config, dsn.go handles PostgreSQL DSNs and secrets.go generates the
// secrets a command needs, in an explicit step: loading writes no file.
package config

import (
	"log/slog"
	"net/netip"
	"net/url"
	"time"

	sentinel "github.com/keyipsentinel/sentinel"
)

// Config is the validated configuration.
type Config struct {
	DownstreamURL *url.URL
	ProxyAddr     string // host:port
	AdminAddr     string

	DataDir      string
	HMACSecret   []byte // never log; nil until EnsureSecrets when generated
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
	// WSProtocolKeys is httpproxy.WSProtocolKeys' value ("legacy" or
	// "insecure-api-key"), kept a string so config needs no adapter.
	WSProtocolKeys       string
	BindManagementTokens bool
	NewBindingsPerIP     int
	InterceptsPerIP      int
	MaxPendingLookups    int
	PassHost             bool
	MaxHeaderBytes       int
	ReadHeaderTimeout    time.Duration
	BodyIdleTimeout      time.Duration
	IdleTimeout          time.Duration
	MaxConnsPerIP        int
	MaxConns             int
	MaxDownstreamConns   int
	Migrate              bool
	ShutdownTimeout      time.Duration

	AdminPassword  string // never log; "" until EnsureSecrets when generated
	AdminJWTSecret string // never log; "" until EnsureSecrets when generated
	// AdminPasswordGenerated is true only in the process that generated
	// the admin password (and printed it, once).
	AdminPasswordGenerated bool
	AdminSessionTTL        time.Duration
	AdminLoginMaxFailures  int
	AdminLoginLockout      time.Duration

	AlertWebhookURL       string // never log: webhook URLs carry tokens
	AlertThresholdCount   int
	AlertThresholdSeconds int
	AlertWebhookFormat    string // auto, generic, slack, feishu, lark, dingtalk
	AlertWebhookSecret    string // never log
	AlertAllowPrivate     bool
	PublicURL             string
	ArchiveDays           int
	LogRetentionDays      int
	ArchiveInterval       time.Duration

	LogLevel  slog.Level
	LogFormat string
	AccessLog bool
	// MetricsAddr is the /metrics listener's host:port; "" is off.
	MetricsAddr string

	// Warnings are problems that do not stop the program, for the log.
	Warnings []string
}
