package app_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/httpproxy"
	"github.com/keyipsentinel/sentinel/adapters/localcache"
	"github.com/keyipsentinel/sentinel/adapters/memory"
	"github.com/keyipsentinel/sentinel/adapters/prometheus"
	"github.com/keyipsentinel/sentinel/adapters/sqlite"
)

// BenchmarkMiddlewareWarmMetrics is httpproxy's BenchmarkMiddlewareWarm
// with the observer the binaries run: the dashboard tally and the real
// Prometheus metrics fanned out (httpproxy's own benchmarks cannot import
// adapters/prometheus). Its allocs/op must equal BenchmarkMiddlewareWarm's.
func BenchmarkMiddlewareWarmMetrics(b *testing.B) {
	db, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "s.db"), sqlite.Options{})
	require.NoError(b, err)
	defer db.Close()
	live := sentinel.MustLiveSettings(sentinel.DefaultSettings())
	cache := localcache.New(sqlite.NewBindingStore(db), localcache.Options{})
	decider, err := sentinel.NewBinder(cache, sentinel.BinderOptions{Settings: live})
	require.NoError(b, err)
	hasher, err := sentinel.NewHasher([]byte("bench-secret-0123456789abcdef0123456789"))
	require.NoError(b, err)
	rec := sentinel.NewBatchRecorder(sqlite.NewBindingStore(db), sqlite.NewInterceptStore(db), sentinel.BatchRecorderOptions{})
	m := prometheus.New(prometheus.Options{Recorder: rec.Stats, Settings: live.Load})
	tally := sentinel.NewTally(memory.NewDailyCounter(), sentinel.TallyOptions{})
	g, err := httpproxy.NewMiddleware(httpproxy.MiddlewareOptions{Decider: decider, Hasher: hasher, Recorder: rec, Settings: live,
		Observer: httpproxy.Observers{httpproxy.TallyObserver{Tally: tally}, m}, Lookup: cache})
	require.NoError(b, err)
	h := g.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	req := httptest.NewRequest(http.MethodGet, "/v1/models", nil)
	req.RemoteAddr = "192.0.2.1:50000"
	req.Header.Set("Authorization", "Bearer sk-AbCdEf0123456789AbCdEf0123456789AbCdEf0123456789")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	require.Equal(b, http.StatusOK, w.Code)
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
}
