package httpproxy

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	sentinel "github.com/keyipsentinel/sentinel"
)

// Limits bound what clients can hold of a proxy: without them a body sent
// a byte a second keeps a downstream connection for ever, a few thousand
// such connections exhaust the downstream, and a megabyte of headers per
// request costs a megabyte of memory each. Zero fields take the defaults of
// DefaultLimits; use Apply, Listener and NewUpstream (or
// ConfigureTransport for an http.Transport of your own) to put them in
// force.
type Limits struct {
	// MaxHeaderBytes caps the request line and headers (http.Server
	// MaxHeaderBytes; Go answers 431 past it). Default 64 KiB: New API's
	// longest legitimate header is a JWT of a few hundred bytes.
	MaxHeaderBytes int
	// ReadHeaderTimeout is the time allowed to read the whole request
	// headers. Default 10 s.
	ReadHeaderTimeout time.Duration
	// BodyIdleTimeout is the longest wait for the next byte of a request
	// body; past it the body is cut, the downstream request aborted (its
	// connection released) and the client answered 408. Default 30 s: it
	// bounds the gap between reads, not the whole upload, so large slow
	// uploads that keep moving are unaffected.
	BodyIdleTimeout time.Duration
	// IdleTimeout closes a keep-alive connection idle between requests.
	// Default 120 s.
	IdleTimeout time.Duration
	// MaxConnsPerIP caps concurrent connections from one socket peer
	// address; peers in ExemptPeers (the trusted proxies, whose connections
	// carry many clients) are counted in MaxConns only. Default 256.
	MaxConnsPerIP int
	// MaxConns caps concurrent client connections in total. Default 16384.
	MaxConns int
	// MaxDownstreamConns caps connections to the downstream (Upstream
	// MaxConns, and http.Transport MaxConnsPerHost for https); requests
	// past it wait for one. Default 2048.
	MaxDownstreamConns int
	// ExemptPeers are not subject to MaxConnsPerIP.
	ExemptPeers []netip.Prefix
}

// DefaultLimits returns the limits used for zero fields.
func DefaultLimits() Limits {
	return Limits{
		MaxHeaderBytes:     64 << 10,
		ReadHeaderTimeout:  10 * time.Second,
		BodyIdleTimeout:    30 * time.Second,
		IdleTimeout:        120 * time.Second,
		MaxConnsPerIP:      256,
		MaxConns:           16384,
		MaxDownstreamConns: 2048,
	}
}

// withDefaults fills zero fields from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxHeaderBytes == 0 {
		l.MaxHeaderBytes = d.MaxHeaderBytes
	}
	if l.ReadHeaderTimeout == 0 {
		l.ReadHeaderTimeout = d.ReadHeaderTimeout
	}
	if l.BodyIdleTimeout == 0 {
		l.BodyIdleTimeout = d.BodyIdleTimeout
	}
	if l.IdleTimeout == 0 {
		l.IdleTimeout = d.IdleTimeout
	}
	if l.MaxConnsPerIP == 0 {
		l.MaxConnsPerIP = d.MaxConnsPerIP
	}
	if l.MaxConns == 0 {
		l.MaxConns = d.MaxConns
	}
	if l.MaxDownstreamConns == 0 {
		l.MaxDownstreamConns = d.MaxDownstreamConns
	}
	return l
}

// Validate returns EINVALID naming the first negative field.
func (l Limits) Validate() error {
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"MaxHeaderBytes", int64(l.MaxHeaderBytes)},
		{"ReadHeaderTimeout", int64(l.ReadHeaderTimeout)},
		{"BodyIdleTimeout", int64(l.BodyIdleTimeout)},
		{"IdleTimeout", int64(l.IdleTimeout)},
		{"MaxConnsPerIP", int64(l.MaxConnsPerIP)},
		{"MaxConns", int64(l.MaxConns)},
		{"MaxDownstreamConns", int64(l.MaxDownstreamConns)},
	} {
		if f.v < 0 {
			return sentinel.Errorf(sentinel.EINVALID, "httpproxy: limit %s must not be negative", f.name)
		}
	}
	return nil
}

// Apply sets srv's header size, header and idle timeouts, and wraps its
// Handler so that request bodies idle for longer than BodyIdleTimeout are
// cut with a 408. Call it before srv serves.
func (l Limits) Apply(srv *http.Server) {
	l = l.withDefaults()
	srv.MaxHeaderBytes = l.MaxHeaderBytes
	srv.ReadHeaderTimeout = l.ReadHeaderTimeout
	srv.IdleTimeout = l.IdleTimeout
	srv.Handler = bodyIdleHandler(srv.Handler, l.BodyIdleTimeout)
}

// ConfigureTransport caps t's connections to the downstream.
func (l Limits) ConfigureTransport(t *http.Transport) {
	t.MaxConnsPerHost = l.withDefaults().MaxDownstreamConns
}

// NewUpstream returns the Upstream the proxy reaches the downstream with,
// its connections capped at MaxDownstreamConns; opts.MaxConns is
// overridden. An https downstream goes through opts.HTTPS (default
// NewTransport()), which is capped the same way when it is an
// *http.Transport.
func (l Limits) NewUpstream(opts UpstreamOptions) *Upstream {
	opts.MaxConns = l.withDefaults().MaxDownstreamConns
	if opts.HTTPS == nil {
		opts.HTTPS = NewTransport()
	}
	if t, ok := opts.HTTPS.(*http.Transport); ok {
		l.ConfigureTransport(t)
	}
	return NewUpstream(opts)
}

// bodyIdleHandler gives every request body a per-read deadline. The
// deadline is the connection's (http.ResponseController.SetReadDeadline),
// set before each read, so a blocked read really returns; it is cleared
// when the body ends, so a long streamed answer after the body is not cut
// (net/http clears it too when it starts watching for the client going
// away; TestSteadyBodyAndLongAnswerPass holds both to it).
func bodyIdleHandler(next http.Handler, idle time.Duration) http.Handler {
	if next == nil {
		next = http.DefaultServeMux
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			next.ServeHTTP(w, r)
			return
		}
		var b *idleBody
		if rb, ok := r.Body.(*reqBody); ok {
			// Served by Server: the body keeps the deadline itself, under
			// its lock, so a read after the handler returned cannot touch
			// the next request's.
			rb.setIdle(idle)
			b = &idleBody{body: rb, own: true}
		} else {
			b = &idleBody{body: r.Body, rc: http.NewResponseController(w), idle: idle}
		}
		tw := &timeoutWriter{ResponseWriter: w, body: b}
		r.Body = b
		// No clearing after next returns: a body next left unread is then
		// drained by net/http, and that drain must stay bounded too.
		next.ServeHTTP(tw, r)
		if !tw.wrote && b.timedOut.Load() {
			// The handler gave up without answering (forward, like ReverseProxy, sees its
			// context cancelled as the connection's read fails, and says
			// nothing to a client it thinks is gone): answer the 408 here,
			// or net/http would send an empty 200.
			tw.WriteHeader(http.StatusRequestTimeout)
		}
	})
}

// idleBody is a request body whose every Read must make progress within
// idle.
type idleBody struct {
	body     io.ReadCloser
	own      bool // the body sets its deadlines itself (reqBody)
	rc       *http.ResponseController
	idle     time.Duration
	mu       sync.Mutex
	done     bool
	timedOut atomic.Bool
}

func (b *idleBody) Read(p []byte) (int, error) {
	if b.own {
		n, err := b.body.Read(p)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			b.timedOut.Store(true)
		}
		return n, err
	}
	b.mu.Lock()
	if !b.done {
		if err := b.rc.SetReadDeadline(time.Now().Add(b.idle)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			b.mu.Unlock()
			return 0, err
		}
	}
	b.mu.Unlock()
	n, err := b.body.Read(p)
	if err != nil { // io.EOF included
		if errors.Is(err, os.ErrDeadlineExceeded) {
			b.timedOut.Store(true)
		}
		b.clear()
	}
	return n, err
}

func (b *idleBody) Close() error { return b.body.Close() }

// takeBuffered is the Server body's (reqBody.takeBuffered), which keeps
// its deadlines itself; false for any other body.
func (b *idleBody) takeBuffered(max int64) ([]byte, bool) {
	if rb, ok := b.body.(*reqBody); ok && b.own {
		return rb.takeBuffered(max)
	}
	return nil, false
}

// clear lifts the deadline once the body is over: the server's own
// background read, which watches for the client going away during a long
// answer, must not time out. After a timeout the connection is done for.
func (b *idleBody) clear() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.done {
		b.done = true
		if !b.timedOut.Load() {
			_ = b.rc.SetReadDeadline(time.Time{})
		}
	}
}

// timeoutWriter answers 408 in the JSON error shape instead of whatever the
// handler answers after its body was cut (forward would say 502).
type timeoutWriter struct {
	http.ResponseWriter
	body    *idleBody
	wrote   bool
	replied bool
}

func (t *timeoutWriter) WriteHeader(code int) {
	if t.wrote {
		return
	}
	if code >= 200 || code == http.StatusSwitchingProtocols {
		t.wrote = true
	}
	if t.body.timedOut.Load() && code >= 200 {
		t.replied = true
		t.ResponseWriter.Header().Set("Connection", "close")
		writeError(t.ResponseWriter, http.StatusRequestTimeout, CodeBodyTimeout,
			"The request body stopped arriving; Sentinel closed the request.")
		return
	}
	t.ResponseWriter.WriteHeader(code)
}

func (t *timeoutWriter) Write(p []byte) (int, error) {
	if !t.wrote {
		t.WriteHeader(http.StatusOK)
	}
	if t.replied {
		return len(p), nil
	}
	return t.ResponseWriter.Write(p)
}

func (t *timeoutWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }

// Codes of the limit errors.
const (
	CodeBodyTimeout     = "request_body_timeout"
	CodeTooManyConns    = "too_many_connections"
	CodeHeaderTooLarge  = "request_header_too_large"
	connRefusalDeadline = time.Second
)

// Listener wraps ln so that at most MaxConns connections are open at once,
// and at most MaxConnsPerIP from one peer address outside ExemptPeers. A
// connection over a cap is answered a 503 in the JSON error shape (written
// as plain HTTP/1.1, so wrap the TCP listener of a plain-HTTP server; under
// TLS the bytes are not understood and the client sees a closed connection)
// and closed, without occupying the server.
func (l Limits) Listener(ln net.Listener) net.Listener {
	l = l.withDefaults()
	return &limitListener{Listener: ln, l: l, perIP: map[netip.Addr]int{}}
}

type limitListener struct {
	net.Listener
	l     Limits
	mu    sync.Mutex
	total int
	perIP map[netip.Addr]int
}

func (ll *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := ll.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := peerAddr(c)
		if reason, ok := ll.admit(addr); !ok {
			go refuseConn(c, reason)
			continue
		}
		return &limitConn{Conn: c, release: func() { ll.release(addr) }}, nil
	}
}

func peerAddr(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return sentinel.NormalizeAddr(ta.AddrPort().Addr())
	}
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return sentinel.NormalizeAddr(ap.Addr())
	}
	return netip.Addr{}
}

func (ll *limitListener) admit(a netip.Addr) (string, bool) {
	ll.mu.Lock()
	defer ll.mu.Unlock()
	if ll.total >= ll.l.MaxConns {
		return "Sentinel has too many open connections; try again shortly.", false
	}
	counted := a.IsValid() && !sentinel.ContainsAddr(ll.l.ExemptPeers, a)
	if counted && ll.perIP[a] >= ll.l.MaxConnsPerIP {
		return "Too many open connections from IP " + a.String() + "; close some and try again.", false
	}
	ll.total++
	if counted {
		ll.perIP[a]++
	}
	return "", true
}

func (ll *limitListener) release(a netip.Addr) {
	ll.mu.Lock()
	defer ll.mu.Unlock()
	ll.total--
	if n, ok := ll.perIP[a]; ok {
		if n <= 1 {
			delete(ll.perIP, a)
		} else {
			ll.perIP[a] = n - 1
		}
	}
}

// refuseConn answers a connection over a cap without reading its request.
func refuseConn(c net.Conn, message string) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(connRefusalDeadline))
	_, _ = c.Write(closingAnswer(http.StatusServiceUnavailable, CodeTooManyConns, message, "Retry-After: 5\r\n"))
}

// closingAnswer is a whole HTTP/1.1 answer in the JSON error shape, written
// straight to a connection that then closes (no handler to answer it);
// extra holds more header lines, each ending in CRLF.
func closingAnswer(status int, code, message, extra string) []byte {
	body, _ := json.Marshal(errorBody{Error: errorDetail{Message: message, Type: "sentinel_error", Code: code}})
	return append([]byte("HTTP/1.1 "+strconv.Itoa(status)+" "+http.StatusText(status)+
		"\r\nContent-Type: application/json; charset=utf-8\r\n"+extra+"Connection: close\r\nContent-Length: "+
		strconv.Itoa(len(body)+1)+"\r\n\r\n"), append(body, '\n')...)
}

// limitConn gives its slot back once, on the first Close.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

// netHTTP431 is what net/http writes, straight to the connection, when a
// request's headers exceed MaxHeaderBytes (before any handler runs).
const netHTTP431 = "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain; charset=utf-8\r\n" +
	"Connection: close\r\n\r\n431 Request Header Fields Too Large"

// Write answers net/http's plain-text 431 in the JSON error shape instead:
// it is the one answer no handler can shape, and clients of an API gateway
// expect JSON.
func (c *limitConn) Write(p []byte) (int, error) {
	if len(p) == len(netHTTP431) && string(p) == netHTTP431 {
		if _, err := c.Conn.Write(closingAnswer(http.StatusRequestHeaderFieldsTooLarge, CodeHeaderTooLarge,
			"The request headers are too large.", "")); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// NetConn returns the connection it wraps (the server's hang-up watch
// needs the socket).
func (c *limitConn) NetConn() net.Conn { return c.Conn }

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
