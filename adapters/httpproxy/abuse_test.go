package httpproxy_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/httpproxy"
	"github.com/keyipsentinel/sentinel/adapters/memory"
	"github.com/keyipsentinel/sentinel/mock"
)

// TestJunkKeysOnKeylessRoutesLeaveNothing: random keys sent to a route
// where New API authenticates no key (and that answers 200) make no
// binding, while a key bound on a key route is still checked there.
func TestJunkKeysOnKeylessRoutesLeaveNothing(t *testing.T) {
	s := newStack(t, stackOptions{})
	const n, workers = 2000, 16
	var wg sync.WaitGroup
	var non200 atomic.Int64
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := clientFrom(t, fmt.Sprintf("127.0.1.%d", w+1))
			for i := w; i < n; i += workers {
				resp, err := c.Do(get(t, s.URL, "/api/status", "Authorization", fmt.Sprintf("Bearer sk-junk%06dxxxxxxxxxxxxxxxx", i)))
				if err != nil {
					non200.Add(1)
					continue
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					non200.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	require.Zero(t, non200.Load(), "junk keys on a keyless route pass")
	_, total, err := s.Bindings.ListBindings(context.Background(), sentinel.BindingFilter{})
	require.NoError(t, err)
	require.Zero(t, total, "no junk key became a binding")

	status, _ := call(t, "127.0.0.1", get(t, s.URL, "/v1/models", "Authorization", "Bearer sk-"+realKey))
	require.Equal(t, http.StatusOK, status, "bound on a key route")
	status, body := call(t, "127.0.0.2", get(t, s.URL, "/api/status", "Authorization", "Bearer sk-"+realKey))
	require.Equal(t, http.StatusForbidden, status, "a bound key is checked on every route: %s", body)
}

func TestKeyRoute(t *testing.T) {
	cases := []struct {
		path string
		want bool
	}{
		{"/v1/chat/completions", true}, {"/V1/models", true}, {"/v1beta/models/x", true}, {"/mj/submit", true},
		{"/fast/mj/submit/imagine", true}, {"/suno/submit", true}, {"/kling/v1/videos", true}, {"/jimeng/", true},
		{"/v1/video/generations", true}, {"/dashboard/billing/usage", true}, {"/v1/dashboard/billing/subscription", true},
		{"/api/usage/token", true}, {"/api/log/token", true}, {"/api/../v1/models", true},
		{"/api/status", false}, {"/api/user/self", false}, {"/", false}, {"/login", false}, {"/fast/x", false},
	}
	for _, c := range cases {
		require.Equal(t, c.want, httpproxy.KeyRoute(c.path), c.path)
	}
}

// TestSubprotocolModesThroughTheProxy: a realtime client naming a
// subprotocol beside Authorization passes in insecure-api-key mode and is
// refused for ambiguity in legacy mode.
func TestSubprotocolModesThroughTheProxy(t *testing.T) {
	for _, c := range []struct {
		mode httpproxy.WSProtocolKeys
		want int
	}{{httpproxy.WSProtocolInsecureAPIKey, http.StatusOK}, {httpproxy.WSProtocolLegacy, http.StatusBadRequest}} {
		t.Run(string(c.mode), func(t *testing.T) {
			s := newStack(t, stackOptions{proxy: httpproxy.MiddlewareOptions{Extractor: httpproxy.Extractor{WSProtocolKeys: c.mode}}})
			status, body := call(t, "127.0.0.1", get(t, s.URL, "/v1/realtime", "Authorization", "Bearer sk-"+realKey,
				"Sec-WebSocket-Protocol", "realtime"))
			require.Equal(t, c.want, status, "body: %s", body)
		})
	}
}

// TestOffPathPlaceholderPasses: an x-api-key placeholder on a path where
// New API does not read it is not a second key; a bound key there is.
func TestOffPathPlaceholderPasses(t *testing.T) {
	s := newStack(t, stackOptions{})
	const other = "ZyXwVu9876543210ZyXwVu9876543210ZyXwVu9876543210"
	status, body := call(t, "127.0.0.1", get(t, s.URL, "/v1/chat/completions", "Authorization", "Bearer sk-"+realKey,
		"X-Api-Key", "placeholder"))
	require.Equal(t, http.StatusOK, status, "body: %s", body)
	status, _ = call(t, "127.0.0.3", get(t, s.URL, "/v1/models", "Authorization", "Bearer sk-"+other))
	require.Equal(t, http.StatusOK, status)
	status, body = call(t, "127.0.0.1", get(t, s.URL, "/v1/chat/completions", "Authorization", "Bearer sk-"+realKey,
		"X-Api-Key", "sk-"+other))
	require.Equal(t, http.StatusBadRequest, status, "a bound key off-path makes the request ambiguous: %s", body)
	require.Equal(t, string(sentinel.ReasonMultipleKeys), decodeError(t, body).Error.Code)
	_, err := s.Bindings.FindBinding(context.Background(), hash(t, "placeholder"))
	require.Equal(t, sentinel.ENOTFOUND, sentinel.ErrorCode(err), "an off-path value is looked up, never bound")
}

// TestNewBindingsPerIPBudget: past the budget of new bindings a client's
// first uses get 429 too_many_new_keys and nothing is written; its bound
// keys and other clients are not affected.
func TestNewBindingsPerIPBudget(t *testing.T) {
	s := newStack(t, stackOptions{guard: sentinel.BinderOptions{NewKeys: sentinel.NewRateBudget(3, nil)}})
	status, _ := call(t, "127.0.0.1", get(t, s.URL, "/v1/models", "Authorization", "Bearer sk-"+realKey))
	require.Equal(t, http.StatusOK, status)
	for i := range 2 {
		status, _ := call(t, "127.0.0.1", get(t, s.URL, "/v1/models", "Authorization", fmt.Sprintf("Bearer sk-budget%02dxxxxxxxxxx", i)))
		require.Equal(t, http.StatusOK, status)
	}
	status, body := call(t, "127.0.0.1", get(t, s.URL, "/v1/models", "Authorization", "Bearer sk-budget99xxxxxxxxxx"))
	require.Equal(t, http.StatusTooManyRequests, status)
	require.Equal(t, string(sentinel.ReasonTooManyNewKeys), decodeError(t, body).Error.Code)
	_, err := s.Bindings.FindBinding(context.Background(), hash(t, "sk-budget99xxxxxxxxxx"))
	require.Equal(t, sentinel.ENOTFOUND, sentinel.ErrorCode(err), "no store write past the budget")
	status, _ = call(t, "127.0.0.1", get(t, s.URL, "/v1/models", "Authorization", "Bearer sk-"+realKey))
	require.Equal(t, http.StatusOK, status, "a bound key is not counted")
	status, _ = call(t, "127.0.0.2", get(t, s.URL, "/v1/models", "Authorization", "Bearer sk-budget99xxxxxxxxxx"))
	require.Equal(t, http.StatusOK, status, "another client has its own budget")
	require.Equal(t, int64(1), s.Middleware.Stats().TooManyNewKeys)
}

// TestInterceptsPerIPCap: refusals past the client's intercept budget are
// still enforced but not recorded.
func TestInterceptsPerIPCap(t *testing.T) {
	s := newStack(t, stackOptions{proxy: httpproxy.MiddlewareOptions{Intercepts: sentinel.NewRateBudget(3, nil)}})
	status, _ := call(t, "127.0.0.1", get(t, s.URL, "/v1/models", "Authorization", "Bearer sk-"+realKey))
	require.Equal(t, http.StatusOK, status)
	for range 10 {
		status, _ := call(t, "127.0.0.2", get(t, s.URL, "/v1/models", "Authorization", "Bearer sk-"+realKey))
		require.Equal(t, http.StatusForbidden, status)
	}
	require.Equal(t, int64(7), s.Middleware.Stats().InterceptsCapped)
}

// TestBusyIsNeverFailsafeOpen: a decision refused for load (the Gate's
// bound) is answered 503 sentinel_busy in open failsafe mode too.
func TestBusyIsNeverFailsafeOpen(t *testing.T) {
	settings := sentinel.DefaultSettings()
	settings.FailsafeMode = sentinel.FailsafeOpen
	m := newMiddleware(t, httpproxy.MiddlewareOptions{Settings: sentinel.MustLiveSettings(settings),
		Decider: &mock.Decider{DecideFn: func(context.Context, sentinel.Request) (sentinel.Decision, error) {
			return sentinel.Decision{}, fmt.Errorf("find: %w", sentinel.ErrBusy)
		}}})
	rec := httptest.NewRecorder()
	m.Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })).
		ServeHTTP(rec, keyed("192.0.2.1:1"))
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	require.Contains(t, rec.Body.String(), httpproxy.CodeBusy)
	require.Zero(t, m.Stats().FailedOpen)
}

// countingObserver counts what it is told.
type countingObserver struct {
	httpproxy.NopObserver
	mu                                 sync.Mutex
	decided, allowed, created, proxied int
	refused                            []sentinel.Reason
	statuses                           []int
	firstBytes                         int
	failsafe                           []string
}

func (o *countingObserver) Decided(sentinel.Decision, error, time.Duration) {
	o.mu.Lock()
	o.decided++
	o.mu.Unlock()
}
func (o *countingObserver) Allowed()        { o.mu.Lock(); o.allowed++; o.mu.Unlock() }
func (o *countingObserver) BindingCreated() { o.mu.Lock(); o.created++; o.mu.Unlock() }
func (o *countingObserver) Refused(r sentinel.Reason) {
	o.mu.Lock()
	o.refused = append(o.refused, r)
	o.mu.Unlock()
}
func (o *countingObserver) Proxied(status int, _ time.Duration) {
	o.mu.Lock()
	o.proxied++
	o.statuses = append(o.statuses, status)
	o.mu.Unlock()
}
func (o *countingObserver) FirstByte(time.Duration) { o.mu.Lock(); o.firstBytes++; o.mu.Unlock() }
func (o *countingObserver) FailsafeChanged(_ sentinel.FailsafeMode, entered bool, answered int64) {
	o.mu.Lock()
	o.failsafe = append(o.failsafe, fmt.Sprintf("%v/%d", entered, answered))
	o.mu.Unlock()
}

// TestObserverIsTold: the Observer hears of decisions, creations,
// refusals and proxied answers, and a fan-out reaches every Observer.
func TestObserverIsTold(t *testing.T) {
	a, b := &countingObserver{}, &countingObserver{}
	s := newStack(t, stackOptions{proxy: httpproxy.MiddlewareOptions{Observer: httpproxy.Observers{a, b}}})
	status, _ := call(t, "127.0.0.1", get(t, s.URL, "/v1/models", "Authorization", "Bearer sk-"+realKey))
	require.Equal(t, http.StatusOK, status)
	status, _ = call(t, "127.0.0.2", get(t, s.URL, "/v1/models", "Authorization", "Bearer sk-"+realKey))
	require.Equal(t, http.StatusForbidden, status)
	status, _ = call(t, "127.0.0.2", get(t, s.URL, "/v1/models"))
	require.Equal(t, http.StatusOK, status)
	for _, o := range []*countingObserver{a, b} {
		o.mu.Lock()
		require.Equal(t, 2, o.decided)
		require.Equal(t, 1, o.allowed)
		require.Equal(t, 1, o.created)
		require.Equal(t, []sentinel.Reason{sentinel.ReasonIPNotAllowed}, o.refused)
		require.Equal(t, []int{200, 200}, o.statuses, "the allowed and the keyless request were proxied")
		require.Equal(t, 2, o.firstBytes)
		o.mu.Unlock()
	}
}

// TestFailsafeTransitionsCounted: an outage is entered once, however many
// requests it answers, and its end reports how many it answered.
func TestFailsafeTransitionsCounted(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	obs := &countingObserver{}
	m := newMiddleware(t, httpproxy.MiddlewareOptions{Observer: obs,
		Decider: &mock.Decider{DecideFn: func(context.Context, sentinel.Request) (sentinel.Decision, error) {
			if down.Load() {
				return sentinel.Decision{}, sentinel.Errorf(sentinel.EUNAVAILABLE, "store: connection refused")
			}
			return sentinel.Decision{Allow: true}, nil
		}}})
	h := m.Wrap(http.NotFoundHandler())
	for range 25 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, keyed("192.0.2.1:1"))
		require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	}
	down.Store(false)
	for range 3 {
		h.ServeHTTP(httptest.NewRecorder(), keyed("192.0.2.1:1"))
	}
	st := m.Stats()
	require.Equal(t, int64(1), st.FailsafeEntered)
	require.Equal(t, int64(25), st.FailedClosed)
	require.Equal(t, []string{"true/0", "false/25"}, obs.failsafe)
}

// TestBindingHintAsWritten: a new binding's hint shows "sk-" exactly when
// the client wrote the key with it.
func TestBindingHintAsWritten(t *testing.T) {
	s := newStack(t, stackOptions{})
	const bare = "eyJhbGciOiJIUzI1NiJ9eyJzdWIiOiJ4In0abcdefghij"
	status, _ := call(t, "127.0.0.1", get(t, s.URL, "/v1/models", "Authorization", "Bearer "+bare))
	require.Equal(t, http.StatusOK, status)
	status, _ = call(t, "127.0.0.1", get(t, s.URL, "/v1/models", "Authorization", "Bearer sk-"+realKey))
	require.Equal(t, http.StatusOK, status)
	require.NotContains(t, requireBinding(t, s, bare).Hint, "sk-", "never had an sk- prefix")
	require.True(t, strings.HasPrefix(requireBinding(t, s, "sk-"+realKey).Hint, "sk-"))
}

// TestTallyObserver: the dashboard tally is fed through the Observer:
// allowed, refused (monitor-mode would-be refusals included, Sentinel's own
// 5xx not) and new bindings.
func TestTallyObserver(t *testing.T) {
	counter := memory.NewDailyCounter()
	tally := sentinel.NewTally(counter, sentinel.TallyOptions{})
	s := newStack(t, stackOptions{proxy: httpproxy.MiddlewareOptions{Observer: httpproxy.Observers{httpproxy.TallyObserver{Tally: tally}}}})
	status, _ := call(t, "127.0.0.1", get(t, s.URL, "/v1/models", "Authorization", "Bearer sk-"+realKey))
	require.Equal(t, http.StatusOK, status)
	status, _ = call(t, "127.0.0.2", get(t, s.URL, "/v1/models", "Authorization", "Bearer sk-"+realKey))
	require.Equal(t, http.StatusForbidden, status)
	settings := *s.Settings.Load()
	settings.EnforceMode = sentinel.ModeMonitor
	require.NoError(t, s.Settings.Store(settings))
	status, _ = call(t, "127.0.0.2", get(t, s.URL, "/v1/models", "Authorization", "Bearer sk-"+realKey))
	require.Equal(t, http.StatusOK, status)
	require.NoError(t, tally.Flush(context.Background()))
	got, err := counter.Daily(context.Background(), time.Now())
	require.NoError(t, err)
	require.Equal(t, int64(1), got[sentinel.MetricAllowed])
	require.Equal(t, int64(2), got[sentinel.MetricRefused])
	require.Equal(t, int64(1), got[sentinel.MetricNewBindings])
}
