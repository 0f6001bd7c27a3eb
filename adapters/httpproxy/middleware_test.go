package httpproxy_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/httpproxy"
	"github.com/keyipsentinel/sentinel/adapters/memory"
	"github.com/keyipsentinel/sentinel/mock"
)

func newMiddleware(t *testing.T, opts httpproxy.MiddlewareOptions) *httpproxy.Middleware {
	t.Helper()
	hasher, err := sentinel.NewHasher(testSecret)
	require.NoError(t, err)
	opts.Hasher = hasher
	if opts.Settings == nil {
		opts.Settings = sentinel.MustLiveSettings(sentinel.DefaultSettings())
	}
	m, err := httpproxy.NewMiddleware(opts)
	require.NoError(t, err)
	return m
}

func keyed(from string) *http.Request {
	req := httptest.NewRequest(http.MethodGet, "/v1/models", nil)
	req.RemoteAddr = from
	req.Header.Set("Authorization", "Bearer "+realKey)
	return req
}

// TestModeSwitchesAtRunTime: the Binder and the Middleware read the mode
// from one LiveSettings, so storing monitor there changes the running
// middleware's answer on the next request, and enforce changes it back.
func TestModeSwitchesAtRunTime(t *testing.T) {
	live := sentinel.MustLiveSettings(sentinel.DefaultSettings())
	binder, err := sentinel.NewBinder(memory.NewBindingStore(memory.BindingStoreOptions{}), sentinel.BinderOptions{Settings: live})
	require.NoError(t, err)
	m := newMiddleware(t, httpproxy.MiddlewareOptions{Decider: binder, Settings: live})
	h := m.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	serve := func(r *http.Request) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec.Code
	}
	twoKeys := keyed("192.0.2.2:1")
	twoKeys.Header.Set("X-Api-Key", "sk-another-key-0123456789")

	require.Equal(t, http.StatusOK, serve(keyed("192.0.2.1:1")), "first use binds")
	steps := []struct {
		mode              sentinel.Mode
		elsewhere, double int
	}{
		{sentinel.ModeEnforce, http.StatusForbidden, http.StatusBadRequest},
		{sentinel.ModeMonitor, http.StatusOK, http.StatusOK},
		{sentinel.ModeEnforce, http.StatusForbidden, http.StatusBadRequest},
	}
	for _, s := range steps {
		settings := *live.Load()
		settings.EnforceMode = s.mode
		require.NoError(t, live.Store(settings))
		require.Equal(t, s.elsewhere, serve(keyed("192.0.2.2:1")), "%s: the key from elsewhere", s.mode)
		require.Equal(t, s.double, serve(twoKeys.Clone(context.Background())), "%s: two keys in one request", s.mode)
	}
	st := m.Stats()
	require.Equal(t, int64(2), st.Monitored, "the refusal the Binder would have made, let through in monitor mode")
	require.Equal(t, int64(4), st.Refused)
}

// TestDecisionTimeout: the Middleware gives the decision one deadline; a
// Decider that waits for its context ends there. A deadline is load, not
// an outage: 503 sentinel_busy in both failsafe modes, never forwarded,
// and the failsafe state is not entered.
func TestDecisionTimeout(t *testing.T) {
	for _, failsafe := range []sentinel.FailsafeMode{sentinel.FailsafeClosed, sentinel.FailsafeOpen} {
		t.Run(string(failsafe), func(t *testing.T) {
			var hadDeadline bool
			decider := &mock.Decider{DecideFn: func(ctx context.Context, _ sentinel.Request) (sentinel.Decision, error) {
				_, hadDeadline = ctx.Deadline()
				<-ctx.Done()
				return sentinel.Decision{}, sentinel.WrapError(sentinel.EUNAVAILABLE, ctx.Err(), "store: interrupted")
			}}
			settings := sentinel.DefaultSettings()
			settings.FailsafeMode = failsafe
			m := newMiddleware(t, httpproxy.MiddlewareOptions{Decider: decider, DecisionTimeout: 20 * time.Millisecond,
				Settings: sentinel.MustLiveSettings(settings)})
			rec := httptest.NewRecorder()
			m.Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })).
				ServeHTTP(rec, keyed("192.0.2.1:1"))
			require.True(t, hadDeadline)
			require.Equal(t, http.StatusServiceUnavailable, rec.Code, "not forwarded")
			require.Contains(t, rec.Body.String(), httpproxy.CodeBusy)
			st := m.Stats()
			require.Equal(t, int64(1), st.Busy)
			require.Zero(t, st.FailedOpen+st.FailedClosed+st.FailsafeEntered, "the failsafe is for outages")
		})
	}
}

// TestClientGoneIsNotAnOutage: when the client hangs up while the stores
// decide, the request is counted as abandoned, not answered by the
// failsafe mode, and the degraded state is not entered.
func TestClientGoneIsNotAnOutage(t *testing.T) {
	for _, failsafe := range []sentinel.FailsafeMode{sentinel.FailsafeClosed, sentinel.FailsafeOpen} {
		t.Run(string(failsafe), func(t *testing.T) {
			ctx, hangUp := context.WithCancel(context.Background())
			decider := &mock.Decider{DecideFn: func(ctx context.Context, _ sentinel.Request) (sentinel.Decision, error) {
				hangUp()
				<-ctx.Done()
				// What the SQL adapters return for a canceled call.
				return sentinel.Decision{}, fmt.Errorf("sqlite: find binding: canceled: %w", ctx.Err())
			}}
			settings := sentinel.DefaultSettings()
			settings.FailsafeMode = failsafe
			m := newMiddleware(t, httpproxy.MiddlewareOptions{Decider: decider, Settings: sentinel.MustLiveSettings(settings)})
			reached := false
			h := m.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached = true }))
			h.ServeHTTP(httptest.NewRecorder(), keyed("192.0.2.1:1").WithContext(ctx))
			st := m.Stats()
			require.Equal(t, int64(1), st.Abandoned)
			require.Zero(t, st.FailedClosed)
			require.Zero(t, st.FailedOpen)
			require.False(t, reached, "nothing is forwarded for a client that is gone")
		})
	}
}

// TestUnauthorizedCleanupDoesNotDelayTheClient: the removal of a junk
// key's binding runs in Run, after the 401 has gone out. The store's
// delete here does not finish until the test has the response: were the
// removal on the request path, the response would never come.
func TestUnauthorizedCleanupDoesNotDelayTheClient(t *testing.T) {
	release := make(chan struct{})
	removed := make(chan sentinel.Request, 1)
	decider := &mock.Decider{
		DecideFn: func(context.Context, sentinel.Request) (sentinel.Decision, error) {
			return sentinel.Decision{Allow: true, Created: true, Version: 7}, nil
		},
		UnauthorizedFn: func(ctx context.Context, req sentinel.Request, d sentinel.Decision) error {
			select {
			case <-release: // a store whose delete takes as long as the test likes
			case <-ctx.Done():
				return ctx.Err()
			}
			removed <- req
			return nil
		},
	}
	m := newMiddleware(t, httpproxy.MiddlewareOptions{Decider: decider, DecisionTimeout: time.Minute})
	ctx, stop := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- m.Run(ctx) }()
	defer func() { stop(); require.NoError(t, <-runDone) }()

	h := m.Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusUnauthorized) }))
	answered := make(chan int, 1)
	go func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, keyed("192.0.2.1:1"))
		answered <- rec.Code
	}()
	select {
	case code := <-answered:
		require.Equal(t, http.StatusUnauthorized, code)
	case <-time.After(10 * time.Second):
		close(release)
		t.Fatal("the 401 waited for the clean-up")
	}
	close(release)
	req := <-removed
	require.Equal(t, sentinel.Token(realKey), req.Token)
	require.Eventually(t, func() bool { return m.Stats().CleanupsDone == 1 }, 5*time.Second, time.Millisecond)
}

// TestCleanupQueueIsBounded: without Run draining it, clean-ups beyond the
// queue are dropped and counted, and the client is still answered.
func TestCleanupQueueIsBounded(t *testing.T) {
	decider := &mock.Decider{DecideFn: func(context.Context, sentinel.Request) (sentinel.Decision, error) {
		return sentinel.Decision{Allow: true, Created: true, Version: 1}, nil
	}}
	m := newMiddleware(t, httpproxy.MiddlewareOptions{Decider: decider, CleanupQueue: 1})
	h := m.Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusUnauthorized) }))
	for range 3 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, keyed("192.0.2.1:1"))
		require.Equal(t, http.StatusUnauthorized, rec.Code)
	}
	require.Equal(t, int64(2), m.Stats().CleanupsDropped)
}

// TestKeyErrors: ExtractToken's errors are distinct constants, told apart
// with errors.Is, and both are EINVALID domain errors.
func TestKeyErrors(t *testing.T) {
	require.False(t, errors.Is(httpproxy.ErrInvalidKey, httpproxy.ErrMultipleKeys))
	for _, tc := range []struct {
		name   string
		header map[string]string
		want   error
	}{
		{"two keys", map[string]string{"Authorization": "Bearer sk-one-key-0123456789", "X-Api-Key": "sk-two-key-0123456789"}, httpproxy.ErrMultipleKeys},
		{"bad characters", map[string]string{"Authorization": "Bearer sk-bad\x01key"}, httpproxy.ErrInvalidKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			for k, v := range tc.header {
				r.Header.Set(k, v)
			}
			_, found, err := httpproxy.ExtractToken(r)
			require.True(t, found)
			require.ErrorIs(t, err, tc.want)
			require.Equal(t, sentinel.EINVALID, sentinel.ErrorCode(err))
		})
	}
}

// A connection's requests may carry different keys (a front proxy's
// connection carries many clients'; a client may switch keys): each is
// decided on as its own, though the Server keeps the last key's hash.
func TestKeysChangingOnOneConnection(t *testing.T) {
	s := newStack(t, stackOptions{})
	keyA := "sk-" + realKey
	keyB := "sk-" + realKey[:len(realKey)-1] + "x" // same length, last byte differs
	status, _ := call(t, "127.0.0.2", get(t, s.URL, "/v1/models", "Authorization", "Bearer "+keyA))
	require.Equal(t, http.StatusOK, status, "key A binds to 127.0.0.2")

	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.1")}}
	var dials atomic.Int32
	tr := &http.Transport{MaxConnsPerHost: 1, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return d.DialContext(ctx, network, addr)
	}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	for i, c := range []struct {
		key  string
		want int
	}{{keyB, http.StatusOK}, {keyA, http.StatusForbidden}, {keyB, http.StatusOK}, {keyB, http.StatusOK}, {keyA, http.StatusForbidden}} {
		resp, err := client.Do(get(t, s.URL, "/v1/models", "Authorization", "Bearer "+c.key))
		require.NoError(t, err)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(t, c.want, resp.StatusCode, "request %d", i)
	}
	require.EqualValues(t, 1, dials.Load(), "all on one connection")
}

// Under the Server the peer address is parsed once per connection; a
// handler in front that rewrites RemoteAddr (a library user's own
// real-IP middleware) still decides which client the headers name.
func TestClientHeadersFollowARewrittenRemoteAddr(t *testing.T) {
	live := sentinel.MustLiveSettings(sentinel.DefaultSettings())
	binder, err := sentinel.NewBinder(memory.NewBindingStore(memory.BindingStoreOptions{}), sentinel.BinderOptions{Settings: live})
	require.NoError(t, err)
	m := newMiddleware(t, httpproxy.MiddlewareOptions{Decider: binder, Settings: live})
	inner := m.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Header.Get("X-Real-Ip"))
	}))
	base := serveOn(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/rewritten" {
			r.RemoteAddr = "203.0.113.7:4000"
		}
		inner.ServeHTTP(w, r)
	}), false)
	client := clientFrom(t, "127.0.0.3")
	for _, c := range []struct{ path, want string }{{"/", "127.0.0.3"}, {"/rewritten", "203.0.113.7"}, {"/", "127.0.0.3"}} {
		resp, err := client.Get(base + c.path)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, c.want, string(b), c.path)
	}
}
