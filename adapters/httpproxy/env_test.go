package httpproxy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/httpproxy"
	"github.com/keyipsentinel/sentinel/adapters/localcache"
	"github.com/keyipsentinel/sentinel/adapters/sqlite"
	"github.com/keyipsentinel/sentinel/sentineltest"
)

// testSecret is the HMAC secret of the test deployments.
var testSecret = []byte("test-secret-0123456789abcdef0123456789")

// upstream is a real HTTP server standing in for New API. It records the
// client address the proxy told it (X-Real-IP) for every request it saw.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen []seenRequest
	// handle, when set, answers instead of the default 200 JSON.
	handle func(w http.ResponseWriter, r *http.Request)
}

type seenRequest struct {
	Path, RealIP, ForwardedFor, Authorization string
}

func newUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen = append(u.seen, seenRequest{
			Path: r.URL.Path, RealIP: r.Header.Get("X-Real-IP"),
			ForwardedFor:  strings.Join(r.Header.Values("X-Forwarded-For"), ","),
			Authorization: r.Header.Get("Authorization"),
		})
		h := u.handle
		u.mu.Unlock()
		if h != nil {
			h(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"object":"list","data":[]}`)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) requests() []seenRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]seenRequest(nil), u.seen...)
}

func (u *upstream) setHandler(h func(w http.ResponseWriter, r *http.Request)) {
	u.mu.Lock()
	u.handle = h
	u.mu.Unlock()
}

// stack is a whole Sentinel in-process: SQLite file, cache, guard, batch
// recorder and proxy, served on a real loopback listener.
type stack struct {
	URL        string
	DB         *sqlite.DB
	Bindings   *sqlite.BindingStore
	Intercepts *sqlite.InterceptStore
	Recorder   *sentinel.BatchRecorder
	Middleware *httpproxy.Middleware
	Settings   *sentinel.LiveSettings // shared by the Binder and the Middleware
	Up         *upstream
}

type stackOptions struct {
	mode       sentinel.Mode               // default enforce
	guard      sentinel.BinderOptions      // Settings is filled in
	proxy      httpproxy.MiddlewareOptions // Decider, Hasher, Recorder and Settings are filled in
	downstream string                      // default: the upstream's URL
	dbPath     string
	proxyLog   *slog.Logger
	proxyOpts  httpproxy.ProxyOptions // Logger is proxyLog
}

// syncBuffer is a bytes.Buffer safe for a logger and a test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func newStack(t *testing.T, opts stackOptions) *stack {
	t.Helper()
	ctx := context.Background()
	path := opts.dbPath
	if path == "" {
		path = filepath.Join(t.TempDir(), "sentinel.db")
	}
	db, err := sqlite.Open(ctx, path, sqlite.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	bindings := sqlite.NewBindingStore(db)
	intercepts := sqlite.NewInterceptStore(db)
	cache := localcache.New(bindings, localcache.Options{})
	sentineltest.RunFeed(t, sqlite.NewBindingFeed(db, sqlite.FeedOptions{Interval: 20 * time.Millisecond}), cache)
	settings := sentinel.DefaultSettings()
	if opts.mode != "" {
		settings.EnforceMode = opts.mode
	}
	live := sentinel.MustLiveSettings(settings)
	opts.guard.Settings = live
	decider, err := sentinel.NewBinder(cache, opts.guard)
	require.NoError(t, err)
	rec := sentinel.NewBatchRecorder(bindings, intercepts, sentinel.BatchRecorderOptions{})

	hasher, err := sentinel.NewHasher(testSecret)
	require.NoError(t, err)
	gopts := opts.proxy
	gopts.Decider, gopts.Hasher, gopts.Recorder, gopts.Settings = decider, hasher, rec, live
	if gopts.Lookup == nil {
		gopts.Lookup = cache
	}
	guard, err := httpproxy.NewMiddleware(gopts)
	require.NoError(t, err)
	runCtx, stopRun := context.WithCancel(ctx)
	runDone := make(chan struct{})
	go func() { guard.Run(runCtx); close(runDone) }()
	t.Cleanup(func() { stopRun(); <-runDone })

	up := newUpstream(t)
	target := opts.downstream
	if target == "" {
		target = up.URL
	}
	u, err := url.Parse(target)
	require.NoError(t, err)
	popts := opts.proxyOpts
	popts.Logger = opts.proxyLog
	p, err := httpproxy.NewProxy(u, guard, popts)
	require.NoError(t, err)

	return &stack{URL: serveOn(t, p, false), DB: db, Bindings: bindings, Intercepts: intercepts,
		Recorder: rec, Middleware: guard, Settings: live, Up: up}
}

// hash returns the key hash of a raw key as the stack computes it.
func hash(t *testing.T, raw string) sentinel.KeyHash {
	t.Helper()
	h, err := sentinel.NewHasher(testSecret)
	require.NoError(t, err)
	return h.Hash(sentinel.NormalizeToken(raw))
}

// clientFrom returns an HTTP client whose connections leave from ip (any
// 127.0.0.0/8 address works on Linux loopback).
func clientFrom(t testing.TB, ip string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 4}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// call sends a request from ip and returns the status and body.
func call(t testing.TB, ip string, req *http.Request) (int, []byte) {
	t.Helper()
	resp, err := clientFrom(t, ip).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, body
}

func get(t testing.TB, base, path string, header ...string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	return req
}

type apiError struct {
	Error struct {
		Message string `json:"message"`
		Type    string `json:"type"`
		Code    string `json:"code"`
	} `json:"error"`
}

func decodeError(t testing.TB, body []byte) apiError {
	t.Helper()
	var e apiError
	require.NoError(t, json.Unmarshal(body, &e), "body: %s", body)
	require.Equal(t, "sentinel_error", e.Error.Type)
	return e
}

func requireBinding(t *testing.T, s *stack, raw string) sentinel.Binding {
	t.Helper()
	b, err := s.Bindings.FindBinding(context.Background(), hash(t, raw))
	require.NoError(t, err)
	return b
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// realKey is shaped like a New API key: 48 characters of [0-9A-Za-z].
const realKey = "AbCdEf0123456789AbCdEf0123456789AbCdEf0123456789"
