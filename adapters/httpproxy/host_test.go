package httpproxy_test

import (
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyipsentinel/sentinel/adapters/httpproxy"
)

// TestHostAndForwardedHeaders: the client's Host reaches New API by
// default (SENTINEL_PASS_HOST), and X-Forwarded-Proto / X-Forwarded-Host
// come from a trusted proxy, else from the connection.
func TestHostAndForwardedHeaders(t *testing.T) {
	cases := []struct {
		name                    string
		from                    string
		downstreamHost          bool
		wantHost, wantFwdHost   string
		wantProto               string
		sendFwdHost, sendFwdPro string
	}{
		{"untrusted client names its own forwarded headers", "127.0.0.2", false, "api.example.com", "api.example.com", "http", "evil.example", "https"},
		{"trusted proxy says https", "127.0.0.1", false, "api.example.com", "public.example.com", "https", "public.example.com", "https"},
		{"downstream host", "127.0.0.2", true, "", "api.example.com", "http", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newStack(t, stackOptions{
				proxy:     httpproxy.MiddlewareOptions{ClientIPResolver: httpproxy.NewClientIPResolver([]netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, "")},
				proxyOpts: httpproxy.ProxyOptions{DownstreamHost: c.downstreamHost},
			})
			var mu sync.Mutex
			var host, fwdHost, proto string
			var forwarded []string
			s.Up.setHandler(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				host, fwdHost, proto = r.Host, strings.Join(r.Header.Values("X-Forwarded-Host"), ","), strings.Join(r.Header.Values("X-Forwarded-Proto"), ",")
				forwarded = r.Header.Values("Forwarded")
				mu.Unlock()
			})
			req := get(t, s.URL, "/api/status")
			req.Host = "api.example.com"
			// RFC 7239's header, which no client or proxy here is trusted
			// with: dropped as ReverseProxy drops it.
			req.Header.Set("Forwarded", "for=203.0.113.9;proto=https;host=evil.example")
			if c.sendFwdHost != "" {
				req.Header.Set("X-Forwarded-Host", c.sendFwdHost)
			}
			if c.sendFwdPro != "" {
				req.Header.Set("X-Forwarded-Proto", c.sendFwdPro)
			}
			status, _ := call(t, c.from, req)
			require.Equal(t, http.StatusOK, status)
			mu.Lock()
			defer mu.Unlock()
			wantHost := c.wantHost
			if wantHost == "" {
				wantHost = strings.TrimPrefix(s.Up.URL, "http://")
			}
			require.Equal(t, wantHost, host)
			require.Equal(t, c.wantFwdHost, fwdHost)
			require.Equal(t, c.wantProto, proto)
			require.Empty(t, forwarded, "the client's Forwarded header")
		})
	}
}
