package test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestServerLimitsAreWired: the proxy binary puts the configured limits in
// force: a request body that stops moving is cut with 408 after
// SENTINEL_BODY_IDLE_TIMEOUT, headers past SENTINEL_MAX_HEADER_BYTES get
// 431, and a client past SENTINEL_MAX_CONNS_PER_IP is turned away.
func TestServerLimitsAreWired(t *testing.T) {
	// A gateway that reads the whole body before answering, as New API does.
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(up.Close)
	p := start(t, "sentinel-proxy", t.TempDir(), map[string]string{
		"DOWNSTREAM_URL": up.URL, "SENTINEL_BODY_IDLE_TIMEOUT": "300ms", "SENTINEL_MAX_HEADER_BYTES": "4096",
		"SENTINEL_MAX_CONNS_PER_IP": "4",
	})
	addr := strings.TrimPrefix(p.URL, "http://")

	t.Run("slow body", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer c.Close()
		_, err = fmt.Fprintf(c, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 100\r\n\r\n{", testKey)
		require.NoError(t, err)
		require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		require.NoError(t, err, "answered before the client's own deadline")
		resp.Body.Close()
		require.Equal(t, http.StatusRequestTimeout, resp.StatusCode)
	})

	t.Run("oversized headers", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodGet, p.URL+"/api/status", nil)
		require.NoError(t, err)
		req.Header.Set("X-Padding", strings.Repeat("a", 8192))
		resp, err := clientFrom("127.0.0.1").Do(req)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.StatusCode)
		require.Contains(t, string(body), `"code":"request_header_too_large"`, "in the JSON error shape")
	})

	t.Run("connections per address", func(t *testing.T) {
		conns := make([]net.Conn, 0, 4)
		for range 4 {
			c, err := net.DialTCP("tcp", &net.TCPAddr{IP: net.ParseIP("127.0.5.1")}, mustTCPAddr(t, addr))
			require.NoError(t, err)
			conns = append(conns, c)
			t.Cleanup(func() { c.Close() })
		}
		// The fifth from the same address is refused; another address is not.
		require.Eventually(t, func() bool {
			c, err := net.DialTCP("tcp", &net.TCPAddr{IP: net.ParseIP("127.0.5.1")}, mustTCPAddr(t, addr))
			if err != nil {
				return true
			}
			defer c.Close()
			fmt.Fprintf(c, "GET /api/status HTTP/1.1\r\nHost: x\r\n\r\n")
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				return true
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusTooManyRequests
		}, 5*time.Second, 50*time.Millisecond)
		require.Equal(t, http.StatusOK, send(t, "127.0.5.2", p.URL+"/api/status", ""))
	})
}

func mustTCPAddr(t *testing.T, addr string) *net.TCPAddr {
	t.Helper()
	a, err := net.ResolveTCPAddr("tcp", addr)
	require.NoError(t, err)
	return a
}
