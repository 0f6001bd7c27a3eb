package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/httpproxy"
	"github.com/keyipsentinel/sentinel/adapters/prometheus"
	"github.com/keyipsentinel/sentinel/cmd/internal/config"
)

// proxyMetrics returns the metrics of a proxy process, read at scrape time
// from the counters the middleware and the recorder keep. The hot-path
// observations (decision latency, refusals by reason, streams...) join
// when the Middleware's observer hook is wired to m.
func proxyMetrics(guard *httpproxy.Middleware, rec *sentinel.BatchRecorder, live *sentinel.LiveSettings) *prometheus.Metrics {
	return prometheus.New(prometheus.Options{
		Version: Version(), Revision: Revision(),
		Proxy: func() prometheus.ProxyStats {
			s := guard.Stats()
			return prometheus.ProxyStats{
				Allowed: s.Allowed, Refused: s.Refused, Monitored: s.Monitored, Unkeyed: s.Unkeyed,
				FailedClosed: s.FailedClosed, FailedOpen: s.FailedOpen, Abandoned: s.Abandoned,
				CleanupsDone: s.CleanupsDone, CleanupsFailed: s.CleanupsFailed, CleanupsDropped: s.CleanupsDropped,
			}
		},
		Recorder: rec.Stats,
		Settings: live.Load,
	})
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
