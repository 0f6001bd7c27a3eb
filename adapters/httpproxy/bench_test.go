package httpproxy_test

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
	"github.com/keyipsentinel/sentinel/adapters/sqlite"
)

// BenchmarkMiddlewareWarm is everything the Middleware adds to a request with a
// known key (client IP, extraction, hashing, the decision, the client
// headers, the last-use record), in front of a handler that does nothing.
func BenchmarkMiddlewareWarm(b *testing.B) { benchmarkWarm(b, nil) }

// BenchmarkMiddlewareWarmObserved is the same with an Observer (a fan-out
// of two), as the binaries run it for metrics and the dashboard tally.
func BenchmarkMiddlewareWarmObserved(b *testing.B) {
	benchmarkWarm(b, httpproxy.Observers{httpproxy.NopObserver{}, httpproxy.NopObserver{}})
}

func benchmarkWarm(b *testing.B, obs httpproxy.Observer) {
	db, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "s.db"), sqlite.Options{})
	require.NoError(b, err)
	defer db.Close()
	live := sentinel.MustLiveSettings(sentinel.DefaultSettings())
	decider, err := sentinel.NewBinder(localcache.New(sqlite.NewBindingStore(db), localcache.Options{}), sentinel.BinderOptions{Settings: live})
	require.NoError(b, err)
	hasher, err := sentinel.NewHasher(testSecret)
	require.NoError(b, err)
	rec := sentinel.NewBatchRecorder(sqlite.NewBindingStore(db), sqlite.NewInterceptStore(db), sentinel.BatchRecorderOptions{})
	g, err := httpproxy.NewMiddleware(httpproxy.MiddlewareOptions{Decider: decider, Hasher: hasher, Recorder: rec, Settings: live,
		Observer: obs, Lookup: localcache.New(sqlite.NewBindingStore(db), localcache.Options{})})
	require.NoError(b, err)
	h := g.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	req := httptest.NewRequest(http.MethodGet, "/v1/models", nil)
	req.RemoteAddr = "192.0.2.1:50000"
	req.Header.Set("Authorization", "Bearer sk-"+realKey)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	require.Equal(b, http.StatusOK, w.Code)
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
}
