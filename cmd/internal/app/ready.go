package app

import (
	"log/slog"

	"github.com/keyipsentinel/sentinel/adapters/httpproxy"
	"github.com/keyipsentinel/sentinel/cmd/internal/config"
)

// readiness is what /ready answers from, on the proxy listener and (mounted
// by the admin server) the admin one: every opened store reachable within
// SENTINEL_STORE_TIMEOUT, the schema current. The failing parts are named
// ("postgres", "sqlite", "valkey"); why is logged.
func (s *stores) readiness(cfg *config.Config, log *slog.Logger) *httpproxy.Readiness {
	return httpproxy.NewReadiness(httpproxy.ReadinessOptions{Timeout: cfg.StoreTimeout, Logger: log}, s.checks...)
}
