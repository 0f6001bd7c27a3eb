package adminapi_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyipsentinel/sentinel/adapters/adminapi"
)

func TestConsole(t *testing.T) {
	ui := fstest.MapFS{
		"index.html":          {Data: []byte("<!doctype html><div id=app></div>")},
		"assets/index-Ab1.js": {Data: []byte("console.log(1)")},
		"assets/app-Cd2.css":  {Data: []byte("body{}")},
	}
	s, err := adminapi.New(adminapi.Options{UI: ui})
	require.NoError(t, err)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	tests := []struct {
		name, path   string
		status       int
		location     string
		body, ctype  string
		cacheControl string
	}{
		{name: "admin redirects", path: "/admin", status: http.StatusMovedPermanently, location: "/admin/ui/"},
		{name: "admin/ redirects", path: "/admin/", status: http.StatusMovedPermanently, location: "/admin/ui/"},
		{name: "index", path: "/admin/ui/", status: 200, body: "<div id=app>", ctype: "text/html", cacheControl: "no-cache"},
		{name: "index by name", path: "/admin/ui/index.html", status: 200, body: "<div id=app>", cacheControl: "no-cache"},
		{name: "SPA fallback", path: "/admin/ui/bindings/abc", status: 200, body: "<div id=app>", ctype: "text/html", cacheControl: "no-cache"},
		{name: "hashed script", path: "/admin/ui/assets/index-Ab1.js", status: 200, body: "console.log", ctype: "javascript",
			cacheControl: "public, max-age=31536000, immutable"},
		{name: "hashed style", path: "/admin/ui/assets/app-Cd2.css", status: 200, body: "body{}", ctype: "text/css",
			cacheControl: "public, max-age=31536000, immutable"},
		{name: "missing asset is 404, not index.html", path: "/admin/ui/assets/old-Zz9.js", status: 404},
		{name: "dot-dot stays inside the console", path: "/admin/ui/../../etc/passwd", status: 200, body: "<div id=app>"},
		{name: "API still served", path: "/admin/api/health", status: 200, body: "ok"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := noRedirect.Get(srv.URL + tc.path)
			require.NoError(t, err)
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			assert.Equal(t, tc.status, resp.StatusCode, string(b))
			assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
			assert.Equal(t, "no-referrer", resp.Header.Get("Referrer-Policy"))
			if tc.location != "" {
				assert.Equal(t, tc.location, resp.Header.Get("Location"))
			}
			if tc.body != "" {
				assert.Contains(t, string(b), tc.body)
			}
			if tc.ctype != "" {
				assert.Contains(t, resp.Header.Get("Content-Type"), tc.ctype)
			}
			if tc.cacheControl != "" {
				assert.Equal(t, tc.cacheControl, resp.Header.Get("Cache-Control"))
			}
			if strings.HasPrefix(tc.path, "/admin/ui/") && tc.status == 200 {
				csp := resp.Header.Get("Content-Security-Policy")
				for _, d := range []string{"default-src 'self'", "script-src 'self';", "img-src 'self' data:", "connect-src 'self'",
					"frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'"} {
					assert.Contains(t, csp, d)
				}
				assert.NotContains(t, csp, "'unsafe-eval'")
			}
		})
	}

	t.Run("without a built console", func(t *testing.T) {
		s, err := adminapi.New(adminapi.Options{})
		require.NoError(t, err)
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/admin/ui/", nil))
		assert.Equal(t, http.StatusNotFound, rec.Code)
	})
	t.Run("read-only", func(t *testing.T) {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/admin/ui/", nil))
		assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
	})
}

// TestConsoleGzip: text assets go out gzipped to clients that take it,
// with their real content type, and plain to the others.
func TestConsoleGzip(t *testing.T) {
	script := strings.Repeat("console.log('sentinel');\n", 200)
	ui := fstest.MapFS{
		"index.html":          {Data: []byte("<!doctype html><div id=app></div>")},
		"assets/index-Ab1.js": {Data: []byte(script)},
		"assets/logo-Ef3.png": {Data: []byte("\x89PNG\r\n\x1a\nnot really")},
	}
	s, err := adminapi.New(adminapi.Options{UI: ui})
	require.NoError(t, err)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	get := func(path, accept string) (*http.Response, []byte) {
		req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		require.NoError(t, err)
		req.Header.Set("Accept-Encoding", accept) // set by hand: the client then leaves the body as sent
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, b
	}
	for i := range 2 { // the second answer comes from the compressed copy
		resp, b := get("/admin/ui/assets/index-Ab1.js", "br, gzip;q=0.8")
		require.Equal(t, http.StatusOK, resp.StatusCode, i)
		require.Equal(t, "gzip", resp.Header.Get("Content-Encoding"))
		require.Contains(t, resp.Header.Get("Content-Type"), "javascript")
		require.Contains(t, resp.Header.Values("Vary"), "Accept-Encoding")
		require.Less(t, len(b), len(script)/4, "compressed")
		zr, err := gzip.NewReader(bytes.NewReader(b))
		require.NoError(t, err)
		plain, err := io.ReadAll(zr)
		require.NoError(t, err)
		require.Equal(t, script, string(plain))
	}
	resp, b := get("/admin/ui/assets/index-Ab1.js", "identity")
	require.Empty(t, resp.Header.Get("Content-Encoding"))
	require.Equal(t, script, string(b))
	resp, _ = get("/admin/ui/assets/index-Ab1.js", "gzip;q=0")
	require.Empty(t, resp.Header.Get("Content-Encoding"), "q=0 refuses gzip")
	resp, _ = get("/admin/ui/assets/logo-Ef3.png", "gzip")
	require.Empty(t, resp.Header.Get("Content-Encoding"), "images are not compressed again")
	resp, _ = get("/admin/ui/", "gzip")
	require.Equal(t, "gzip", resp.Header.Get("Content-Encoding"), "index.html too")
	require.Equal(t, "no-cache", resp.Header.Get("Cache-Control"))
}
