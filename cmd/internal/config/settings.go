package config

// Setting describes one configuration variable: the name it has in the
// environment, a .env file and a config file, its flag, default and help.
type Setting struct {
	Name    string // environment / .env / config file name
	Flag    string // command-line flag, without dashes
	Default string
	Help    string
	Secret  bool // never echoed
	// Locator marks the two settings that say where the other settings
	// are (--config, --env-file): read from flags and the environment only.
	Locator bool
}

// Key names one setting. Each setting's name is written once, in the table
// below; the loader reads settings by Key, so a misspelt setting fails to
// compile instead of silently reading as empty.
type Key int

// The settings, in README order.
const (
	DownstreamURL Key = iota
	AppHost
	AppPort
	AdminHost
	AdminPort
	DataDir
	HMACSecret
	PGDSN
	RedisAddr
	RedisPassword
	RedisPrefix
	TrustedProxyIPs
	ClientIPHeader
	FailsafeMode
	EnforceMode
	IPv4Prefix
	IPv6Prefix
	LearnLimit
	ForgetUnauthorized
	LastUsedInterval
	CacheTTL
	StoreTimeout
	WSProtocolKeys
	BindManagementTokens
	NewBindingsPerIP
	InterceptsPerIP
	MaxPendingLookups
	PassHost
	MaxHeaderBytes
	ReadHeaderTimeout
	BodyIdleTimeout
	IdleTimeout
	MaxConnsPerIP
	MaxConns
	MaxDownstreamConns
	Migrate
	ShutdownTimeout
	AdminPassword
	AdminJWTSecret
	AdminSessionTTL
	AdminLoginMaxFailures
	AdminLoginLockout
	AlertWebhookURL
	AlertThresholdCount
	AlertThresholdSeconds
	AlertWebhookFormat
	AlertWebhookSecret
	AlertAllowPrivate
	PublicURL
	ArchiveDays
	LogRetentionDays
	ArchiveInterval
	LogLevel
	LogFormat
	AccessLog
	MetricsAddr
	ConfigFile
	EnvFile
	numKeys
)

// table is the one declaration of every setting. A keyed array: a Key
// without an entry has an empty Name, which TestSettingsTable refuses.
var table = [numKeys]Setting{
	DownstreamURL:         {Name: "DOWNSTREAM_URL", Flag: "downstream-url", Default: "http://127.0.0.1:3000", Help: "the New API (or one-api) base URL requests are forwarded to"},
	AppHost:               {Name: "APP_HOST", Flag: "app-host", Default: "0.0.0.0", Help: "address the proxy listens on"},
	AppPort:               {Name: "APP_PORT", Flag: "app-port", Default: "7000", Help: "port the proxy listens on"},
	AdminHost:             {Name: "ADMIN_HOST", Flag: "admin-host", Default: "127.0.0.1", Help: "address the admin API listens on"},
	AdminPort:             {Name: "ADMIN_PORT", Flag: "admin-port", Default: "7001", Help: "port the admin API listens on"},
	DataDir:               {Name: "SENTINEL_DATA_DIR", Flag: "data-dir", Default: "./data", Help: "where the embedded SQLite store and generated secrets live"},
	HMACSecret:            {Name: "SENTINEL_HMAC_SECRET", Flag: "hmac-secret", Help: "secret keying the key hashes, at least 32 bytes; generated into the data directory when unset (required with PG_DSN)", Secret: true},
	PGDSN:                 {Name: "PG_DSN", Flag: "pg-dsn", Help: "PostgreSQL DSN (postgres://, postgresql:// or the seed's postgresql+asyncpg://); unset: the embedded SQLite store", Secret: true},
	RedisAddr:             {Name: "REDIS_ADDR", Flag: "redis-addr", Help: "Valkey/Redis address: host:port, a comma-separated list of cluster nodes, or a redis:// / rediss:// URL; unset: in-process cache"},
	RedisPassword:         {Name: "REDIS_PASSWORD", Flag: "redis-password", Help: "Valkey/Redis password", Secret: true},
	RedisPrefix:           {Name: "SENTINEL_REDIS_PREFIX", Flag: "redis-prefix", Default: "sentinel:", Help: "prefix of every Valkey key Sentinel uses, so deployments can share a server"},
	TrustedProxyIPs:       {Name: "TRUSTED_PROXY_IPS", Flag: "trusted-proxy-ips", Help: "addresses/CIDRs of the proxies in front of Sentinel whose client IP header is believed (comma-separated)"},
	ClientIPHeader:        {Name: "SENTINEL_CLIENT_IP_HEADER", Flag: "client-ip-header", Default: "X-Real-IP", Help: "header trusted proxies name the client in, e.g. CF-Connecting-IP; X-Forwarded-For is walked right to left"},
	FailsafeMode:          {Name: "SENTINEL_FAILSAFE_MODE", Flag: "failsafe-mode", Default: "closed", Help: "closed: 503 when no store can decide; open: forward unchecked"},
	EnforceMode:           {Name: "SENTINEL_ENFORCE_MODE", Flag: "enforce-mode", Default: "enforce", Help: "enforce, or monitor: record would-be refusals and refuse nothing"},
	IPv4Prefix:            {Name: "SENTINEL_IPV4_PREFIX", Flag: "ipv4-prefix", Default: "32", Help: "prefix length a first-use binding covers for IPv4 clients"},
	IPv6Prefix:            {Name: "SENTINEL_IPV6_PREFIX", Flag: "ipv6-prefix", Default: "64", Help: "prefix length a first-use binding covers for IPv6 clients"},
	LearnLimit:            {Name: "SENTINEL_LEARN_LIMIT", Flag: "learn-limit", Default: "0", Help: "above 1: new keys may be used from this many addresses before they lock (0: off, bind to the first)"},
	ForgetUnauthorized:    {Name: "SENTINEL_FORGET_UNAUTHORIZED", Flag: "forget-unauthorized", Default: "true", Help: "remove a first-use binding when the downstream answers its request with 401 (junk keys)"},
	LastUsedInterval:      {Name: "SENTINEL_LAST_USED_INTERVAL", Flag: "last-used-interval", Default: "5s", Help: "how often last-use times are written (one write per key per interval)"},
	CacheTTL:              {Name: "SENTINEL_CACHE_TTL", Flag: "cache-ttl", Default: "1h", Help: "how long a cached binding lives without news from the store (changes reach caches at once; this bounds what a missed one costs)"},
	StoreTimeout:          {Name: "SENTINEL_STORE_TIMEOUT", Flag: "store-timeout", Default: "2s", Help: "deadline of one decision on the request path: every store call it makes, SQLite locks included; a decision past it is answered 503 sentinel_busy, never by the failsafe"},
	WSProtocolKeys:        {Name: "SENTINEL_WS_PROTOCOL_KEYS", Flag: "ws-protocol-keys", Default: "legacy", Help: "which part of Sec-WebSocket-Protocol is a key: legacy (the whole value when no openai-insecure-api-key. part, as New API up to e2c7aa7b1 reads it) or insecure-api-key (only that part, for newer New API)"},
	BindManagementTokens:  {Name: "SENTINEL_BIND_MANAGEMENT_TOKENS", Flag: "bind-management-tokens", Default: "false", Help: "bind and check New API dashboard JWTs and access tokens on /api/* too (default: passed untouched)"},
	NewBindingsPerIP:      {Name: "SENTINEL_NEW_BINDINGS_PER_IP", Flag: "new-bindings-per-ip", Default: "30", Help: "new keys one client address (binding prefix) may bind per minute; past it 429 too_many_new_keys (0: unlimited)"},
	InterceptsPerIP:       {Name: "SENTINEL_INTERCEPTS_PER_IP", Flag: "intercepts-per-ip", Default: "60", Help: "intercept rows one client address may cause per minute; past it refusals are enforced but not recorded (0: unlimited)"},
	MaxPendingLookups:     {Name: "SENTINEL_MAX_PENDING_LOOKUPS", Flag: "max-pending-lookups", Default: "64", Help: "authority calls for keys the cache does not know that may run at once; past it 503 sentinel_busy for those keys"},
	PassHost:              {Name: "SENTINEL_PASS_HOST", Flag: "pass-host", Default: "true", Help: "pass the client's Host to the downstream (New API derives links and passkey origins from it); false sends the downstream's host"},
	MaxHeaderBytes:        {Name: "SENTINEL_MAX_HEADER_BYTES", Flag: "max-header-bytes", Default: "65536", Help: "largest request line and headers; past it 431"},
	ReadHeaderTimeout:     {Name: "SENTINEL_READ_HEADER_TIMEOUT", Flag: "read-header-timeout", Default: "10s", Help: "time to read a request's headers"},
	BodyIdleTimeout:       {Name: "SENTINEL_BODY_IDLE_TIMEOUT", Flag: "body-idle-timeout", Default: "30s", Help: "longest wait for the next byte of a request body; past it the body is cut with 408 and the downstream connection released"},
	IdleTimeout:           {Name: "SENTINEL_IDLE_TIMEOUT", Flag: "idle-timeout", Default: "2m", Help: "keep-alive connections idle this long are closed"},
	MaxConnsPerIP:         {Name: "SENTINEL_MAX_CONNS_PER_IP", Flag: "max-conns-per-ip", Default: "256", Help: "concurrent connections from one peer address (trusted proxies exempt)"},
	MaxConns:              {Name: "SENTINEL_MAX_CONNS", Flag: "max-conns", Default: "16384", Help: "concurrent client connections in total"},
	MaxDownstreamConns:    {Name: "SENTINEL_MAX_DOWNSTREAM_CONNS", Flag: "max-downstream-conns", Default: "2048", Help: "connections to the downstream; requests past it wait"},
	Migrate:               {Name: "SENTINEL_MIGRATE", Flag: "migrate", Default: "false", Help: "apply PostgreSQL migrations at start (the embedded store always migrates)"},
	ShutdownTimeout:       {Name: "SENTINEL_SHUTDOWN_TIMEOUT", Flag: "shutdown-timeout", Default: "30s", Help: "how long in-flight requests and streams may finish after SIGTERM"},
	AdminPassword:         {Name: "ADMIN_PASSWORD", Flag: "admin-password", Help: "admin console password, at least 8 bytes; generated into the data directory and printed once when unset (required with PG_DSN)", Secret: true},
	AdminJWTSecret:        {Name: "ADMIN_JWT_SECRET", Flag: "admin-jwt-secret", Help: "secret signing admin sessions, at least 32 bytes; generated into the data directory when unset (required with PG_DSN)", Secret: true},
	AdminSessionTTL:       {Name: "ADMIN_SESSION_TTL", Flag: "admin-session-ttl", Default: "12h", Help: "how long an admin session (JWT) stays valid"},
	AdminLoginMaxFailures: {Name: "ADMIN_LOGIN_MAX_FAILURES", Flag: "admin-login-max-failures", Default: "5", Help: "failed admin logins from one client IP before it is locked out"},
	AdminLoginLockout:     {Name: "ADMIN_LOGIN_LOCKOUT", Flag: "admin-login-lockout", Default: "15m", Help: "how long a locked-out client IP may not log in"},
	AlertWebhookURL:       {Name: "ALERT_WEBHOOK_URL", Flag: "alert-webhook-url", Help: "where refusal alerts are posted", Secret: true},
	AlertThresholdCount:   {Name: "ALERT_THRESHOLD_COUNT", Flag: "alert-threshold-count", Default: "5", Help: "refusals of one key within the window that raise an alert"},
	AlertThresholdSeconds: {Name: "ALERT_THRESHOLD_SECONDS", Flag: "alert-threshold-seconds", Default: "300", Help: "the alert window, in seconds"},
	AlertWebhookFormat:    {Name: "ALERT_WEBHOOK_FORMAT", Flag: "alert-webhook-format", Default: "auto", Help: "generic, slack, feishu (or lark) or dingtalk; auto picks by the webhook's host, else generic"},
	AlertWebhookSecret:    {Name: "ALERT_WEBHOOK_SECRET", Flag: "alert-webhook-secret", Help: "signs generic alerts (X-Sentinel-Signature); for Feishu and DingTalk, the bot's signing secret", Secret: true},
	AlertAllowPrivate:     {Name: "ALERT_WEBHOOK_ALLOW_PRIVATE", Flag: "alert-webhook-allow-private", Default: "false", Help: "allow webhook receivers on loopback, private, link-local and CGNAT addresses"},
	PublicURL:             {Name: "SENTINEL_PUBLIC_URL", Flag: "public-url", Help: "the console's public base URL, for links in alerts"},
	ArchiveDays:           {Name: "ARCHIVE_DAYS", Flag: "archive-days", Default: "90", Help: "bindings unused this many days are archived"},
	LogRetentionDays:      {Name: "LOG_RETENTION_DAYS", Flag: "log-retention-days", Default: "180", Help: "intercept records older than this many days are deleted by the archiver (0: kept)"},
	ArchiveInterval:       {Name: "SENTINEL_ARCHIVE_INTERVAL", Flag: "archive-interval", Default: "1h", Help: "how often sentinel-archiver runs"},
	LogLevel:              {Name: "LOG_LEVEL", Flag: "log-level", Default: "info", Help: "debug, info, warn or error"},
	LogFormat:             {Name: "LOG_FORMAT", Flag: "log-format", Default: "text", Help: "text or json"},
	AccessLog:             {Name: "SENTINEL_ACCESS_LOG", Flag: "access-log", Default: "false", Help: "log one line per proxied request: method, path (no query), status, bytes, duration, client IP, masked key, request id"},
	MetricsAddr:           {Name: "SENTINEL_METRICS_ADDR", Flag: "metrics-addr", Default: "127.0.0.1:9090", Help: "where Prometheus metrics are served (/metrics, its own listener); empty or off: not served"},
	ConfigFile:            {Name: "SENTINEL_CONFIG", Flag: "config", Help: "configuration file (YAML, TOML or JSON) with the same names as the environment", Locator: true},
	EnvFile:               {Name: "SENTINEL_ENV_FILE", Flag: "env-file", Help: "dotenv file to read (default .env in the working directory, when present)", Locator: true},
}

// Setting returns k's description.
func (k Key) Setting() Setting { return table[k] }

// String returns k's variable name, the name every message uses.
func (k Key) String() string { return table[k].Name }

// Settings lists every variable Sentinel reads, in README order.
func Settings() []Setting { return append([]Setting(nil), table[:]...) }

// keys returns every Key, in table order.
func keys() []Key {
	ks := make([]Key, numKeys)
	for i := range ks {
		ks[i] = Key(i)
	}
	return ks
}
