package httpproxy_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyipsentinel/sentinel/adapters/httpproxy"
	"github.com/keyipsentinel/sentinel/mock"
)

// TestDrain: Drain waits for guarded requests in flight (here one without
// a key, which the Decider never sees), gives up with its
// context (leaving nothing behind to wait), and answers at once when idle.
func TestDrain(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(entered)
		<-release
	}))
	defer up.Close()
	u, err := url.Parse(up.URL)
	require.NoError(t, err)
	p, err := httpproxy.NewProxy(u, newMiddleware(t, httpproxy.MiddlewareOptions{Decider: &mock.Decider{}}), httpproxy.ProxyOptions{})
	require.NoError(t, err)

	require.NoError(t, p.Drain(context.Background()), "nothing in flight")
	served := make(chan struct{})
	go func() {
		p.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/api/status", nil))
		close(served)
	}()
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, p.Drain(ctx), context.DeadlineExceeded, "a request is in flight")
	close(release)
	<-served
	require.NoError(t, p.Drain(context.Background()), "the request has finished")
}
