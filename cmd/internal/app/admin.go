package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/adminapi"
	"github.com/keyipsentinel/sentinel/adapters/clock"
	"github.com/keyipsentinel/sentinel/adapters/httpproxy"
	"github.com/keyipsentinel/sentinel/adapters/memory"
	"github.com/keyipsentinel/sentinel/adapters/postgres"
	"github.com/keyipsentinel/sentinel/adapters/sqlite"
	"github.com/keyipsentinel/sentinel/adapters/valkey"
	"github.com/keyipsentinel/sentinel/adapters/webhook"
	adminui "github.com/keyipsentinel/sentinel/admin-ui"
	"github.com/keyipsentinel/sentinel/cmd/internal/config"
)

// settingsPoll is how often a process on the embedded store checks the
// settings version, so a change made by another process on the same file
// takes effect within a second.
const settingsPoll = 500 * time.Millisecond

// adminRuntime are the ports the admin API shares with the proxy of the
// same process: daily counters (the proxy's Tally writes, the dashboard
// reads), live settings (the admin API saves, every process's follower
// reloads), the login-failure counter, and the audit log.
type adminRuntime struct {
	Daily     sentinel.DailyCounter
	Logins    sentinel.WindowCounter
	Notifier  sentinel.SettingsNotifier
	Settings  sentinel.SettingsStore
	Audit     sentinel.AuditStore
	Report    sentinel.BindingReport
	Intercept sentinel.InterceptReport
	// Poll is the follower's version poll (embedded store only).
	Poll time.Duration
	// valkey is the client behind the Valkey ports, nil without REDIS_ADDR.
	valkey  *valkey.Client
	closers []func()
}

// Close releases what openAdminRuntime opened.
func (rt *adminRuntime) Close() {
	for i := len(rt.closers) - 1; i >= 0; i-- {
		rt.closers[i]()
	}
}

// openAdminRuntime builds the admin ports over the opened stores: Valkey
// counters and notifications with REDIS_ADDR, in-process ones otherwise.
func openAdminRuntime(cfg *config.Config, log *slog.Logger, st *stores) (*adminRuntime, error) {
	rt := &adminRuntime{}
	switch a := st.Authority.(type) {
	case *sqlite.BindingStore:
		rt.Settings, rt.Audit, rt.Report = sqlite.NewSettingsStore(a.DB()), sqlite.NewAuditStore(a.DB()), a
		rt.Poll = settingsPoll
	case *postgres.BindingStore:
		rt.Settings, rt.Audit, rt.Report = postgres.NewSettingsStore(a.DB()), postgres.NewAuditStore(a.DB()), a
	default:
		return nil, fmt.Errorf("admin API: unsupported binding store %T", st.Authority)
	}
	// The webhook URL carries its receiver's token: it is stored sealed.
	sealed, err := sentinel.SealSettings(rt.Settings, cfg.HMACSecret)
	if err != nil {
		return nil, fmt.Errorf("SENTINEL_HMAC_SECRET: %w", err)
	}
	rt.Settings = sealed
	ir, ok := st.Intercepts.(sentinel.InterceptReport)
	if !ok {
		return nil, fmt.Errorf("admin API: intercept store %T cannot report", st.Intercepts)
	}
	rt.Intercept = ir
	if c := st.valkey; c != nil { // the stores' client: one connection pool and one outage log per process
		rt.valkey = c
		rt.Daily, rt.Logins, rt.Notifier = valkey.NewDailyCounter(c, 40), valkey.NewWindowCounter(c), valkey.NewSettingsNotifier(c)
		return rt, nil
	}
	rt.Daily, rt.Logins, rt.Notifier = memory.NewDailyCounter(), memory.NewWindowCounter(nil), memory.NewSettingsNotifier()
	return rt, nil
}

// envSettings are the live settings as the environment gives them: what
// every field never changed through the admin API follows.
func envSettings(cfg *config.Config) sentinel.Settings {
	return sentinel.Settings{
		EnforceMode: cfg.Mode, FailsafeMode: cfg.Failsafe,
		AlertThresholdCount: cfg.AlertThresholdCount, AlertWindow: time.Duration(cfg.AlertThresholdSeconds) * time.Second,
		AlertWebhookURL: cfg.AlertWebhookURL, ArchiveDays: cfg.ArchiveDays,
	}
}

// newSettingsFollower returns the follower keeping live equal to the stored
// settings; its Run belongs in a goroutine of the caller.
func newSettingsFollower(cfg *config.Config, log *slog.Logger, rt *adminRuntime, live *sentinel.LiveSettings) *sentinel.SettingsFollower {
	return sentinel.NewSettingsFollower(sentinel.SettingsFollowerOptions{
		Store: rt.Settings, Notifier: rt.Notifier, Live: live, Defaults: envSettings(cfg), Poll: rt.Poll, Logger: log,
	})
}

// serveAdminHandler serves h on cfg.AdminAddr until ctx is done, then
// shuts down gracefully. It never serves proxy traffic.
func serveAdminHandler(ctx context.Context, cfg *config.Config, log *slog.Logger, h http.Handler) error {
	ln, err := net.Listen("tcp", cfg.AdminAddr)
	if err != nil {
		return fmt.Errorf("ADMIN_HOST/ADMIN_PORT: cannot listen on %s: %w", cfg.AdminAddr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	log.Info("admin API listening", "addr", ln.Addr().String(), "console", "http://"+ln.Addr().String()+adminapi.UIPrefix,
		"docs", "http://"+ln.Addr().String()+adminapi.Prefix+"/docs")
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// alertDrainTimeout bounds how long a stopping process keeps delivering
// queued alerts.
const alertDrainTimeout = 5 * time.Second

// services are what runs around the proxy and the admin API in one
// process: the settings follower (live settings within a second), the
// dashboard Tally's flush loop, the alert service and its webhook
// notifier, and, in the all-in-one binary, the archiver.
type services struct {
	rt       *adminRuntime
	follower *sentinel.SettingsFollower
	// Tally counts allowed and refused requests and new bindings for the
	// dashboard; its flush loop runs here. The proxy's middleware feeds it
	// through its observer hook (httpproxy.TallyObserver).
	Tally    *sentinel.Tally
	alerts   *sentinel.AlertService // nil in sentinel-admin
	notifier *webhook.Notifier
	archiver *sentinel.Archiver // lists and restores; runs only in the all-in-one
	runArch  bool
	every    time.Duration // the archiver's interval (SENTINEL_ARCHIVE_INTERVAL)
	// metrics, when on, learn the admin API server once it is built.
	metrics *metricSources
}

// openServices builds the services over the opened stores for binary b.
// The stored live settings are loaded before it returns, so the process
// never serves a request under the environment's settings when an
// operator changed them.
// ran, when set, is told about the archiver's runs (metrics).
func openServices(ctx context.Context, cfg *config.Config, log *slog.Logger, b Binary, st *stores, live *sentinel.LiveSettings,
	ran func(time.Time, sentinel.ArchiveReport, error)) (*services, error) {
	rt, err := openAdminRuntime(cfg, log, st)
	if err != nil {
		return nil, err
	}
	sv := &services{rt: rt, follower: newSettingsFollower(cfg, log, rt, live)}
	lctx, cancel := context.WithTimeout(ctx, max(cfg.StoreTimeout, time.Second))
	defer cancel()
	if err := sv.follower.Reload(lctx); err != nil {
		log.Warn("stored live settings not loaded; starting with the environment's until they are", "error", err)
	}
	sv.Tally = sentinel.NewTally(rt.Daily, sentinel.TallyOptions{Logger: log})
	format, err := webhook.ParseFormat(cfg.AlertWebhookFormat)
	if err != nil {
		return nil, fmt.Errorf("ALERT_WEBHOOK_FORMAT: %w", err)
	}
	sv.notifier = webhook.New(webhook.Options{Settings: live, Format: format, Secret: cfg.AlertWebhookSecret,
		AllowPrivate: cfg.AlertAllowPrivate, Logger: log})
	if b != AdminOnly {
		var counter sentinel.AlertCounter = memory.NewAlertCounter()
		if c := rt.valkey; c != nil {
			counter = valkey.NewAlertCounter(c)
		}
		finder, _ := st.Bindings.(sentinel.BindingFinder)
		sv.alerts = sentinel.NewAlertService(counter, sv.notifier, live, sentinel.AlertServiceOptions{Bindings: finder, PublicURL: cfg.PublicURL, Logger: log})
	}
	var forget sentinel.BindingForgetter
	if cfg.RedisAddr != "" {
		forget, _ = st.Bindings.(sentinel.BindingForgetter)
	}
	switch a := st.Authority.(type) {
	case *sqlite.BindingStore:
		sv.archiver = sentinel.NewArchiver(sqlite.NewArchiveStore(a.DB()), live, sentinel.ArchiverOptions{Forget: forget, LogRetentionDays: retentionDays(cfg.LogRetentionDays), Ran: ran, Logger: log})
	case *postgres.BindingStore:
		sv.archiver = sentinel.NewArchiver(postgres.NewArchiveStore(a.DB()), live, sentinel.ArchiverOptions{Forget: forget, LogRetentionDays: retentionDays(cfg.LogRetentionDays), Ran: ran, Logger: log})
	}
	sv.runArch, sv.every = b == AllInOne, cfg.ArchiveInterval
	return sv, nil
}

// Close releases the admin runtime.
func (sv *services) Close() { sv.rt.Close() }

// recorder wraps the proxy's recorder so refusals also reach the alert
// service.
func (sv *services) recorder(rec sentinel.Recorder) sentinel.Recorder {
	if sv.alerts == nil {
		return rec
	}
	return sentinel.AlertingRecorder{Recorder: rec, Alerts: sv.alerts}
}

// start runs the background loops in g: every one returns when ctx is
// done.
func (sv *services) start(ctx context.Context, g *errgroup.Group) {
	g.Go(func() error {
		if err := sv.follower.Run(ctx); err != nil && ctx.Err() == nil {
			return fmt.Errorf("follow live settings: %w", err)
		}
		return nil
	})
	g.Go(func() error { return sv.Tally.Run(ctx) })
	if sv.alerts != nil {
		g.Go(func() error { return sv.alerts.Run(ctx) })
		g.Go(func() error { return sv.notifier.Run(ctx) })
	}
	if sv.runArch && sv.archiver != nil {
		g.Go(func() error {
			if err := sv.archiver.Run(ctx, sv.every); err != nil && ctx.Err() == nil {
				return fmt.Errorf("archiver: %w", err)
			}
			return nil
		})
	}
}

// drain delivers the alerts still queued, within alertDrainTimeout, after
// the loops stopped.
func (sv *services) drain() {
	if sv.alerts == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), alertDrainTimeout)
	defer cancel()
	sv.alerts.Process(ctx)
	sv.notifier.Drain(ctx)
}

// adminOptions are the admin API's options over the services.
func (sv *services) adminOptions(cfg *config.Config, log *slog.Logger, st *stores, hasher *sentinel.Hasher) adminapi.Options {
	rt := sv.rt
	audit, _ := rt.Audit.(sentinel.AuditWriter)
	o := adminapi.Options{
		Bindings: st.Bindings, BindingReport: rt.Report, Intercepts: st.Intercepts, InterceptReport: rt.Intercept,
		Audit: rt.Audit, AuditLog: audit, Settings: rt.Settings, Follower: sv.follower, Notifier: rt.Notifier, Daily: rt.Daily,
		Logins: rt.Logins, Hasher: hasher,
		ClientIP: httpproxy.NewClientIPResolver(cfg.TrustedProxies, cfg.ClientIPHeader).Resolve,
		Password: cfg.AdminPassword, JWTSecret: []byte(cfg.AdminJWTSecret), SessionTTL: cfg.AdminSessionTTL,
		LoginMaxFailures: cfg.AdminLoginMaxFailures, LoginLockout: cfg.AdminLoginLockout, Logger: log,
		WebhookAllowPrivate: cfg.AlertAllowPrivate,
		WebhookSend: func(ctx context.Context, u string, allowPrivate bool) (int, time.Duration, error) {
			format, _ := webhook.ParseFormat(cfg.AlertWebhookFormat) // checked at start
			n := webhook.New(webhook.Options{Format: format, Secret: cfg.AlertWebhookSecret, AllowPrivate: allowPrivate, Logger: log})
			defer n.CloseIdleConnections() // made for this one send
			r, err := n.Send(ctx, u, webhook.SampleAlert(time.Now(), cfg.PublicURL))
			return r.Status, r.Latency, err
		},
	}
	if sv.archiver != nil {
		o.Archive = sv.archiver
	}
	if ui, err := adminui.FS(); err == nil {
		o.UI = ui
	}
	return o
}

// serveAdmin serves the admin API on cfg.AdminAddr until ctx is done.
func (sv *services) serveAdmin(ctx context.Context, cfg *config.Config, log *slog.Logger, st *stores, hasher *sentinel.Hasher) error {
	api, err := adminapi.New(sv.adminOptions(cfg, log, st, hasher))
	if err != nil {
		return err
	}
	if sv.metrics != nil {
		sv.metrics.api.Store(api)
	}
	// /health and /ready at the root, as on the proxy listener: Compose and
	// load balancers probe every listener the same way.
	return serveAdminHandler(ctx, cfg, log, httpproxy.WithHealth(api.Handler(), st.readiness(cfg, log)))
}

// notAdmin answers 404 to /admin/api/* on the proxy listener: the admin
// API lives on the admin address only, and a proxy in front that routes
// /admin/ wrongly must not reach the gateway with an operator's session
// token either. Everything else goes to next.
func notAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Cleaned and case-folded: "/Admin/./api/login" must not slip past.
		// (Cleaning removes no letters: a path without "admin" in some case
		// is let through without the allocations.)
		if !containsFold(r.URL.Path, "admin") {
			next.ServeHTTP(w, r)
			return
		}
		if p := strings.ToLower(path.Clean("/" + r.URL.Path)); p == adminapi.Prefix || strings.HasPrefix(p, adminapi.Prefix+"/") {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error":{"message":"The admin API is served on the admin address (ADMIN_HOST:ADMIN_PORT), not the proxy's.","type":"sentinel_error","code":"not_found"}}` + "\n"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// containsFold reports whether s may contain sub, an ASCII lower-case
// word, in any case: true too for any s that is not all ASCII, whose
// runes strings.ToLower may turn into ASCII letters (U+0130 into "i").
func containsFold(s, sub string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return true
		}
	}
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// runAdminServe is `sentinel-admin serve`: the admin API, its settings
// follower and the binding cache's change feed, without the proxy.
func runAdminServe(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	clk := clock.System{}
	live, err := sentinel.NewLiveSettings(envSettings(cfg))
	if err != nil {
		return err
	}
	st, err := openStores(ctx, cfg, log, clk)
	if err != nil {
		return err
	}
	defer st.Close()
	hasher, err := sentinel.NewHasher(cfg.HMACSecret)
	if err != nil {
		return err
	}
	metricsLn, err := listenMetrics(cfg)
	if err != nil {
		return err
	}
	src := &metricSources{live: live, st: st}
	sv, err := openServices(ctx, cfg, log, AdminOnly, st, live, nil)
	if err != nil {
		return err
	}
	defer sv.Close()
	g, gctx := errgroup.WithContext(ctx)
	if metricsLn != nil {
		sv.metrics = src
		m := newMetrics(AdminOnly, src)
		g.Go(func() error { return serveMetrics(gctx, metricsLn, m, log) })
	}
	sv.start(gctx, g)
	st.follow(gctx, gctx, g, log)
	g.Go(func() error { return sv.serveAdmin(gctx, cfg, log, st, hasher) })
	return g.Wait()
}

// printOpenAPI is `sentinel-admin openapi [--format yaml|json|3.0]`.
func printOpenAPI(w io.Writer, format string) error {
	s, err := adminapi.New(adminapi.Options{})
	if err != nil {
		return err
	}
	var b []byte
	switch format {
	case "", "yaml":
		b, err = s.OpenAPI().YAML()
	case "json":
		b, err = json.MarshalIndent(s.OpenAPI(), "", "  ")
		b = append(b, '\n')
	case "3.0":
		b, err = s.OpenAPI().DowngradeYAML()
	default:
		return fmt.Errorf("--format: must be yaml, json or 3.0, got %q", format)
	}
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
