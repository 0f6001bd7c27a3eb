package prometheus_test

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"time"

	"github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/prometheus"
)

// The program passes funcs reading the counters it already keeps, and
// makes the metrics the proxy middleware's observer.
func Example() {
	var allowed atomic.Int64 // stands in for the proxy middleware's own counters
	m := prometheus.New(prometheus.Options{
		Version: "v1.0.0",
		Proxy:   func() prometheus.ProxyStats { return prometheus.ProxyStats{Allowed: allowed.Load()} },
	})

	// The proxy middleware calls m as its observer (httpproxy.Observer):
	start := time.Now()
	d := sentinel.Decision{Allow: true, Created: true} // what Decide answered
	m.Decided(d, nil, time.Since(start))
	m.BindingCreated()
	allowed.Add(1)

	// main runs the listener beside the proxy's (SENTINEL_METRICS_ADDR):
	//   go prometheus.NewServer(cfg.MetricsAddr, m).Run(ctx)

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if strings.HasPrefix(line, "sentinel_bindings_created_total ") || strings.HasPrefix(line, `sentinel_requests_total{outcome="allowed"}`) {
			fmt.Println(line)
		}
	}
	// Output:
	// sentinel_bindings_created_total 1
	// sentinel_requests_total{outcome="allowed"} 1
}
