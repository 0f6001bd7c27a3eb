package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/sync/errgroup"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/clock"
	"github.com/keyipsentinel/sentinel/adapters/httpproxy"
	"github.com/keyipsentinel/sentinel/adapters/prometheus"
	"github.com/keyipsentinel/sentinel/cmd/internal/config"
	"github.com/keyipsentinel/sentinel/cmd/internal/demo"
)

// runServe runs the proxy until ctx is done, then stops in order: stop
// accepting, let in-flight requests and streams finish (bounded), stop the
// background loops (recorder, change feed, junk-key clean-up: an errgroup
// owns them and shutdown waits for every one), flush the recorder's
// queues, close the stores.
func runServe(ctx context.Context, b Binary, cfg *config.Config, log *slog.Logger, withDemo bool) error {
	if withDemo {
		u, stop, err := demo.Start()
		if err != nil {
			return fmt.Errorf("start the demo upstream: %w", err)
		}
		defer stop()
		cfg.DownstreamURL, _ = url.Parse(u)
		log.Info("demo upstream started; forwarding to it instead of DOWNSTREAM_URL", "url", u)
	}
	clk := clock.System{}
	// The one home of the modes: the Binder and the Middleware share it.
	live, err := sentinel.NewLiveSettings(sentinel.Settings{
		EnforceMode: cfg.Mode, FailsafeMode: cfg.Failsafe,
		AlertThresholdCount: cfg.AlertThresholdCount, AlertWindow: time.Duration(cfg.AlertThresholdSeconds) * time.Second,
		AlertWebhookURL: cfg.AlertWebhookURL, ArchiveDays: cfg.ArchiveDays,
	})
	if err != nil {
		return err
	}
	st, err := openStores(ctx, cfg, log, clk)
	if err != nil {
		return err
	}
	defer st.Close()

	decider, err := sentinel.NewBinder(st.Bindings, sentinel.BinderOptions{
		Settings: live, Granularity: cfg.Granularity, LearnLimit: cfg.LearnLimit, Clock: clk,
		NewKeys: sentinel.NewRateBudget(cfg.NewBindingsPerIP, clk),
	})
	if err != nil {
		return err
	}
	hasher, err := sentinel.NewHasher(cfg.HMACSecret)
	if err != nil {
		return err
	}
	rec := sentinel.NewBatchRecorder(st.Authority, st.Intercepts, sentinel.BatchRecorderOptions{
		UseInterval: cfg.LastUsedInterval, Logger: log, Clock: clk,
	})
	// The metrics (nil when off) observe the middleware, so they are made
	// before it; what they read at scrape time is filled in below, before
	// their listener starts.
	src := &metricSources{rec: rec, live: live, st: st}
	var m *prometheus.Metrics
	if cfg.MetricsAddr != "" {
		m = newMetrics(b, src)
	}
	sv, err := openServices(ctx, cfg, log, b, st, live, archiverRan(m))
	if err != nil {
		return err
	}
	defer sv.Close()
	sv.metrics, src.notifier = src, sv.notifier
	var obs httpproxy.Observer = httpproxy.TallyObserver{Tally: sv.Tally} // the dashboard's daily counts
	if m != nil {
		obs = httpproxy.Observers{obs, m}
	}
	guard, err := httpproxy.NewMiddleware(httpproxy.MiddlewareOptions{
		Decider:          decider,
		Hasher:           hasher,
		Recorder:         sv.recorder(rec), // refusals also feed the alerts
		Settings:         live,
		ClientIPResolver: httpproxy.NewClientIPResolver(cfg.TrustedProxies, cfg.ClientIPHeader),
		DecisionTimeout:  cfg.StoreTimeout,
		KeepUnauthorized: !cfg.ForgetUnauth,
		Extractor: httpproxy.Extractor{WSProtocolKeys: httpproxy.WSProtocolKeys(cfg.WSProtocolKeys),
			BindManagementTokens: cfg.BindManagementTokens},
		Lookup:     st.Bindings,
		Intercepts: sentinel.NewRateBudget(cfg.InterceptsPerIP, clk),
		Observer:   obs,
		Logger:     log,
		Clock:      clk,
	})
	if err != nil {
		return err
	}
	src.guard = guard

	// The background loops outlive ctx so that in-flight requests are
	// still recorded while draining; they stop when the shutdown reaches
	// them, or all together when one of them fails. Every one has stopped
	// before the stores close (deferred earlier, so run later).
	bgCtx, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	bg, bgCtx := errgroup.WithContext(bgCtx)
	waited := false
	waitBG := func() error {
		if waited {
			return nil
		}
		waited = true
		stopBG()
		return bg.Wait()
	}
	defer waitBG()
	bg.Go(func() error { return rec.Run(bgCtx) })
	bg.Go(func() error { return guard.Run(bgCtx) })
	metricsLn, err := listenMetrics(cfg)
	if err != nil {
		return err
	}
	if metricsLn != nil {
		bg.Go(func() error { return serveMetrics(bgCtx, metricsLn, m, log) })
	}
	sv.start(bgCtx, bg)
	st.follow(bgCtx, ctx, bg, log) // before serving: see follow

	limits := httpproxy.Limits{
		MaxHeaderBytes: cfg.MaxHeaderBytes, ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		BodyIdleTimeout: cfg.BodyIdleTimeout, IdleTimeout: cfg.IdleTimeout,
		MaxConnsPerIP: cfg.MaxConnsPerIP, MaxConns: cfg.MaxConns, MaxDownstreamConns: cfg.MaxDownstreamConns,
		// A trusted proxy's connections carry many clients.
		ExemptPeers: cfg.TrustedProxies,
	}
	if err := limits.Validate(); err != nil {
		return err
	}
	transport := limits.NewUpstream(httpproxy.UpstreamOptions{})
	proxy, err := httpproxy.NewProxy(cfg.DownstreamURL, guard, httpproxy.ProxyOptions{
		Logger: log, Transport: transport, DownstreamHost: !cfg.PassHost,
		Readiness: st.readiness(cfg, log), AccessLog: cfg.AccessLog,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.ProxyAddr)
	if err != nil {
		return fmt.Errorf("APP_HOST/APP_PORT: cannot listen on %s: %w", cfg.ProxyAddr, err)
	}
	ln = limits.Listener(ln)
	_ = adaptProcs(ctx, log) // one P while the load is light (procs.go)
	_ = paceGC(ctx, log)     // fewer collections under bursts of small requests (gcpace.go)
	srv := limits.NewServer(notAdmin(proxy), log)
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	if b == AllInOne { // the admin API beside the proxy, stopping with it
		adminCtx, stopAdmin := context.WithCancel(bgCtx)
		defer context.AfterFunc(ctx, stopAdmin)()
		bg.Go(func() error { return sv.serveAdmin(adminCtx, cfg, log, st, hasher) })
	}
	warnWideTrust(cfg, log)
	log.Info("sentinel proxy listening",
		"addr", ln.Addr().String(), "downstream", cfg.DownstreamURL.Redacted(), "store", st.Describe,
		"failsafe", string(cfg.Failsafe), "mode", string(cfg.Mode), "hmac_secret", cfg.SecretSource,
		"trusted_proxies", len(cfg.TrustedProxies))
	if withDemo {
		log.Info("try it: curl -s -H 'Authorization: Bearer sk-DemoKey0123456789' http://" + hostForCurl(ln.Addr()) + "/v1/models" +
			"  (then the same with --interface 127.0.0.2 to see the refusal)")
	}

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		srv.Close()
		waitBG()
		return fmt.Errorf("proxy server: %w", err)
	case <-bgCtx.Done(): // a background loop failed
		srv.Close()
		<-serveErr
		return waitBG()
	}
	log.Info("shutting down: refusing new connections, letting in-flight requests finish", "timeout", cfg.ShutdownTimeout)
	shutCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		log.Warn("in-flight requests did not finish in time; closing them", "err", err)
		srv.Close()
	}
	if err := proxy.Drain(shutCtx); err != nil {
		log.Warn("WebSocket sessions still open at the shutdown deadline; they end with the process")
	}
	if err := waitBG(); err != nil {
		log.Error("a background loop failed", "err", err)
	}
	sv.drain() // alerts still queued, within a bound
	flushCtx, cancelFlush := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelFlush()
	if err := rec.Flush(flushCtx); err != nil {
		log.Error("could not write every queued intercept and last use before exiting", "err", err)
	}
	s := rec.Stats()
	gs := guard.Stats()
	log.Info("stopped", "allowed", gs.Allowed, "refused", gs.Refused, "monitored", gs.Monitored,
		"failed_closed", gs.FailedClosed, "failed_open", gs.FailedOpen, "abandoned", gs.Abandoned,
		"intercepts_written", s.InterceptsWritten, "intercepts_dropped", s.InterceptsDropped)
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func hostForCurl(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok || tcp.IP.IsUnspecified() {
		if ok {
			return fmt.Sprintf("127.0.0.1:%d", tcp.Port)
		}
	}
	return a.String()
}

// warnWideTrust warns about trusted proxy ranges so wide that almost any
// client could name its own address in the client IP header.
func warnWideTrust(cfg *config.Config, log *slog.Logger) {
	for _, p := range cfg.TrustedProxies {
		if (p.Addr().Is4() && p.Bits() < 8) || (p.Addr().Is6() && p.Bits() < 16) {
			log.Warn("TRUSTED_PROXY_IPS trusts a very wide range: clients inside it can choose the address Sentinel binds their key to",
				"range", p.String(), "header", cfg.ClientIPHeader)
		}
	}
}
