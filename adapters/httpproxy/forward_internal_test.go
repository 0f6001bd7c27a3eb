package httpproxy

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCopyEndToEndDropsWhatConnectionNames(t *testing.T) {
	src := http.Header{
		"Connection":      {"keep-alive, X-A", " x-b ,X-A", "x-c,x-d,x-e,,x-f"},
		"X-A":             {"1"},
		"X-B":             {"2"},
		"X-D":             {"4"},
		"X-F":             {"6"},
		"X-Kept":          {"7"},
		"Keep-Alive":      {"timeout=5"},
		"Te":              {"trailers"},
		"X-Forwarded-For": {"10.0.0.1"},
	}
	out := http.Header{}
	copyEndToEnd(out, src, true)
	assert.Equal(t, http.Header{"X-Kept": {"7"}}, out)

	// Answers: what Sentinel set on the response stays, the downstream's
	// forwarding headers pass.
	dst := http.Header{"X-Request-Id": {"r1"}, "X-A": {"mine"}}
	copyEndToEnd(dst, src, false)
	assert.Equal(t, http.Header{"X-Request-Id": {"r1"}, "X-A": {"mine"}, "X-Kept": {"7"}, "X-Forwarded-For": {"10.0.0.1"}}, dst)
}

// TestCopyEndToEndWithManyConnectionNames: a head naming thousands of
// headers in Connection beside thousands of headers drops each named one
// (and is linear: BenchmarkCopyEndToEndManyConnectionNames).
func TestCopyEndToEndWithManyConnectionNames(t *testing.T) {
	src, kept := manyNamed(3000)
	out := http.Header{}
	copyEndToEnd(out, src, true)
	assert.Equal(t, kept, out)
}

func manyNamed(n int) (src, kept http.Header) {
	src, kept = http.Header{}, http.Header{}
	var names []string
	for i := range n {
		k := fmt.Sprintf("X-H%d", i)
		src[k] = []string{"v"}
		if i%2 == 0 {
			names = append(names, strings.ToLower(k))
		} else {
			kept[k] = []string{"v"}
		}
	}
	src["Connection"] = []string{strings.Join(names, ",")}
	return src, kept
}

func BenchmarkCopyEndToEndManyConnectionNames(b *testing.B) {
	src, _ := manyNamed(6000)
	b.ReportAllocs()
	for b.Loop() {
		copyEndToEnd(make(http.Header, len(src)), src, true)
	}
}

func TestVerifyUpgradeWantsConnectionUpgrade(t *testing.T) {
	req, _ := http.NewRequest(http.MethodGet, "http://gw/ws", nil)
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	key := "dGhlIHNhbXBsZSBub25jZQ=="
	req.Header.Set("Sec-Websocket-Key", key)
	answer := func(conn string) *http.Response {
		h := http.Header{"Upgrade": {"websocket"}, "Sec-Websocket-Accept": {webSocketAccept(key)}}
		if conn != "" {
			h["Connection"] = []string{conn}
		}
		return &http.Response{StatusCode: http.StatusSwitchingProtocols, Header: h, Request: req}
	}
	assert.NoError(t, verifyUpgrade(answer("Upgrade")))
	assert.ErrorIs(t, verifyUpgrade(answer("")), ErrUpgradeRefused)
	assert.ErrorIs(t, verifyUpgrade(answer("keep-alive")), ErrUpgradeRefused)
}

// TestHeaderNamesIndexedDirectlyAreCanonical: the names the hot path
// indexes header maps with (not through Header.Get) must be canonical, or
// a request's header would be missed.
func TestHeaderNamesIndexedDirectlyAreCanonical(t *testing.T) {
	for _, k := range []string{headerAuthorization, headerAnthropicKey, headerGoogleKey, headerWSProtocol, headerMidjourney,
		"X-Forwarded-Host", "X-Forwarded-Proto", "Expect", NewClientIPResolver(nil, "x-real-ip").Header()} {
		assert.Equal(t, http.CanonicalHeaderKey(k), k)
	}
}

// TestSetURLIsSetURL: setURL's shortcut gives what httputil's SetURL gives,
// for targets with and without a path or query of their own.
func TestSetURLIsSetURL(t *testing.T) {
	targets := []string{"http://down:3000", "http://down:3000/", "http://down/base", "http://down/base/", "http://down?k=v", "https://down/a%2Fb"}
	uris := []string{"/v1/models", "/", "/a%2Fb/c", "/a/b?x=1&y=%20", "/v1/chat/completions?stream=true", "*"}
	for _, ts := range targets {
		target, err := url.Parse(ts)
		require.NoError(t, err)
		for _, uri := range uris {
			in := httptest.NewRequest(http.MethodGet, "http://client.example"+strings.TrimPrefix(uri, "*"), nil)
			if uri == "*" {
				in.URL = &url.URL{Path: "*"}
			}
			out := func() *httputil.ProxyRequest {
				o := in.Clone(in.Context())
				o.Host = "client.example"
				return &httputil.ProxyRequest{In: in, Out: o}
			}
			want, got := out(), out()
			want.SetURL(target)
			setURL(got, target, plainTarget(target))
			require.Equal(t, want.Out.URL, got.Out.URL, "%s + %s", ts, uri)
			require.Equal(t, want.Out.Host, got.Out.Host, "%s + %s", ts, uri)
		}
	}
}

// TestStatusLinesAreWritten: the status lines made once are http.Server's,
// and codes out of the table are still written.
func TestStatusLinesAreWritten(t *testing.T) {
	line := func(code int) string {
		var b strings.Builder
		bw := bufio.NewWriter(&b)
		writeStatusLine(bw, code)
		bw.Flush()
		return b.String()
	}
	require.Equal(t, "HTTP/1.1 200 OK\r\n", line(200))
	require.Equal(t, "HTTP/1.1 103 Early Hints\r\n", line(103))
	require.Equal(t, "HTTP/1.1 599 status code 599\r\n", line(599))
	require.Equal(t, "HTTP/1.1 600 status code 600\r\n", line(600))
	require.Equal(t, "HTTP/1.1 42 status code 42\r\n", line(42))
}

// BenchmarkWriteSortedHeader: the outbound head's fields of a small
// forwarded request (what wrk's GET becomes).
func BenchmarkWriteSortedHeader(b *testing.B) {
	h := http.Header{
		"Authorization":     {"Bearer sk-test123"},
		"X-Forwarded-For":   {"127.0.0.1"},
		"X-Real-Ip":         {"127.0.0.1"},
		"X-Request-Id":      {"0123456789abcdef0123456789abcdef"},
		"X-Forwarded-Host":  {"127.0.0.1:18091"},
		"X-Forwarded-Proto": {"http"},
		"User-Agent":        {""},
	}
	bw := bufio.NewWriterSize(io.Discard, 4<<10)
	b.ReportAllocs()
	for b.Loop() {
		writeSortedHeader(bw, h)
		bw.Flush()
	}
}
