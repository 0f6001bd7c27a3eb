package prometheus

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler returns the handler serving the metrics in the exposition format
// the scraper asks for. Errors while gathering are answered as they happen
// (HTTP 500) and counted in promhttp_metric_handler_errors_total.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		Registry:          m.reg,
		ErrorHandling:     promhttp.HTTPErrorOnError,
		Timeout:           10 * time.Second,
		EnableOpenMetrics: true,
	})
}

// Server serves /metrics on its own listener (SENTINEL_METRICS_ADDR), so
// the metrics are never reachable through the public proxy port.
type Server struct {
	// Addr is the listen address, e.g. "127.0.0.1:9090".
	Addr string
	// ShutdownTimeout bounds how long a scrape in flight may finish when
	// Run's context ends; zero means 5s.
	ShutdownTimeout time.Duration

	srv *http.Server
}

// NewServer returns a Server for m on addr.
func NewServer(addr string, m *Metrics) *Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	return &Server{Addr: addr, srv: &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}}
}

// Run listens on Addr and serves until ctx ends, then shuts down. It returns
// nil after a shutdown, or the error that stopped it.
func (s *Server) Run(ctx context.Context) error {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", s.Addr)
	if err != nil {
		return err
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on a listener the caller opened (tests use 127.0.0.1:0). It
// closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	timeout := s.ShutdownTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	err := s.srv.Shutdown(shutCtx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}
