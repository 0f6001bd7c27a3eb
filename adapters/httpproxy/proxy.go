package httpproxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sentinel "github.com/keyipsentinel/sentinel"
)

// ProxyOptions configure a Proxy; zero fields take defaults.
type ProxyOptions struct {
	// Transport carries requests to the downstream; default
	// DefaultLimits().NewUpstream(UpstreamOptions{}): plain HTTP/1.1 on
	// pooled connections read by the serving goroutine, https through
	// NewTransport() (docs/performance.md says why).
	Transport http.RoundTripper
	Logger    *slog.Logger
	// Clock paces the downstream error log; default the real time.
	Clock sentinel.Clock
	// Readiness answers GET /ready; nil answers ready (200) always.
	Readiness *Readiness
	// AccessLog logs one line per proxied request (SENTINEL_ACCESS_LOG)
	// at info level on Logger.
	AccessLog bool
	// DownstreamHost sends the downstream's host as Host instead of the
	// client's (SENTINEL_PASS_HOST=false). By default the client's Host
	// passes, since New API derives origins (passkeys, links) from it.
	DownstreamHost bool
}

// Proxy is the reverse proxy: GET /health answered locally, everything
// else through the Middleware to the downstream gateway, streamed both ways.
//
// Under Server, a forwarded request's header map becomes the outbound
// request's (no copy): after the Proxy it lacks the hop-by-hop headers
// and Forwarded, and holds the forwarding headers the downstream got.
// The downstream answer's header map becomes the answer's likewise.
type Proxy struct {
	guard *Middleware
	// rewrite makes the outbound request's URL, Host and client headers
	// (forward.go calls it where ReverseProxy calls a Rewrite).
	rewrite   func(*httputil.ProxyRequest)
	transport http.RoundTripper
	fwd       http.Handler // forward
	ids       *requestIDs
	// logged is the Middleware and forward behind the access log, nil
	// without one: then ServeHTTP calls the Middleware itself, one frame
	// less under every streamed answer.
	logged http.Handler
	ready  *Readiness
	log    *slog.Logger
	clock  sentinel.Clock

	lastErrLog atomic.Int64 // unix nanos of the last logged downstream error
	errsSince  atomic.Int64
	// Guarded requests in flight, upgraded WebSockets included, counted
	// without a lock (a lock taken twice per request by every core was a
	// point they all queued at). While a Drain waits (waiting > 0), the
	// request that brings the count to zero closes idle, which Drain waits
	// on together with its context, leaving nothing behind on timeout.
	inflight atomic.Int64
	waiting  atomic.Int32
	mu       sync.Mutex // guards idle
	idle     chan struct{}
	// testHookLeft, when a test sets it, runs in leave between the count
	// reaching zero and the look for a waiting Drain.
	testHookLeft func()
}

// NewTransport returns the transport tuned for proxying to one gateway:
// many idle keep-alive connections, no response-header deadline (a model
// may think for minutes before its first byte), no transparent
// compression (Accept-Encoding passes through), and no environment proxy,
// so traffic goes where DOWNSTREAM_URL says.
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy: nil,
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   512,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		ForceAttemptHTTP2:     true,
		WriteBufferSize:       32 << 10,
		ReadBufferSize:        32 << 10,
	}
}

// NewProxy returns a Proxy forwarding what guard allows to downstream
// (scheme, host and optional base path).
func NewProxy(downstream *url.URL, guard *Middleware, opts ProxyOptions) (*Proxy, error) {
	if downstream == nil || (downstream.Scheme != "http" && downstream.Scheme != "https") || downstream.Host == "" {
		return nil, sentinel.Errorf(sentinel.EINVALID, "httpproxy: downstream must be an http or https URL with a host")
	}
	if guard == nil {
		return nil, sentinel.Errorf(sentinel.EINVALID, "httpproxy: a Proxy needs a Middleware")
	}
	if opts.Transport == nil {
		opts.Transport = Limits{}.NewUpstream(UpstreamOptions{})
	}
	p := &Proxy{guard: guard, log: opts.Logger, clock: opts.Clock, ready: opts.Readiness}
	if p.clock == nil {
		p.clock = sentinel.SystemClock{}
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	target := *downstream
	clientHeaders := []string{"X-Real-Ip", "X-Forwarded-For", requestIDHeader}
	if h := guard.resolver.Header(); h != "X-Real-Ip" && h != "X-Forwarded-For" {
		clientHeaders = append(clientHeaders, h)
	}
	plain := plainTarget(&target)
	p.rewrite = func(pr *httputil.ProxyRequest) {
		setURL(pr, &target, plain)
		wholeBody(pr)
		if !opts.DownstreamHost {
			pr.Out.Host = pr.In.Host
		}
		// The Middleware set the client headers on the inbound request to
		// the client it decided on. forward dropped X-Forwarded-For from
		// the outbound one, and drops any header the client named in
		// Connection (say, X-Real-IP): set them all again.
		for _, h := range clientHeaders {
			if v := pr.In.Header[h]; len(v) > 0 {
				pr.Out.Header[h] = v
			}
		}
		// A trusted proxy in front (TLS terminated there) says what the
		// client used; anyone else's say is replaced by the connection's.
		trusted := guard.resolver.FromTrustedProxy(pr.In)
		if v := pr.In.Header["X-Forwarded-Host"]; trusted && len(v) > 0 {
			pr.Out.Header["X-Forwarded-Host"] = v[len(v)-1:]
		} else {
			pr.Out.Header["X-Forwarded-Host"] = []string{pr.In.Host}
		}
		switch v := pr.In.Header["X-Forwarded-Proto"]; {
		case trusted && len(v) > 0 && (v[len(v)-1] == "https" || v[len(v)-1] == "http"):
			pr.Out.Header["X-Forwarded-Proto"] = v[len(v)-1:]
		case pr.In.TLS != nil:
			pr.Out.Header["X-Forwarded-Proto"] = protoHTTPS
		default:
			pr.Out.Header["X-Forwarded-Proto"] = protoHTTP
		}
		restrictUpgrade(pr)
	}
	p.transport = opts.Transport
	p.fwd = http.HandlerFunc(p.forward)
	p.ids = newRequestIDs()
	if opts.AccessLog {
		p.logged = withAccessLog(p.log, guard.resolver, guard.Wrap(p.fwd))
	}
	return p, nil
}

// plainTarget reports whether a downstream URL has no path and no query
// of its own (setURL's).
func plainTarget(target *url.URL) bool {
	return target.Path == "" && target.RawPath == "" && target.RawQuery == ""
}

// setURL is pr.SetURL(target); plain is plainTarget(target). To such a
// target an absolute path goes as it is, and SetURL's joining of paths
// and queries is skipped.
func setURL(pr *httputil.ProxyRequest, target *url.URL, plain bool) {
	if u := pr.Out.URL; plain && u.RawPath == "" && strings.HasPrefix(u.Path, "/") {
		u.Scheme, u.Host, pr.Out.Host = target.Scheme, target.Host, ""
		return
	}
	pr.SetURL(target)
}

// bufferedBody is a request body that can hand over all of itself when
// it is in memory already (Server's request bodies: reqBody, and idleBody
// around one).
type bufferedBody interface {
	takeBuffered(max int64) ([]byte, bool)
}

// wholeBodyMax bounds the bodies taken whole: what fits in Server's 4 KiB
// reader beside a head.
const wholeBodyMax = 4 << 10

// wholeBody gives the outbound request a small body that came whole with
// its head (Server's) as an in-memory reader: net/http then writes head
// and body in one write instead of flushing the head first (one system
// call and one wake-up of the gateway fewer per small POST), and GetBody
// lets the request be sent again on a reused connection found closed, as
// a bodiless one is. Waits for nothing: the bytes are there.
func wholeBody(pr *httputil.ProxyRequest) {
	tb, ok := pr.In.Body.(bufferedBody)
	if !ok || pr.Out.ContentLength <= 0 || pr.Out.ContentLength > wholeBodyMax {
		return
	}
	b, ok := tb.takeBuffered(wholeBodyMax)
	if !ok {
		return
	}
	pr.Out.Body = io.NopCloser(bytes.NewReader(b))
	pr.Out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

var (
	protoHTTP  = []string{"http"}
	protoHTTPS = []string{"https"}
)

// ServeHTTP implements http.Handler.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/health" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			w.Write(healthBody)
		}
		return
	}
	if r.URL.Path == "/ready" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		p.ready.ServeHTTP(w, r)
		return
	}
	p.enter()
	defer p.leave()
	p.ids.assign(p.guard.resolver, w, r)
	if sr := serverResponse(w); sr != nil {
		sr.proxied = true // a chunked answer may skip the writers below (direct.go)
	}
	if p.logged != nil {
		p.logged.ServeHTTP(w, r)
	} else {
		p.guard.serve(w, r, p.fwd)
	}
}

func (p *Proxy) enter() { p.inflight.Add(1) }

func (p *Proxy) leave() {
	// Drain adds to waiting before it reads inflight, and this reads
	// waiting after its decrement: one of the two sees the other. The
	// count is read again under the lock: a request that came in since
	// (and that a Drain may have seen in flight) closes idle when it
	// leaves, not this one.
	if p.inflight.Add(-1) == 0 {
		if p.testHookLeft != nil {
			p.testHookLeft()
		}
		if p.waiting.Load() > 0 {
			p.mu.Lock()
			if p.idle != nil && p.inflight.Load() == 0 {
				close(p.idle)
				p.idle = nil
			}
			p.mu.Unlock()
		}
	}
}

// Drain waits until every request in flight has finished, WebSocket
// sessions included (http.Server.Shutdown does not wait for those), or
// until ctx is done.
func (p *Proxy) Drain(ctx context.Context) error {
	p.mu.Lock()
	if p.idle == nil {
		p.idle = make(chan struct{})
	}
	idle := p.idle
	p.mu.Unlock()
	p.waiting.Add(1)
	defer p.waiting.Add(-1)
	if p.inflight.Load() == 0 {
		return nil
	}
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var healthBody = []byte(`{"status":"ok"}` + "\n")

func (p *Proxy) downstreamError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return // the client went away; there is nobody to answer
	}
	// A *url.Error quotes the whole URL, whose query may hold the key
	// (?key=…): log only what went wrong and the path.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, ErrUpgradeRefused) {
		p.log.Warn("refused a protocol switch without a valid WebSocket handshake", "path", r.URL.Path)
		writeBadUpgrade(w)
		return
	}
	p.errsSince.Add(1)
	now := p.clock.Now().UnixNano()
	if last := p.lastErrLog.Load(); now-last > int64(10*time.Second) && p.lastErrLog.CompareAndSwap(last, now) {
		p.log.Warn("downstream request failed", "method", r.Method, "path", r.URL.Path, "err", err,
			"failures_since_last_log", p.errsSince.Swap(0), "request_id", RequestIDFrom(r))
	}
	writeError(w, http.StatusBadGateway, CodeDownstreamUnavailable,
		"The API gateway behind Sentinel is not reachable; try again shortly.")
}

// copyBuffers lend the body copies their 32 KiB buffers (lendCopyBuffer,
// giveBackCopyBuffer); copyBuffersOut counts those lent, for the tests.
const copyBufferSize = 32 << 10

var (
	copyBuffers    = sync.Pool{New: func() any { return new([copyBufferSize]byte) }}
	copyBuffersOut atomic.Int64
)

func lendCopyBuffer() *[copyBufferSize]byte {
	copyBuffersOut.Add(1)
	return copyBuffers.Get().(*[copyBufferSize]byte)
}

func giveBackCopyBuffer(b *[copyBufferSize]byte) {
	copyBuffers.Put(b)
	copyBuffersOut.Add(-1)
}
