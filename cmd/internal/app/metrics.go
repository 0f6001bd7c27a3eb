package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/adminapi"
	"github.com/keyipsentinel/sentinel/adapters/httpproxy"
	"github.com/keyipsentinel/sentinel/adapters/localcache"
	"github.com/keyipsentinel/sentinel/adapters/prometheus"
	"github.com/keyipsentinel/sentinel/adapters/valkey"
	"github.com/keyipsentinel/sentinel/adapters/webhook"
	"github.com/keyipsentinel/sentinel/cmd/internal/config"
)

// The metrics are the proxy middleware's observer: prometheus matches
// httpproxy.Observer by method set, since adapters do not import each
// other, and this line keeps the two in step.
var _ httpproxy.Observer = (*prometheus.Metrics)(nil)

// metricSources are what a process's metrics read at scrape time. The
// metrics are made before the things they read (they are the middleware's
// observer, so they exist before it); the program fills the fields in
// before the metrics listener starts, and a scrape never sees one unset.
type metricSources struct {
	guard    *httpproxy.Middleware
	rec      *sentinel.BatchRecorder
	live     *sentinel.LiveSettings
	st       *stores
	notifier *webhook.Notifier
	// api is the admin API server, set when it starts (it is built inside
	// its serving loop).
	api atomic.Pointer[adminapi.Server]
}

// newMetrics returns the metrics of binary b over src: each binary
// exports what it has.
func newMetrics(b Binary, src *metricSources) *prometheus.Metrics {
	o := prometheus.Options{Version: Version(), Revision: Revision()}
	proxy := b == AllInOne || b == ProxyOnly
	if proxy {
		o.Proxy = func() prometheus.ProxyStats {
			s := src.guard.Stats()
			return prometheus.ProxyStats{
				Allowed: s.Allowed, Refused: s.Refused, Monitored: s.Monitored, Unkeyed: s.Unkeyed,
				FailedClosed: s.FailedClosed, FailedOpen: s.FailedOpen, Abandoned: s.Abandoned,
				CleanupsDone: s.CleanupsDone, CleanupsFailed: s.CleanupsFailed, CleanupsDropped: s.CleanupsDropped,
			}
		}
		o.Recorder = func() sentinel.RecorderStats { return src.rec.Stats() }
		o.Alerts = func() prometheus.AlertStats { return prometheus.AlertStats(src.notifier.Stats()) }
	}
	if b != ArchiverOnly {
		o.Settings = func() *sentinel.Settings { return src.live.Load() }
		o.Cache = func() prometheus.CacheStats { return src.st.cacheStats() }
	}
	if b == AllInOne || b == AdminOnly {
		o.Logins = func() prometheus.LoginStats {
			if api := src.api.Load(); api != nil {
				s := api.Stats()
				return prometheus.LoginStats{Failures: s.Failures, Lockouts: s.Lockouts}
			}
			return prometheus.LoginStats{}
		}
	}
	return prometheus.New(o)
}

// archiverRan feeds the archiver's runs to m (ArchiverOptions.Ran); nil
// when metrics are off.
func archiverRan(m *prometheus.Metrics) func(time.Time, sentinel.ArchiveReport, error) {
	if m == nil {
		return nil
	}
	return func(end time.Time, rep sentinel.ArchiveReport, err error) {
		m.ArchiverRan(end, int64(rep.Archived), err)
	}
}

// cacheStats copies the binding cache's counters for the metrics.
func (s *stores) cacheStats() prometheus.CacheStats {
	switch c := s.Bindings.(type) {
	case *valkey.BindingStore:
		v := c.Stats()
		return prometheus.CacheStats{Layer: "valkey", Authority: s.authority, Hits: v.Hits, Misses: v.Misses,
			Invalidations: v.Invalidations, CacheErrors: v.Errors, CacheWriteErrors: v.SetErrors,
			AuthorityErrors: v.InnerErrors, AuthorityWriteErrors: v.InnerWriteErrors}
	case *localcache.BindingStore:
		v := c.Stats()
		return prometheus.CacheStats{Layer: "local", Authority: s.authority, Hits: v.Hits, Misses: v.Misses,
			Invalidations: v.Invalidations, AuthorityErrors: v.Errors, AuthorityWriteErrors: v.WriteErrors}
	}
	return prometheus.CacheStats{Layer: "none", Authority: s.authority}
}

// listenMetrics opens SENTINEL_METRICS_ADDR's listener at start, so a port
// in use stops the program with the variable named instead of failing a
// background loop later; nil when metrics are off.
func listenMetrics(cfg *config.Config) (net.Listener, error) {
	if cfg.MetricsAddr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", cfg.MetricsAddr)
	if err != nil {
		return nil, fmt.Errorf("SENTINEL_METRICS_ADDR: cannot listen on %s: %w", cfg.MetricsAddr, err)
	}
	return ln, nil
}

// serveMetrics serves m on ln until ctx is done.
func serveMetrics(ctx context.Context, ln net.Listener, m *prometheus.Metrics, log *slog.Logger) error {
	log.Info("metrics listening", "addr", ln.Addr().String(), "path", "/metrics")
	if err := prometheus.NewServer(ln.Addr().String(), m).Serve(ctx, ln); err != nil {
		return fmt.Errorf("metrics server: %w", err)
	}
	return nil
}
