package httpproxy_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/httpproxy"
	"github.com/keyipsentinel/sentinel/mock"
)

// TestFailsafe: when the Decider cannot decide, the failsafe mode answers
// for outages only; any other failure is a 500, never an open door.
func TestFailsafe(t *testing.T) {
	outage := sentinel.Errorf(sentinel.EUNAVAILABLE, "stores down")
	fault := sentinel.Errorf(sentinel.EINTERNAL, "relation token_bindings does not exist")
	cases := []struct {
		mode    sentinel.FailsafeMode
		err     error
		status  int
		reached bool
	}{
		{sentinel.FailsafeClosed, outage, http.StatusServiceUnavailable, false},
		{sentinel.FailsafeOpen, outage, http.StatusOK, true},
		{sentinel.FailsafeClosed, fault, http.StatusInternalServerError, false},
		{sentinel.FailsafeOpen, fault, http.StatusInternalServerError, false},
	}
	hasher, err := sentinel.NewHasher(testSecret)
	require.NoError(t, err)
	for _, c := range cases {
		t.Run(string(c.mode)+"/"+sentinel.ErrorCode(c.err), func(t *testing.T) {
			decider := &mock.Decider{DecideFn: func(context.Context, sentinel.Request) (sentinel.Decision, error) {
				return sentinel.Decision{}, c.err
			}}
			g, err := httpproxy.NewMiddleware(httpproxy.MiddlewareOptions{Decider: decider, Hasher: hasher,
				Settings: sentinel.MustLiveSettings(sentinel.Settings{EnforceMode: sentinel.ModeEnforce, FailsafeMode: c.mode,
					AlertThresholdCount: 1, AlertWindow: time.Minute})})
			require.NoError(t, err)
			reached := false
			h := g.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached = true }))

			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, "/v1/models", nil)
			req.Header.Set("Authorization", "Bearer "+realKey)
			h.ServeHTTP(rec, req)
			require.Equal(t, c.status, rec.Code)
			require.Equal(t, c.reached, reached)
			if c.status != http.StatusOK {
				decodeError(t, rec.Body.Bytes())
			}

			rec = httptest.NewRecorder()
			reached = false
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/status", nil))
			require.True(t, reached, "requests without a key pass whatever the stores do")
		})
	}
}
