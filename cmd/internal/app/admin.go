package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/adminapi"
	"github.com/keyipsentinel/sentinel/adapters/memory"
	"github.com/keyipsentinel/sentinel/adapters/postgres"
	"github.com/keyipsentinel/sentinel/adapters/sqlite"
	"github.com/keyipsentinel/sentinel/adapters/valkey"
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
	Poll    time.Duration
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
	ir, ok := st.Intercepts.(sentinel.InterceptReport)
	if !ok {
		return nil, fmt.Errorf("admin API: intercept store %T cannot report", st.Intercepts)
	}
	rt.Intercept = ir
	if cfg.RedisAddr != "" {
		c, err := valkey.Connect(valkey.Options{Addr: cfg.RedisAddr, Password: cfg.RedisPassword, Prefix: cfg.RedisPrefix,
			Timeout: min(cfg.StoreTimeout, time.Second), Logger: log})
		if err != nil {
			return nil, fmt.Errorf("REDIS_ADDR: %w", err)
		}
		rt.closers = append(rt.closers, c.Close)
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

// adminAuth are the admin API's credentials and limits; the config carries
// them (ADMIN_PASSWORD, ADMIN_JWT_SECRET, ADMIN_SESSION_TTL,
// ADMIN_LOGIN_MAX_FAILURES, ADMIN_LOGIN_LOCKOUT). Zero durations and
// counts take the adminapi defaults.
type adminAuth struct {
	Password    string
	JWTSecret   []byte
	SessionTTL  time.Duration
	MaxFailures int
	Lockout     time.Duration
}

// runAdmin serves the admin API on cfg.AdminAddr until ctx is done, then
// shuts down gracefully. clientIP applies the proxy's trusted-proxy rules
// (httpproxy's resolver). It never serves proxy traffic.
func runAdmin(ctx context.Context, cfg *config.Config, log *slog.Logger, st *stores, rt *adminRuntime,
	follower *sentinel.SettingsFollower, hasher *sentinel.Hasher, auth adminAuth,
	clientIP func(*http.Request) (netip.Addr, error)) error {
	api, err := adminapi.New(adminapi.Options{
		Bindings: st.Bindings, BindingReport: rt.Report, Intercepts: st.Intercepts, InterceptReport: rt.Intercept,
		Audit: rt.Audit, Settings: rt.Settings, Follower: follower, Notifier: rt.Notifier, Daily: rt.Daily,
		Logins: rt.Logins, Hasher: hasher, ClientIP: clientIP,
		Password: auth.Password, JWTSecret: auth.JWTSecret, SessionTTL: auth.SessionTTL,
		LoginMaxFailures: auth.MaxFailures, LoginLockout: auth.Lockout, Logger: log,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.AdminAddr)
	if err != nil {
		return fmt.Errorf("ADMIN_HOST/ADMIN_PORT: cannot listen on %s: %w", cfg.AdminAddr, err)
	}
	srv := &http.Server{Handler: api.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	log.Info("admin API listening", "addr", ln.Addr().String(), "docs", "http://"+ln.Addr().String()+adminapi.Prefix+"/docs")
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
