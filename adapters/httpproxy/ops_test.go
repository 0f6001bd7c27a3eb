package httpproxy_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/httpproxy"
)

type readyAnswer struct {
	Status  string            `json:"status"`
	Failing []string          `json:"failing"`
	Checks  map[string]string `json:"checks"`
}

func getReady(t *testing.T, h http.Handler, method string) (int, readyAnswer, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, "/ready", nil))
	var a readyAnswer
	if method == http.MethodGet {
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &a), rec.Body.String())
	}
	return rec.Code, a, rec.Body.String()
}

func TestReadinessNamesTheFailingPart(t *testing.T) {
	var pgDown, vkDown atomic.Bool
	check := func(down *atomic.Bool) func(context.Context) error {
		return func(context.Context) error {
			if down.Load() {
				return errors.New("dial tcp 10.0.0.1:5432: secret-password-in-dsn refused")
			}
			return nil
		}
	}
	for _, tc := range []struct {
		name           string
		pg, vk         bool
		status         int
		state, failing string
	}{
		{"all up", false, false, http.StatusOK, "ok", ""},
		{"postgres down", true, false, http.StatusServiceUnavailable, "unavailable", "postgres"},
		{"both down", true, true, http.StatusServiceUnavailable, "unavailable", "postgres,valkey"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pgDown.Store(tc.pg)
			vkDown.Store(tc.vk)
			rd := httpproxy.NewReadiness(httpproxy.ReadinessOptions{CacheFor: 1}, // 1ns: every call checks
				httpproxy.Check{Name: "postgres", Ready: check(&pgDown)}, httpproxy.Check{Name: "valkey", Ready: check(&vkDown)})
			status, a, body := getReady(t, rd, http.MethodGet)
			require.Equal(t, tc.status, status)
			require.Equal(t, tc.state, a.Status)
			require.Equal(t, tc.failing, strings.Join(a.Failing, ","))
			require.Len(t, a.Checks, 2)
			require.NotContains(t, body, "secret", "reasons are logged, never answered")
			status, _, _ = getReady(t, rd, http.MethodHead)
			require.Equal(t, tc.status, status)
		})
	}
	t.Run("no checks is ready", func(t *testing.T) {
		var rd *httpproxy.Readiness
		status, a, _ := getReady(t, rd, http.MethodGet)
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, "ok", a.Status)
	})
	t.Run("results are reused for CacheFor", func(t *testing.T) {
		var calls atomic.Int64
		rd := httpproxy.NewReadiness(httpproxy.ReadinessOptions{}, httpproxy.Check{Name: "x", Ready: func(context.Context) error {
			calls.Add(1)
			return nil
		}})
		for range 20 {
			getReady(t, rd, http.MethodGet)
		}
		require.Equal(t, int64(1), calls.Load(), "a flood of probes is one round of checks")
	})
}

func TestProxyAnswersReady(t *testing.T) {
	var down atomic.Bool
	rd := httpproxy.NewReadiness(httpproxy.ReadinessOptions{CacheFor: 1}, httpproxy.Check{Name: "sqlite", Ready: func(context.Context) error {
		if down.Load() {
			return errors.New("gone")
		}
		return nil
	}})
	s := newStack(t, stackOptions{proxyOpts: httpproxy.ProxyOptions{Readiness: rd}})
	status, body := call(t, "127.0.0.1", get(t, s.URL, "/ready"))
	require.Equal(t, http.StatusOK, status, "%s", body)
	down.Store(true)
	status, body = call(t, "127.0.0.1", get(t, s.URL, "/ready"))
	require.Equal(t, http.StatusServiceUnavailable, status)
	require.JSONEq(t, `{"status":"unavailable","failing":["sqlite"],"checks":{"sqlite":"unavailable"}}`, string(body))
	status, _ = call(t, "127.0.0.1", get(t, s.URL, "/health"))
	require.Equal(t, http.StatusOK, status, "alive while not ready")
	require.Empty(t, s.Up.requests(), "/ready and /health never reach the downstream")
}

var generatedID = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestRequestIDs(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.10/32")}
	s := newStack(t, stackOptions{proxy: httpproxy.MiddlewareOptions{ClientIPResolver: httpproxy.NewClientIPResolver(trusted, "")}})
	var mu sync.Mutex
	var seen []string
	s.Up.setHandler(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, strings.Join(r.Header.Values("X-Request-Id"), "|"))
		mu.Unlock()
		io.WriteString(w, "{}")
	})
	for _, tc := range []struct {
		name, from string
		header     []string
		kept       bool
	}{
		{"none: generated", "127.0.0.1", nil, false},
		{"from a client: replaced", "127.0.0.1", []string{"X-Request-Id", "client-chosen"}, false},
		{"from a trusted proxy: kept", "127.0.0.10", []string{"X-Request-Id", "nginx-4f2a"}, true},
		{"trusted but too long", "127.0.0.10", []string{"X-Request-Id", strings.Repeat("a", 129)}, false},
		{"trusted but not printable", "127.0.0.10", []string{"X-Request-Id", "a b"}, false},
		{"trusted but two values", "127.0.0.10", []string{"X-Request-Id", "one", "X-Request-Id", "two"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			seen = nil
			mu.Unlock()
			req := get(t, s.URL, "/v1/models", tc.header...)
			resp, err := clientFrom(t, tc.from).Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			got := resp.Header.Values("X-Request-Id")
			require.Len(t, got, 1)
			if tc.kept {
				require.Equal(t, tc.header[1], got[0])
			} else {
				require.Regexp(t, generatedID, got[0])
			}
			mu.Lock()
			defer mu.Unlock()
			require.Equal(t, []string{got[0]}, seen, "the downstream sees the same id")
		})
	}
	a, b := call2(t, s.URL), call2(t, s.URL)
	require.NotEqual(t, a, b, "every request gets its own id")
}

func call2(t *testing.T, base string) string {
	t.Helper()
	resp, err := clientFrom(t, "127.0.0.1").Do(get(t, base, "/v1/models"))
	require.NoError(t, err)
	resp.Body.Close()
	return resp.Header.Get("X-Request-Id")
}

func TestRequestIDReachesTheRefusalsIntercept(t *testing.T) {
	s := newStack(t, stackOptions{})
	status, _ := call(t, "127.0.0.1", get(t, s.URL, "/v1/models", "Authorization", "Bearer sk-"+realKey))
	require.Equal(t, http.StatusOK, status)
	resp, err := clientFrom(t, "127.0.0.2").Do(get(t, s.URL, "/v1/models", "Authorization", "Bearer sk-"+realKey))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	id := resp.Header.Get("X-Request-Id")
	require.Regexp(t, generatedID, id, "refusals carry the id too")
	require.NoError(t, s.Recorder.Flush(context.Background()))
	is, _, err := s.Intercepts.ListIntercepts(context.Background(), sentinel.InterceptFilter{})
	require.NoError(t, err)
	require.Len(t, is, 1)
	require.Equal(t, id, is[0].RequestID)
}

func TestAccessLog(t *testing.T) {
	for _, on := range []bool{false, true} {
		t.Run(map[bool]string{false: "off", true: "on"}[on], func(t *testing.T) {
			logs := &syncBuffer{}
			s := newStack(t, stackOptions{proxyLog: jsonLogger(logs), proxyOpts: httpproxy.ProxyOptions{AccessLog: on}})
			s.Up.setHandler(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusTeapot)
				io.WriteString(w, "0123456789")
			})
			resp, err := clientFrom(t, "127.0.0.3").Do(get(t, s.URL, "/v1/models?key=sk-"+realKey))
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusTeapot, resp.StatusCode)
			id := resp.Header.Get("X-Request-Id")
			status, _ := call(t, "127.0.0.4", get(t, s.URL, "/v1/models", "Authorization", "Bearer sk-"+realKey))
			require.Equal(t, http.StatusForbidden, status, "bound to 127.0.0.3 by the first request")

			lines := accessLines(t, logs.String())
			require.NotContains(t, logs.String(), realKey[4:20], "no key, and no query, in any log line")
			if !on {
				require.Empty(t, lines)
				return
			}
			require.Len(t, lines, 2)
			l := lines[0]
			assert.Equal(t, "GET", l["method"])
			assert.Equal(t, "/v1/models", l["path"])
			assert.EqualValues(t, http.StatusTeapot, l["status"])
			assert.EqualValues(t, 10, l["bytes"])
			assert.Equal(t, "127.0.0.3", l["client_ip"])
			assert.Equal(t, id, l["request_id"])
			assert.Contains(t, l, "duration")
			assert.Equal(t, "sk-AbCd…6789", l["key"], "the masked key, from the query")
			assert.EqualValues(t, http.StatusForbidden, lines[1]["status"])
			assert.Equal(t, "sk-AbCd…6789", lines[1]["key"])
			assert.Equal(t, "127.0.0.4", lines[1]["client_ip"])
		})
	}
}

func jsonLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewJSONHandler(w, nil)) }

func accessLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		if m["msg"] == "request" {
			lines = append(lines, m)
		}
	}
	return lines
}

// TestAccessLogKeepsStreamsAndUpgrades: the access log's writer passes
// flushes and the WebSocket hijack through.
func TestAccessLogKeepsStreamsAndUpgrades(t *testing.T) {
	on := stackOptions{proxyLog: jsonLogger(io.Discard), proxyOpts: httpproxy.ProxyOptions{AccessLog: true}}
	t.Run("sse", func(t *testing.T) { streamThroughProxy(t, "text/event-stream", on) })
	t.Run("websocket", func(t *testing.T) {
		logs := &syncBuffer{}
		on.proxyLog = jsonLogger(logs)
		s := newStack(t, on)
		s.Up.setHandler(func(w http.ResponseWriter, r *http.Request) {
			c, err := websocket.Accept(w, r, nil)
			if err != nil {
				return
			}
			defer c.CloseNow()
			typ, msg, err := c.Read(r.Context())
			if err == nil {
				c.Write(r.Context(), typ, msg)
			}
		})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.URL, "http")+"/v1/realtime",
			&websocket.DialOptions{HTTPClient: clientFrom(t, "127.0.0.1"), Subprotocols: []string{"openai-insecure-api-key.sk-" + realKey}})
		require.NoError(t, err)
		require.NoError(t, c.Write(ctx, websocket.MessageText, []byte("hi")))
		_, got, err := c.Read(ctx)
		require.NoError(t, err)
		require.Equal(t, "hi", string(got))
		c.Close(websocket.StatusNormalClosure, "")
		require.Eventually(t, func() bool {
			lines := accessLines(t, logs.String())
			return len(lines) == 1 && lines[0]["status"] == float64(http.StatusSwitchingProtocols)
		}, 10*time.Second, 10*time.Millisecond, "the session is logged as 101 when it ends")
	})
}

func TestWithHealth(t *testing.T) {
	rd := httpproxy.NewReadiness(httpproxy.ReadinessOptions{}, httpproxy.Check{Name: "postgres", Ready: func(context.Context) error {
		return errors.New("down")
	}})
	h := httpproxy.WithHealth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	}), rd)
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/health", http.StatusOK},
		{http.MethodHead, "/health", http.StatusOK},
		{http.MethodGet, "/ready", http.StatusServiceUnavailable},
		{http.MethodPost, "/ready", http.StatusTeapot},
		{http.MethodGet, "/admin/api/bindings", http.StatusTeapot},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
			require.Equal(t, tc.status, rec.Code)
		})
	}
}
