package httpproxy

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Check is one part of readiness: a store, a cache. Ready returns nil when
// the part can serve; its error is logged, never answered, since it may
// name hosts or users.
type Check struct {
	Name  string // short and stable: "postgres", "sqlite", "valkey"
	Ready func(ctx context.Context) error
}

// ReadinessOptions configure a Readiness; zero fields take defaults.
type ReadinessOptions struct {
	// Timeout bounds one round of checks (they run side by side);
	// default 2s.
	Timeout time.Duration
	// CacheFor is how long a result is reused. /ready is answered on the
	// public proxy port, so a flood of probes must not become a flood of
	// store pings; default 1s.
	CacheFor time.Duration
	Logger   *slog.Logger
}

// Readiness answers whether the process can serve: every Check passes.
// It is an http.Handler (for the admin listener) and a Proxy answers
// GET /ready with it. A nil or check-less Readiness is always ready.
type Readiness struct {
	checks []Check
	opts   ReadinessOptions
	log    *slog.Logger

	mu      sync.Mutex
	at      time.Time
	failing []string
}

// NewReadiness returns a Readiness over checks.
func NewReadiness(opts ReadinessOptions, checks ...Check) *Readiness {
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Second
	}
	if opts.CacheFor <= 0 {
		opts.CacheFor = time.Second
	}
	rd := &Readiness{checks: append([]Check(nil), checks...), opts: opts, log: opts.Logger}
	if rd.log == nil {
		rd.log = slog.New(slog.DiscardHandler)
	}
	return rd
}

// Failing runs the checks (or reuses a result younger than CacheFor) and
// returns the names of the parts that are not ready, in check order;
// empty when ready. One round runs at a time; callers meanwhile wait for
// its result.
func (rd *Readiness) Failing(ctx context.Context) []string {
	if rd == nil || len(rd.checks) == 0 {
		return nil
	}
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if !rd.at.IsZero() && time.Since(rd.at) < rd.opts.CacheFor {
		return rd.failing
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rd.opts.Timeout)
	defer cancel()
	errs := make([]error, len(rd.checks))
	var wg sync.WaitGroup
	for i, c := range rd.checks {
		wg.Go(func() { errs[i] = c.Ready(ctx) })
	}
	wg.Wait()
	var failing []string
	for i, err := range errs {
		if err != nil {
			failing = append(failing, rd.checks[i].Name)
			rd.log.Warn("not ready", "part", rd.checks[i].Name, "err", err)
		}
	}
	rd.at, rd.failing = time.Now(), failing
	return failing
}

type readyBody struct {
	Status  string            `json:"status"`
	Failing []string          `json:"failing,omitempty"`
	Checks  map[string]string `json:"checks,omitempty"`
}

// ServeHTTP answers 200 {"status":"ok",...} when ready, else 503
// {"status":"unavailable","failing":[...],...}; the parts are named, the
// reasons are only logged.
func (rd *Readiness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "Use GET or HEAD.")
		return
	}
	failing := rd.Failing(r.Context())
	body := readyBody{Status: "ok", Failing: failing}
	status := http.StatusOK
	if len(failing) > 0 {
		body.Status, status = "unavailable", http.StatusServiceUnavailable
	}
	if rd != nil && len(rd.checks) > 0 {
		body.Checks = make(map[string]string, len(rd.checks))
		for _, c := range rd.checks {
			body.Checks[c.Name] = "ok"
		}
		for _, f := range failing {
			body.Checks[f] = "unavailable"
		}
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method == http.MethodGet {
		_ = json.NewEncoder(w).Encode(body)
	}
}

// WithHealth answers GET and HEAD /health (alive: 200) and /ready (rd)
// in front of next, for listeners other than the Proxy's, such as the
// admin API's, so every listener can be probed the same way.
func WithHealth(next http.Handler, rd *Readiness) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			switch r.URL.Path {
			case "/health":
				h := w.Header()
				h.Set("Content-Type", "application/json")
				h.Set("Cache-Control", "no-store")
				w.WriteHeader(http.StatusOK)
				if r.Method == http.MethodGet {
					w.Write(healthBody)
				}
				return
			case "/ready":
				rd.ServeHTTP(w, r)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
