package httpproxy_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/httpproxy"
	"github.com/keyipsentinel/sentinel/adapters/localcache"
	"github.com/keyipsentinel/sentinel/adapters/sqlite"
)

// engine is one way of running the proxy: a listener (httpproxy.Server,
// what the binaries serve with, or net/http's, what a library user mounts
// Proxy in) and a transport to the downstream.
type engine struct {
	name      string
	transport func() http.RoundTripper
	netHTTP   bool // served by http.Server instead of httpproxy.Server
}

// engines are what the conformance tests and benchmarks run the proxy
// with: the binaries' (Server + Upstream) first.
func engines() []engine {
	return []engine{
		{"Server+Upstream", func() http.RoundTripper { return httpproxy.NewUpstream(httpproxy.UpstreamOptions{}) }, false},
		{"net/http+Upstream", func() http.RoundTripper { return httpproxy.NewUpstream(httpproxy.UpstreamOptions{}) }, true},
		{"net/http+http.Transport", func() http.RoundTripper { return httpproxy.NewTransport() }, true},
	}
}

// proxyFor serves a whole Sentinel proxy on e to downstream.
func (e engine) proxyFor(tb testing.TB, downstream string, decider sentinel.Decider) string {
	tb.Helper()
	return proxyOn(tb, downstream, e.transport(), decider, e.netHTTP)
}

// proxyFor serves a whole Sentinel proxy (SQLite-backed decider, the
// middleware, the reverse proxy on transport) on a real loopback listener
// with httpproxy.Server, forwarding to downstream. It returns the proxy's
// base URL.
func proxyFor(tb testing.TB, downstream string, transport http.RoundTripper, decider sentinel.Decider) string {
	tb.Helper()
	return proxyOn(tb, downstream, transport, decider, false)
}

func proxyOn(tb testing.TB, downstream string, transport http.RoundTripper, decider sentinel.Decider, netHTTP bool) string {
	tb.Helper()
	live := sentinel.MustLiveSettings(sentinel.DefaultSettings())
	if decider == nil {
		db, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "s.db"), sqlite.Options{})
		require.NoError(tb, err)
		tb.Cleanup(func() { db.Close() })
		decider, err = sentinel.NewBinder(localcache.New(sqlite.NewBindingStore(db), localcache.Options{}), sentinel.BinderOptions{Settings: live})
		require.NoError(tb, err)
	}
	hasher, err := sentinel.NewHasher(testSecret)
	require.NoError(tb, err)
	mw, err := httpproxy.NewMiddleware(httpproxy.MiddlewareOptions{Decider: decider, Hasher: hasher, Settings: live})
	require.NoError(tb, err)
	u, err := url.Parse(downstream)
	require.NoError(tb, err)
	p, err := httpproxy.NewProxy(u, mw, httpproxy.ProxyOptions{Transport: transport})
	require.NoError(tb, err)
	base := serveOn(tb, p, netHTTP)
	tb.Cleanup(func() {
		if ci, ok := transport.(interface{ CloseIdleConnections() }); ok {
			ci.CloseIdleConnections()
		}
	})
	return base
}

// serveOn serves h on a loopback listener with httpproxy.Server (default
// limits), or with http.Server when netHTTP, and returns its base URL.
func serveOn(tb testing.TB, h http.Handler, netHTTP bool) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	if netHTTP {
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		tb.Cleanup(func() { srv.Close() })
	} else {
		srv := httpproxy.Limits{}.NewServer(h, nil)
		go srv.Serve(ln)
		tb.Cleanup(func() { srv.Close() })
	}
	return "http://" + ln.Addr().String()
}

// serveLoopback serves h on a real loopback listener and returns its URL.
func serveLoopback(tb testing.TB, h http.Handler) (string, *http.Server) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	tb.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String(), srv
}

const modelsBody = `{"object":"list","data":[{"id":"gpt-4o-mini","object":"model","owned_by":"openai"}]}`

// BenchmarkProxyEndToEnd is one small JSON request (GET /v1/models with a
// known key) from a keep-alive client through the middleware and the
// reverse proxy to an upstream, every hop over loopback TCP.
func BenchmarkProxyEndToEnd(b *testing.B) {
	up, _ := serveLoopback(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, modelsBody)
	}))
	for _, e := range engines() {
		b.Run(e.name, func(b *testing.B) {
			base := e.proxyFor(b, up, nil)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			defer client.CloseIdleConnections()
			req, err := http.NewRequest(http.MethodGet, base+"/v1/models", nil)
			require.NoError(b, err)
			req.Header.Set("Authorization", "Bearer sk-"+realKey)
			do := func() {
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
			do() // binds the key
			b.ReportAllocs()
			cpu := processCPU()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					do()
				}
			})
			b.StopTimer()
			reportCPU(b, cpu)
		})
	}
}

// BenchmarkProxyEndToEndSSE is one streamed chat completion (10 SSE
// events, each flushed) through the same path. Streams that arrive cut
// short are counted (cut/op), not fatal: with http.Transport a POST body
// with a Content-Length races the server's closing of that body once the
// response has started (golang/go#40747), and the Transport then tears
// the upstream connection down mid-stream.
func BenchmarkProxyEndToEndSSE(b *testing.B) {
	const event = "data: {\"choices\":[{\"delta\":{\"content\":\"hello\"}}]}\n\n"
	const done = "data: [DONE]\n\n"
	up, _ := serveLoopback(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		for range 10 {
			io.WriteString(w, event)
			rc.Flush()
		}
		io.WriteString(w, done)
	}))
	for _, e := range engines() {
		b.Run(e.name, func(b *testing.B) {
			base := e.proxyFor(b, up, nil)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			defer client.CloseIdleConnections()
			var cut atomic.Int64
			do := func() {
				req, _ := http.NewRequest(http.MethodPost, base+"/v1/chat/completions",
					strings.NewReader(`{"model":"gpt-4o-mini","stream":true}`))
				req.Header.Set("Authorization", "Bearer sk-"+realKey)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d", resp.StatusCode)
				}
				if err != nil || n != int64(10*len(event)+len(done)) {
					cut.Add(1)
				}
			}
			do()
			cut.Store(0)
			b.ReportAllocs()
			cpu := processCPU()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					do()
				}
			})
			b.StopTimer()
			reportCPU(b, cpu)
			b.ReportMetric(float64(cut.Load())/float64(b.N), "cut/op")
		})
	}
}
