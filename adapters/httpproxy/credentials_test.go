package httpproxy_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/httpproxy"
)

// dashboardJWT returns a token shaped like the one New API's dashboard
// sends since mid-2026 (HS256, issuer new-api, audience new-api-dashboard).
// The signature holds '-' and '_', as base64url signatures do.
func dashboardJWT(aud string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." +
		enc([]byte(`{"iss":"new-api","aud":"`+aud+`","sub":"1","token_use":"access","exp":1893456000}`)) + "." +
		"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
}

// accessToken is shaped like a New API personal access token.
const accessToken = "q6Yb+Y1/xPlm3vS0dNc9ZkRhT2E="

func TestDashboardCredentialsAreNotBound(t *testing.T) {
	s := newStack(t, stackOptions{})
	cases := []struct {
		name, path, authorization string
	}{
		{"dashboard jwt", "/api/user/self", "Bearer " + dashboardJWT("new-api-dashboard")},
		{"dashboard jwt, bare", "/api/user/self", dashboardJWT("new-api-dashboard")},
		{"access token", "/api/user/self", accessToken},
		{"access token, bearer", "/api/channel/", "Bearer " + accessToken},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, ip := range []string{"127.0.0.1", "127.0.0.2"} {
				status, body := call(t, ip, get(t, s.URL, c.path, "Authorization", c.authorization))
				require.Equal(t, http.StatusOK, status, "passed untouched from %s: %s", ip, body)
			}
			seen := s.Up.requests()
			require.Equal(t, c.authorization, seen[len(seen)-1].Authorization, "the credential reached the gateway as sent")
		})
	}
	_, total, err := s.Bindings.ListBindings(context.Background(), sentinel.BindingFilter{})
	require.NoError(t, err)
	require.Zero(t, total, "no dashboard credential became a binding")
}

func TestKeysOnManagementRoutesAreStillChecked(t *testing.T) {
	s := newStack(t, stackOptions{})
	cases := []struct {
		name, path, authorization string
	}{
		{"model key on a dashboard route", "/api/user/self", "Bearer sk-" + realKey},
		{"bare model key on a dashboard route", "/api/user/self", realKey},
		{"jwt on the usage route", "/api/usage/token", "Bearer " + dashboardJWT("new-api-dashboard")},
		{"access token on the log route", "/api/log/token", accessToken},
		{"access token on an unclean path", "/api/../api/usage/token", accessToken + "x"},
		{"jwt of another audience", "/api/user/self", dashboardJWT("someone-else")},
		{"jwt outside /api", "/v1/chat/completions", dashboardJWT("new-api-dashboard")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// Bound where New API authenticates keys, then checked on c.path.
			status, body := call(t, "127.0.0.1", get(t, s.URL, "/v1/models", "Authorization", c.authorization))
			require.Equal(t, http.StatusOK, status, "body: %s", body)
			status, body = call(t, "127.0.0.1", get(t, s.URL, c.path, "Authorization", c.authorization))
			require.Equal(t, http.StatusOK, status, "body: %s", body)
			status, body = call(t, "127.0.0.2", get(t, s.URL, c.path, "Authorization", c.authorization))
			require.Equal(t, http.StatusForbidden, status, "a key is checked on %s: %s", c.path, body)
		})
	}
}

func TestBindManagementTokensOption(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/api/user/self", nil)
	r.Header.Set("Authorization", "Bearer "+accessToken)
	c, err := httpproxy.Extractor{}.Extract(r)
	require.NoError(t, err)
	require.False(t, c.Found)
	require.True(t, c.Management)

	c, err = httpproxy.Extractor{BindManagementTokens: true}.Extract(r)
	require.NoError(t, err)
	require.True(t, c.Found)
	require.False(t, c.Management)
	require.Equal(t, sentinel.NormalizeToken(accessToken), c.Token)
}

// TestWebSocketSubprotocolModes: realtime clients with a subprotocol pass in
// insecure-api-key mode and are refused on ambiguity in legacy mode.
func TestWebSocketSubprotocolModes(t *testing.T) {
	other := "ZyXw" + realKey[4:]
	cases := []struct {
		name      string
		protocol  string
		auth      string
		mode      httpproxy.WSProtocolKeys
		wantKey   string // "" when no key
		wantError error
	}{
		{"realtime beside authorization, insecure-api-key", "realtime", "Bearer sk-" + realKey, httpproxy.WSProtocolInsecureAPIKey, realKey, nil},
		{"two tokens beside authorization, insecure-api-key", "realtime, openai-beta.realtime-v1", "Bearer sk-" + realKey, httpproxy.WSProtocolInsecureAPIKey, realKey, nil},
		{"realtime alone, insecure-api-key", "realtime", "", httpproxy.WSProtocolInsecureAPIKey, "", nil},
		{"key part, insecure-api-key", "realtime, openai-insecure-api-key.sk-" + realKey, "", httpproxy.WSProtocolInsecureAPIKey, realKey, nil},
		{"key part differs from authorization, insecure-api-key", "openai-insecure-api-key.sk-" + other, "Bearer sk-" + realKey, httpproxy.WSProtocolInsecureAPIKey, realKey, httpproxy.ErrMultipleKeys},
		{"whole value shaped like a key, insecure-api-key", "sk-" + other, "", httpproxy.WSProtocolInsecureAPIKey, other, nil},
		{"whole 48-character value, insecure-api-key", other, "Bearer sk-" + realKey, httpproxy.WSProtocolInsecureAPIKey, realKey, httpproxy.ErrMultipleKeys},
		{"realtime beside authorization, legacy", "realtime", "Bearer sk-" + realKey, httpproxy.WSProtocolLegacy, realKey, httpproxy.ErrMultipleKeys},
		// The whole value normalises to "realtime, openai": not a key at all.
		{"two tokens, legacy", "realtime, openai-beta.realtime-v1", "Bearer sk-" + realKey, httpproxy.WSProtocolLegacy, realKey, httpproxy.ErrInvalidKey},
		{"realtime beside authorization, default", "realtime", "Bearer sk-" + realKey, "", realKey, httpproxy.ErrMultipleKeys},
		{"key part, legacy", "realtime, openai-insecure-api-key.sk-" + realKey, "Bearer " + realKey, httpproxy.WSProtocolLegacy, realKey, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/v1/realtime?model=gpt-4o-realtime", nil)
			r.Header.Set("Sec-WebSocket-Protocol", c.protocol)
			if c.auth != "" {
				r.Header.Set("Authorization", c.auth)
			}
			got, err := httpproxy.Extractor{WSProtocolKeys: c.mode}.Extract(r)
			require.ErrorIs(t, err, c.wantError)
			require.Equal(t, c.wantKey != "", got.Found)
			require.Equal(t, sentinel.Token(c.wantKey), got.Token)
		})
	}
	require.Error(t, httpproxy.WSProtocolKeys("modern").Validate())
	require.NoError(t, httpproxy.WSProtocolInsecureAPIKey.Validate())
}

// TestOffPathValuesAreNotAmbiguous: a value in a source New API does not
// read on the path (x-api-key on /v1/chat/completions) is an off-path
// candidate, not a second key; the strict ExtractToken still counts it.
func TestOffPathValuesAreNotAmbiguous(t *testing.T) {
	other := "ZyXw" + realKey[4:]
	cases := []struct {
		name    string
		path    string
		header  []string
		key     string
		offPath []string
	}{
		{"x-api-key placeholder on chat", "/v1/chat/completions", []string{"Authorization", "Bearer sk-" + realKey, "x-api-key", "placeholder"}, realKey, []string{"placeholder"}},
		{"x-api-key on messages", "/v1/messages", []string{"x-api-key", "sk-" + realKey}, realKey, nil},
		{"x-api-key alone on chat", "/v1/chat/completions", []string{"x-api-key", "sk-" + other}, "", []string{other}},
		{"same key off path", "/v1/chat/completions", []string{"Authorization", "Bearer sk-" + realKey, "x-api-key", realKey}, realKey, nil},
		{"goog key on chat", "/v1/chat/completions", []string{"Authorization", "Bearer sk-" + realKey, "x-goog-api-key", other, "x-goog-api-key", other}, realKey, []string{other}},
		{"goog key on models", "/v1beta/models/gemini:generateContent", []string{"x-goog-api-key", other}, other, nil},
		{"mj secret beside authorization", "/mj/submit/imagine", []string{"Authorization", "Bearer sk-" + realKey, "mj-api-secret", other}, realKey, []string{other}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, c.path, nil)
			for i := 0; i+1 < len(c.header); i += 2 {
				r.Header.Add(c.header[i], c.header[i+1])
			}
			got, err := httpproxy.Extractor{}.Extract(r)
			require.NoError(t, err)
			require.Equal(t, c.key != "", got.Found)
			require.Equal(t, sentinel.Token(c.key), got.Token)
			var off []string
			for _, t := range got.OffPath {
				off = append(off, string(t))
			}
			require.Equal(t, c.offPath, off)

			_, _, strictErr := httpproxy.ExtractToken(r)
			if len(c.offPath) > 0 && c.key != "" {
				require.ErrorIs(t, strictErr, httpproxy.ErrMultipleKeys, "the strict reading still refuses")
			} else {
				require.NoError(t, strictErr)
			}

			if len(got.OffPath) > 0 {
				promoted, err := got.Promote(got.OffPath[0])
				if got.Found {
					require.ErrorIs(t, err, httpproxy.ErrMultipleKeys, "a bound off-path key beside another key is refused")
				} else {
					require.NoError(t, err)
					require.Equal(t, got.OffPath[0], promoted.Token, "a bound off-path key alone is decided on")
				}
			}
		})
	}
}

func TestExtractHintKeepsWhatTheClientWrote(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/v1/models", nil)
	r.Header.Set("Authorization", "Bearer "+realKey)
	c, err := httpproxy.Extractor{}.Extract(r)
	require.NoError(t, err)
	require.Equal(t, "AbCd…6789", c.Hint())
	r.Header.Set("Authorization", "Bearer sk-"+realKey)
	c, err = httpproxy.Extractor{}.Extract(r)
	require.NoError(t, err)
	require.Equal(t, "sk-AbCd…6789", c.Hint())
}
