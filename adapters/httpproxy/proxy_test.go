package httpproxy_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/httpproxy"
)

func TestFirstUseBindsAndAnotherAddressIsRefused(t *testing.T) {
	s := newStack(t, stackOptions{})
	status, _ := call(t, "127.0.0.1", get(t, s.URL, "/v1/models", "Authorization", "Bearer sk-"+realKey))
	require.Equal(t, http.StatusOK, status)

	b := requireBinding(t, s, realKey)
	require.Equal(t, mustAddr("127.0.0.1"), b.FirstIP)
	require.Equal(t, sentinel.RuleSingle, b.Rule.Kind)
	require.Equal(t, "127.0.0.1", b.Rule.Spec())
	require.Equal(t, "sk-AbCd…6789", b.Hint)

	status, body := call(t, "127.0.0.2", get(t, s.URL, "/v1/models", "Authorization", "Bearer sk-"+realKey))
	require.Equal(t, http.StatusForbidden, status)
	e := decodeError(t, body)
	require.Equal(t, "ip_not_allowed", e.Error.Code)
	require.Contains(t, e.Error.Message, "127.0.0.2")
	require.NotContains(t, string(body), realKey[4:], "the key never appears in a response")

	seen := s.Up.requests()
	require.Len(t, seen, 1, "the refused request never reached the downstream")
	require.Equal(t, "127.0.0.1", seen[0].RealIP)

	status, _ = call(t, "127.0.0.1", get(t, s.URL, "/v1/models", "Authorization", "Bearer sk-"+realKey))
	require.Equal(t, http.StatusOK, status, "the bound address keeps working")

	require.NoError(t, s.Recorder.Flush(context.Background()))
	is, total, err := s.Intercepts.ListIntercepts(context.Background(), sentinel.InterceptFilter{})
	require.NoError(t, err)
	require.Equal(t, 1, total)
	require.Equal(t, sentinel.ReasonIPNotAllowed, is[0].Reason)
	require.Equal(t, mustAddr("127.0.0.2"), is[0].ClientIP)
	require.Equal(t, "/v1/models", is[0].Path)
	require.True(t, is[0].Enforced)
	require.Equal(t, hash(t, realKey), is[0].Key)
}

// TestEverySourceNamesTheSameKey: wherever New API would read the key
// from, it is the same binding, refused from the other address.
func TestEverySourceNamesTheSameKey(t *testing.T) {
	s := newStack(t, stackOptions{})
	status, _ := call(t, "127.0.0.1", get(t, s.URL, "/v1/models", "Authorization", "Bearer sk-"+realKey))
	require.Equal(t, http.StatusOK, status)

	upper := strings.ToUpper(realKey)
	cases := []struct {
		name   string
		path   string
		header []string
	}{
		{"bearer", "/v1/chat/completions", []string{"Authorization", "Bearer sk-" + realKey}},
		{"lower-case bearer", "/v1/chat/completions", []string{"Authorization", "bearer sk-" + realKey}},
		{"bare authorization", "/v1/chat/completions", []string{"Authorization", "sk-" + realKey}},
		{"channel suffix", "/v1/chat/completions", []string{"Authorization", "sk-" + realKey + "-7"}},
		{"without sk-", "/v1/chat/completions", []string{"Authorization", "Bearer " + realKey}},
		{"upper case", "/v1/chat/completions", []string{"Authorization", "Bearer sk-" + upper}},
		{"upper case SK- and suffix", "/v1/chat/completions", []string{"Authorization", "SK-" + upper + "-7"}},
		{"x-api-key", "/v1/messages", []string{"x-api-key", "sk-" + realKey}},
		{"x-api-key on another route", "/anything", []string{"x-api-key", realKey}},
		{"x-goog-api-key", "/v1beta/models/gemini:generateContent", []string{"x-goog-api-key", realKey}},
		{"query key", "/v1beta/models?key=sk-" + realKey, nil},
		{"query key among others", "/v1beta/models?alt=sse&key=" + realKey + "&x=1", nil},
		{"query key encoded", "/v1beta/models?%6Bey=sk%2D" + realKey, nil},
		{"websocket protocol part", "/v1/realtime", []string{"Sec-WebSocket-Protocol", "realtime, openai-insecure-api-key.sk-" + realKey + ", openai-beta.realtime-v1"}},
		{"websocket protocol whole value", "/v1/realtime", []string{"Sec-WebSocket-Protocol", "sk-" + realKey}},
		{"mj-api-secret", "/mj/submit/imagine", []string{"mj-api-secret", "sk-" + realKey}},
		{"mj-api-secret with midjourney-proxy authorization", "/mj/submit/imagine", []string{"Authorization", "midjourney-proxy", "mj-api-secret", realKey}},
		{"second authorization line", "/v1/models", []string{"Authorization", "Bearer sk-" + realKey, "Authorization", "Bearer sk-" + realKey}},
		{"padded", "/v1/models", []string{"Authorization", "Bearer   sk-" + realKey + "  "}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := len(s.Up.requests())
			status, body := call(t, "127.0.0.2", get(t, s.URL, c.path, c.header...))
			require.Equal(t, http.StatusForbidden, status, "body: %s", body)
			require.Equal(t, "ip_not_allowed", decodeError(t, body).Error.Code)
			require.Len(t, s.Up.requests(), before, "not forwarded")

			status, _ = call(t, "127.0.0.1", get(t, s.URL, c.path, c.header...))
			require.Equal(t, http.StatusOK, status, "the same key from the bound address is forwarded")
		})
	}
	_, total, err := s.Bindings.ListBindings(context.Background(), sentinel.BindingFilter{})
	require.NoError(t, err)
	require.Equal(t, 1, total, "every form named one key")
}

func TestDifferentKeysInOneRequestAreRefused(t *testing.T) {
	s := newStack(t, stackOptions{})
	other := "ZyXw" + realKey[4:]
	cases := [][]string{
		{"Authorization", "Bearer sk-" + realKey, "x-api-key", "sk-" + other},
		{"Authorization", "Bearer sk-" + realKey, "Authorization", "Bearer sk-" + other},
		{"x-goog-api-key", realKey, "mj-api-secret", other},
		{"Sec-WebSocket-Protocol", "realtime", "Authorization", "Bearer " + realKey},
	}
	for i, h := range cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			status, body := call(t, "127.0.0.1", get(t, s.URL, "/v1/models", h...))
			require.Equal(t, http.StatusBadRequest, status)
			require.Equal(t, "multiple_keys", decodeError(t, body).Error.Code)
		})
	}
	t.Run("query and header", func(t *testing.T) {
		status, _ := call(t, "127.0.0.1", get(t, s.URL, "/v1beta/models?key="+other, "x-goog-api-key", realKey))
		require.Equal(t, http.StatusBadRequest, status)
	})
	require.Empty(t, s.Up.requests(), "nothing was forwarded")
	_, total, err := s.Bindings.ListBindings(context.Background(), sentinel.BindingFilter{})
	require.NoError(t, err)
	require.Zero(t, total, "nothing was bound")
}

func TestRequestsWithoutKeyPassUntouched(t *testing.T) {
	s := newStack(t, stackOptions{})
	req := get(t, s.URL, "/api/user/self", "Cookie", "session=abc", "New-Api-User", "1")
	status, _ := call(t, "127.0.0.2", req)
	require.Equal(t, http.StatusOK, status)
	status, _ = call(t, "127.0.0.3", get(t, s.URL, "/v1/models", "Authorization", "Bearer "))
	require.Equal(t, http.StatusOK, status, "an empty bearer carries no key; the gateway answers it")
	require.Len(t, s.Up.requests(), 2)
}

func TestClientHeadersFromUntrustedPeersChangeNothing(t *testing.T) {
	s := newStack(t, stackOptions{})
	status, _ := call(t, "127.0.0.1", get(t, s.URL, "/v1/models", "Authorization", "Bearer "+realKey,
		"X-Real-IP", "203.0.113.9", "X-Forwarded-For", "203.0.113.9, 198.51.100.1"))
	require.Equal(t, http.StatusOK, status)
	b := requireBinding(t, s, realKey)
	require.Equal(t, mustAddr("127.0.0.1"), b.FirstIP, "bound to the socket peer, not to the headers")

	seen := s.Up.requests()
	require.Equal(t, "127.0.0.1", seen[0].RealIP, "X-Real-IP toward the downstream is overwritten")
	require.Equal(t, "127.0.0.1", seen[0].ForwardedFor, "X-Forwarded-For toward the downstream is overwritten")

	status, _ = call(t, "127.0.0.2", get(t, s.URL, "/v1/models", "Authorization", "Bearer "+realKey,
		"X-Real-IP", "127.0.0.1", "X-Forwarded-For", "127.0.0.1"))
	require.Equal(t, http.StatusForbidden, status, "a forged X-Real-IP does not unlock the key")

	// Naming the headers as hop-by-hop does not remove them either.
	status, _ = call(t, "127.0.0.1", get(t, s.URL, "/v1/models", "Authorization", "Bearer "+realKey,
		"Connection", "X-Real-IP, X-Forwarded-For"))
	require.Equal(t, http.StatusOK, status)
	seen = s.Up.requests()
	last := seen[len(seen)-1]
	require.Equal(t, "127.0.0.1", last.RealIP, "X-Real-IP survives a client's Connection header")
	require.Equal(t, "127.0.0.1", last.ForwardedFor)
}

func TestTrustedProxyNamesTheClient(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.9/32")}
	t.Run("X-Real-IP", func(t *testing.T) {
		s := newStack(t, stackOptions{proxy: httpproxy.MiddlewareOptions{ClientIPResolver: httpproxy.NewClientIPResolver(trusted, "")}})
		status, _ := call(t, "127.0.0.9", get(t, s.URL, "/v1/models", "Authorization", "Bearer "+realKey, "X-Real-IP", "198.51.100.7"))
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, mustAddr("198.51.100.7"), requireBinding(t, s, realKey).FirstIP)
		require.Equal(t, "198.51.100.7", s.Up.requests()[0].RealIP)

		status, body := call(t, "127.0.0.9", get(t, s.URL, "/v1/models", "Authorization", "Bearer "+realKey, "X-Real-IP", "198.51.100.8"))
		require.Equal(t, http.StatusForbidden, status)
		require.Contains(t, decodeError(t, body).Error.Message, "198.51.100.8")

		status, _ = call(t, "127.0.0.9", get(t, s.URL, "/v1/models", "Authorization", "Bearer "+realKey, "X-Real-IP", "::ffff:198.51.100.7"))
		require.Equal(t, http.StatusOK, status, "an IPv4-mapped IPv6 address is the IPv4 address")

		status, body = call(t, "127.0.0.9", get(t, s.URL, "/v1/models", "Authorization", "Bearer "+realKey, "X-Real-IP", "not-an-ip"))
		require.Equal(t, http.StatusForbidden, status, "an unparsable address from a trusted proxy is refused")
		require.Equal(t, "invalid_client_ip", decodeError(t, body).Error.Code)
	})
	t.Run("X-Forwarded-For walked from the right", func(t *testing.T) {
		s := newStack(t, stackOptions{proxy: httpproxy.MiddlewareOptions{
			ClientIPResolver: httpproxy.NewClientIPResolver(append(trusted, netip.MustParsePrefix("10.0.0.0/8")), "X-Forwarded-For")}})
		status, _ := call(t, "127.0.0.9", get(t, s.URL, "/v1/models", "Authorization", "Bearer "+realKey,
			"X-Forwarded-For", "127.0.0.1, 198.51.100.7, 10.1.2.3"))
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, mustAddr("198.51.100.7"), requireBinding(t, s, realKey).FirstIP, "never the left-most entry")
	})
	t.Run("the header name is configurable", func(t *testing.T) {
		s := newStack(t, stackOptions{proxy: httpproxy.MiddlewareOptions{ClientIPResolver: httpproxy.NewClientIPResolver(trusted, "CF-Connecting-IP")}})
		status, _ := call(t, "127.0.0.9", get(t, s.URL, "/v1/models", "Authorization", "Bearer "+realKey,
			"X-Real-IP", "203.0.113.1", "CF-Connecting-IP", "2001:db8::1"))
		require.Equal(t, http.StatusOK, status)
		b := requireBinding(t, s, realKey)
		require.Equal(t, mustAddr("2001:db8::1"), b.FirstIP)
		require.Equal(t, "2001:db8::/64", b.Rule.Spec(), "IPv6 binds at /64 by default")

		status, _ = call(t, "127.0.0.9", get(t, s.URL, "/v1/models", "Authorization", "Bearer "+realKey, "CF-Connecting-IP", "2001:db8::abcd"))
		require.Equal(t, http.StatusOK, status, "another address in the /64")
		status, _ = call(t, "127.0.0.9", get(t, s.URL, "/v1/models", "Authorization", "Bearer "+realKey, "CF-Connecting-IP", "2001:db8:0:1::1"))
		require.Equal(t, http.StatusForbidden, status, "another /64")
	})
}

func TestHealth(t *testing.T) {
	s := newStack(t, stackOptions{})
	status, body := call(t, "127.0.0.1", get(t, s.URL, "/health"))
	require.Equal(t, http.StatusOK, status)
	require.JSONEq(t, `{"status":"ok"}`, string(body))
	require.Empty(t, s.Up.requests())
}

func TestDownstreamDownIs502(t *testing.T) {
	var logs syncBuffer
	s := newStack(t, stackOptions{downstream: "http://127.0.0.1:1",
		proxyLog: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	status, body := call(t, "127.0.0.1", get(t, s.URL, "/v1beta/models?key=sk-"+realKey))
	require.Equal(t, http.StatusBadGateway, status)
	require.Equal(t, httpproxy.CodeDownstreamUnavailable, decodeError(t, body).Error.Code)
	require.Contains(t, logs.String(), "downstream request failed")
	require.Contains(t, logs.String(), "connection refused")
	require.NotContains(t, logs.String(), realKey[4:40], "the key in the query never reaches the log")
	require.NoError(t, s.Recorder.Flush(context.Background()))
	_, total, err := s.Intercepts.ListIntercepts(context.Background(), sentinel.InterceptFilter{})
	require.NoError(t, err)
	require.Zero(t, total, "a downstream failure is not an intercept")
}

func TestBannedKey(t *testing.T) {
	s := newStack(t, stackOptions{})
	status, _ := call(t, "127.0.0.1", get(t, s.URL, "/v1/models", "Authorization", "Bearer "+realKey))
	require.Equal(t, http.StatusOK, status)
	banned := sentinel.StatusBanned
	// Banned behind the proxy's cache, as another process would: the
	// change feed brings it to the cache.
	_, err := s.Bindings.UpdateBinding(context.Background(), hash(t, realKey), sentinel.BindingUpdate{Status: &banned})
	require.NoError(t, err)
	var body []byte
	require.Eventually(t, func() bool {
		status, body = call(t, "127.0.0.1", get(t, s.URL, "/v1/models", "Authorization", "Bearer "+realKey))
		return status == http.StatusForbidden
	}, 5*time.Second, 20*time.Millisecond)
	e := decodeError(t, body)
	require.Equal(t, "key_banned", e.Error.Code)
	require.Contains(t, e.Error.Message, "127.0.0.1")
}

func TestMonitorModeRecordsButRefusesNothing(t *testing.T) {
	s := newStack(t, stackOptions{mode: sentinel.ModeMonitor})
	status, _ := call(t, "127.0.0.1", get(t, s.URL, "/v1/models", "Authorization", "Bearer "+realKey))
	require.Equal(t, http.StatusOK, status)
	status, _ = call(t, "127.0.0.2", get(t, s.URL, "/v1/models", "Authorization", "Bearer "+realKey))
	require.Equal(t, http.StatusOK, status, "monitor mode forwards")
	status, _ = call(t, "127.0.0.2", get(t, s.URL, "/v1/models", "Authorization", "Bearer "+realKey, "x-api-key", "other"))
	require.Equal(t, http.StatusOK, status, "monitor mode forwards even several keys")
	require.Len(t, s.Up.requests(), 3)

	require.NoError(t, s.Recorder.Flush(context.Background()))
	is, total, err := s.Intercepts.ListIntercepts(context.Background(), sentinel.InterceptFilter{})
	require.NoError(t, err)
	require.Equal(t, 3, total, "the would-be refusals are recorded (the last one twice: two keys, then the address)")
	for _, i := range is {
		assert.False(t, i.Enforced)
		assert.Equal(t, mustAddr("127.0.0.2"), i.ClientIP)
	}
	require.Equal(t, int64(2), s.Middleware.Stats().Monitored)
}

func TestLearnLimit(t *testing.T) {
	s := newStack(t, stackOptions{guard: sentinel.BinderOptions{LearnLimit: 2}})
	for _, ip := range []string{"127.0.0.1", "127.0.0.2", "127.0.0.1", "127.0.0.2"} {
		status, _ := call(t, ip, get(t, s.URL, "/v1/models", "Authorization", "Bearer "+realKey))
		require.Equal(t, http.StatusOK, status, ip)
	}
	status, _ := call(t, "127.0.0.3", get(t, s.URL, "/v1/models", "Authorization", "Bearer "+realKey))
	require.Equal(t, http.StatusForbidden, status, "locked after two addresses")
	b := requireBinding(t, s, realKey)
	require.Equal(t, sentinel.RuleLearn, b.Rule.Kind)
	require.Equal(t, "127.0.0.1,127.0.0.2", b.Rule.Spec())
}

// TestUnauthorizedFirstUseIsForgotten: a key the gateway does not know
// (401) leaves no binding behind; a real key's binding stays.
func TestUnauthorizedFirstUseIsForgotten(t *testing.T) {
	s := newStack(t, stackOptions{})
	s.Up.setHandler(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+realKey {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	status, _ := call(t, "127.0.0.1", get(t, s.URL, "/v1/models", "Authorization", "Bearer scanner-guess"))
	require.Equal(t, http.StatusUnauthorized, status)
	// The removal runs after the 401 has gone out (Middleware.Run).
	require.Eventually(t, func() bool { return s.Middleware.Stats().CleanupsDone == 1 }, 5*time.Second, time.Millisecond)
	_, err := s.Bindings.FindBinding(context.Background(), hash(t, "scanner-guess"))
	require.Equal(t, sentinel.ENOTFOUND, sentinel.ErrorCode(err), "the junk key's binding is gone")

	status, _ = call(t, "127.0.0.2", get(t, s.URL, "/v1/models", "Authorization", "Bearer scanner-guess"))
	require.Equal(t, http.StatusUnauthorized, status, "so it is not refused from elsewhere either: the gateway answers")

	status, _ = call(t, "127.0.0.1", get(t, s.URL, "/v1/models", "Authorization", "Bearer "+realKey))
	require.Equal(t, http.StatusOK, status)
	requireBinding(t, s, realKey)
}

// TestLookAlikeKeysAreRefused: MySQL-backed New API finds a bound key's
// account from an accented, full-width or zero-width look-alike of it; such
// a credential must never be taken for a new key.
func TestLookAlikeKeysAreRefused(t *testing.T) {
	s := newStack(t, stackOptions{})
	status, _ := call(t, "127.0.0.1", get(t, s.URL, "/v1/models", "Authorization", "Bearer sk-"+realKey))
	require.Equal(t, http.StatusOK, status)
	for name, c := range map[string]struct{ path, header, value string }{
		"accented":          {"/v1/models", "Authorization", "Bearer sk-Á" + realKey[1:]},
		"full-width":        {"/v1/models", "Authorization", "Bearer sk-Ａ" + realKey[1:]},
		"zero-width space":  {"/v1/models", "Authorization", "Bearer sk-" + realKey + "\u200b"},
		"inner space":       {"/v1/models", "x-api-key", realKey[:10] + " " + realKey[10:]},
		"control in query":  {"/v1beta/models?key=" + realKey + "%01", "", ""},
		"accented in query": {"/v1beta/models?key=%C3%81" + realKey[1:], "", ""},
	} {
		t.Run(name, func(t *testing.T) {
			req := get(t, s.URL, c.path)
			if c.header != "" {
				req.Header[http.CanonicalHeaderKey(c.header)] = []string{c.value}
			}
			status, body := call(t, "127.0.0.2", req)
			require.Equal(t, http.StatusBadRequest, status, "body: %s", body)
			require.Equal(t, "invalid_key", decodeError(t, body).Error.Code)
		})
	}
	require.Len(t, s.Up.requests(), 1, "no look-alike was forwarded")
	_, total, err := s.Bindings.ListBindings(context.Background(), sentinel.BindingFilter{})
	require.NoError(t, err)
	require.Equal(t, 1, total, "and none was bound")
}
