package httpproxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sentinel "github.com/keyipsentinel/sentinel"
)

// Server serves an http.Handler over HTTP/1.1 on plain TCP connections:
// the proxy listener of the Sentinel binaries (docs/performance.md says
// why it is not net/http's). It runs one goroutine per connection and
// nothing else per connection or request: no background-read goroutine
// (a client that hangs up during a long answer is seen by one epoll
// watcher shared by the process, on Linux), no buffers held while an
// answer streams (the connection's reader and writer are pooled and taken
// only while bytes are read or written), and no per-request objects but
// the http.Request, its context and its body's wrapper (the response
// writer is the connection's).
//
// What handlers see is the net/http contract: http.ResponseWriter with
// Flush, Hijack (WebSocket upgrades), 1xx answers, trailers and read and
// write deadlines (http.ResponseController), request bodies streamed
// (Expect: 100-continue answered on the first read), full duplex, a
// request context cancelled when the client goes away, and
// http.ErrAbortHandler ending the connection without a clean end of the
// answer, as httputil.ReverseProxy expects.
type Server struct {
	handler http.Handler
	limits  Limits
	log     *slog.Logger
	base    context.Context

	mu        sync.Mutex
	listeners map[*net.Listener]struct{}
	conns     map[*serverConn]struct{}
	closing   atomic.Bool
}

// NewServer returns a Server for h under l (MaxHeaderBytes,
// ReadHeaderTimeout, IdleTimeout, and BodyIdleTimeout on every request
// body, as Apply gives an http.Server). Wrap the listener with l.Listener
// for the connection caps. log receives handler panics; nil discards.
func (l Limits) NewServer(h http.Handler, log *slog.Logger) *Server {
	l = l.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{handler: bodyIdleHandler(h, l.BodyIdleTimeout), limits: l, log: log,
		listeners: map[*net.Listener]struct{}{}, conns: map[*serverConn]struct{}{}}
	// The Proxy's forward, like httputil.ReverseProxy, aborts an answer it
	// cannot finish (the downstream cut it) with
	// panic(http.ErrAbortHandler) only when it finds a server in the
	// context; otherwise it returns, and the client would get a cut answer
	// that looks complete.
	s.base = context.WithValue(context.Background(), http.ServerContextKey, &http.Server{})
	return s
}

// Serve accepts connections on ln until Shutdown or Close, and returns
// http.ErrServerClosed then.
func (s *Server) Serve(ln net.Listener) error {
	if !s.track(&ln, true) {
		return http.ErrServerClosed
	}
	defer s.track(&ln, false)
	var delay time.Duration
	for {
		rwc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return http.ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				// Out of file descriptors and the like: wait, as net/http does.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn("proxy listener: accept failed; retrying", "err", err, "retry_in", delay)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		c := &serverConn{srv: s, rwc: withRawIO(rwc), accepted: time.Now()}
		s.mu.Lock()
		if s.closing.Load() {
			s.mu.Unlock()
			rwc.Close()
			return http.ErrServerClosed
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		go c.serve()
	}
}

func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

func (s *Server) track(ln *net.Listener, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.closing.Load() {
			return false
		}
		s.listeners[ln] = struct{}{}
	} else {
		delete(s.listeners, ln)
	}
	return true
}

func (s *Server) forget(c *serverConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// closeListenersLocked stops accepting; s.mu is held.
func (s *Server) closeListenersLocked() {
	s.closing.Store(true)
	for ln := range s.listeners {
		(*ln).Close()
		delete(s.listeners, ln)
	}
}

// Shutdown stops accepting, closes idle connections, and waits until the
// requests in flight are answered (their connections close then) or ctx
// is done. Hijacked connections (WebSockets) are not waited for: Proxy.Drain
// does that.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closeListenersLocked()
	s.mu.Unlock()
	tick := time.NewTimer(time.Millisecond)
	defer tick.Stop()
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		if s.closeIdle() {
			return nil
		}
		tick.Reset(wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// closeIdle closes the connections waiting for a request and reports
// whether none is left.
func (s *Server) closeIdle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if st := c.state.Load(); st == connIdle || st == connNew && time.Since(c.accepted) > newConnGrace {
			c.rwc.Close()
			delete(s.conns, c)
		}
	}
	return len(s.conns) == 0
}

// Close stops accepting and closes every connection at once.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeListenersLocked()
	for c := range s.conns {
		c.rwc.Close()
		delete(s.conns, c)
	}
	return nil
}

const (
	connNew    = iota // accepted, its first request not begun
	connIdle          // between requests
	connActive        // reading a request or answering it
)

// newConnGrace is how long Shutdown leaves a new connection alone for its
// first request (net/http's figure): clients do not retry a request that
// fails on a fresh connection.
const newConnGrace = 5 * time.Second

// maxDiscard is the most of a request body left unread by the handler
// that is read and thrown away to keep the connection (net/http's figure).
const maxDiscard = 256 << 10

type serverConn struct {
	srv      *Server
	rwc      net.Conn
	remote   string
	accepted time.Time
	state    atomic.Int32
	// ctx is the connection's context (the local address in it, as
	// net/http sets); rctx is the current request's.
	ctx  context.Context
	rctx *requestContext
	// werr is the first write error: the answer is broken, the connection
	// is not reused, and every later write fails with it.
	werr error
	// wdSet is when the write stall deadline was last moved.
	wdSet time.Time
	// idleSet is when (monoNow) serveOne set the idle deadline that is
	// the read deadline now, zero when another is. Atomic: a body's reader
	// and a handler's ResponseController move the deadline too.
	idleSet atomic.Int64
	// answered: the last request read was answered (linger on close).
	answered bool
	// lr bounds what br may read of a request head.
	lr io.LimitedReader
	// mu guards br (the body's goroutine gives it back, Hijack takes it)
	// and the hang-up watch.
	mu    sync.Mutex
	br    *bufio.Reader
	watch hangupWatch
	// wmu orders a 100 Continue (written by whoever reads the body) before
	// the head of the answer.
	wmu sync.Mutex
	bw  *bufio.Writer
	res response
	// noBody stands for the body of a request without one.
	noBody reqBody
	// lastKey is the key the last request was decided on (Middleware.hash).
	lastKey connKey
	// peer is the address remote names, parsed once (remotePeer), and
	// peerText its text as the client headers carry it, made on first use.
	peer     netip.Addr
	peerText string
}

var (
	serverReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4<<10) }}
	serverWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4<<10) }}
)

// reader returns the connection's reader, taking one from the pool.
func (c *serverConn) reader() *bufio.Reader {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.br == nil {
		c.br = serverReaders.Get().(*bufio.Reader)
		c.br.Reset(&c.lr)
	}
	return c.br
}

// releaseReader gives the reader back when it holds nothing unread: an
// answer that streams for minutes keeps no 4 KiB reader of its client.
func (c *serverConn) releaseReader() {
	c.mu.Lock()
	if c.br != nil && c.br.Buffered() == 0 {
		c.br.Reset(nil)
		serverReaders.Put(c.br)
		c.br = nil
	}
	c.mu.Unlock()
}

// writeStallTimeout is the longest one write to the client may wait for
// it to read: a client that stops reading a streamed answer would
// otherwise hold its goroutine and a downstream connection for as long as
// the stream lasts. A var for the tests.
var writeStallTimeout = time.Minute

// setReadDeadline sets the connection's read deadline, which is then not
// serveOne's idle deadline any more.
func (c *serverConn) setReadDeadline(t time.Time) error {
	c.idleSet.Store(0)
	return c.rwc.SetReadDeadline(t)
}

// idleSlack is how much earlier than wait after the last request an
// idle connection may be closed: the idle deadline is moved at most once
// per slack (a poller timer update per request was 1 % of a small
// request's CPU), a sixteenth of the wait and at most a second.
func idleSlack(wait time.Duration) time.Duration { return min(wait/16, time.Second) }

// writer returns the connection's writer, taking one from the pool, and
// gives the coming write writeStallTimeout to make progress (unless the
// handler set a write deadline itself).
func (c *serverConn) writer() *bufio.Writer {
	if !c.res.ownWriteDeadline {
		// Moved at most once a second: a poller deadline change is not
		// free, and a stall is then cut after 59 to 60 s.
		// (time.Since reads only the monotonic clock: half a time.Now.)
		if time.Since(c.wdSet) > time.Second {
			now := time.Now()
			c.wdSet = now
			_ = c.rwc.SetWriteDeadline(now.Add(writeStallTimeout))
		}
	}
	if c.bw == nil {
		c.bw = serverWriters.Get().(*bufio.Writer)
		c.bw.Reset(c.rwc)
	}
	return c.bw
}

// flush writes what is buffered and gives the writer back.
func (c *serverConn) flush() error {
	if c.bw == nil {
		return c.werr
	}
	err := c.bw.Flush()
	c.bw.Reset(nil)
	serverWriters.Put(c.bw)
	c.bw = nil
	if err != nil {
		c.failed(err)
	}
	return c.werr
}

// failed records the first write error and cancels the request: the
// client will not get the rest, so nobody should produce it.
func (c *serverConn) failed(err error) {
	if c.werr == nil {
		c.werr = err
		if c.rctx != nil {
			c.rctx.cancel()
		}
	}
}

func (c *serverConn) close() {
	c.mu.Lock()
	if c.br != nil {
		c.br.Reset(nil)
		serverReaders.Put(c.br)
		c.br = nil
	}
	c.mu.Unlock()
	if c.bw != nil {
		c.bw.Reset(nil)
		serverWriters.Put(c.bw)
		c.bw = nil
	}
	c.rwc.Close()
	c.srv.forget(c)
}

func (c *serverConn) serve() {
	ra := c.rwc.RemoteAddr()
	c.remote = ra.String()
	if ta, ok := ra.(*net.TCPAddr); ok {
		c.peer = sentinel.NormalizeAddr(ta.AddrPort().Addr())
	}
	c.lr.R = c.rwc
	c.ctx = context.WithValue(context.WithValue(c.srv.base, http.LocalAddrContextKey, c.rwc.LocalAddr()), serverConnKey{}, c)
	defer func() {
		if v := recover(); v != nil { // a fault of the server's own: this connection only
			c.srv.log.Error("proxy connection failed; closed", "panic", fmt.Sprint(v))
			c.watch.disarm()
			if c.rctx != nil {
				c.rctx.cancel()
			}
			c.rwc.Close()
			c.srv.forget(c)
		}
	}()
	for n := 0; ; n++ {
		keep, hijacked := c.serveOne(n)
		if hijacked {
			return
		}
		if !keep || c.srv.closing.Load() {
			if c.answered {
				c.linger()
			}
			c.close()
			return
		}
	}
}

// innerConn is the connection under c's wrappers (limitConn): the socket.
func innerConn(c net.Conn) net.Conn {
	for {
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return c
		}
		c = u.NetConn()
	}
}

// lingerTime bounds linger.
const lingerTime = 500 * time.Millisecond

// linger ends a connection the server closes after an answer while the
// client may still be sending (a refused request, a body left unread):
// closing a socket with unread input resets it, and a reset can destroy
// the answer before the client reads it. So, as net/http does, the
// sending side is shut first and what arrives is read and dropped until
// the client closes, for at most lingerTime.
func (c *serverConn) linger() {
	cw, ok := innerConn(c.rwc).(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	_ = c.setReadDeadline(time.Now().Add(lingerTime))
	_, _ = io.CopyN(io.Discard, c.rwc, 1<<20)
}

// serveOne reads and answers one request; keep reports that the
// connection can carry another.
func (c *serverConn) serveOne(n int) (keep, hijacked bool) {
	lim := c.srv.limits
	wait := lim.ReadHeaderTimeout
	if n > 0 { // a new connection stays connNew until its first request
		wait = lim.IdleTimeout
		c.state.Store(connIdle)
	}
	c.answered = false
	if set := c.idleSet.Load(); n == 0 || set == 0 || monoNow()-time.Duration(set) > idleSlack(wait) {
		_ = c.setReadDeadline(time.Now().Add(wait))
		if n > 0 {
			c.idleSet.Store(max(1, int64(monoNow())))
		}
	} // else the idle deadline an earlier request set moments ago stands
	br := c.reader()
	c.lr.N = int64(lim.MaxHeaderBytes) + 4096 // net/http's slack for the request line
	if _, err := br.Peek(1); err != nil {
		return false, false
	}
	if !c.activate() {
		return false, false
	}
	var headDeadline func()
	if n > 0 {
		// Only when the head is not whole in the reader already.
		headDeadline = func() { _ = c.setReadDeadline(time.Now().Add(lim.ReadHeaderTimeout)) }
	}
	req, rctx, named, err := readRequest(br, c.ctx, headDeadline)
	headLeft := c.lr.N
	c.lr.N = 1<<63 - 1
	if err != nil {
		c.answered = c.badRequest(err, headLeft <= 0)
		return false, false
	}
	if code, msg := checkRequest(req, named); code != 0 {
		c.refuse(code, "bad_request", msg)
		c.answered = true
		return false, false
	}
	req.RemoteAddr = c.remote
	c.rctx = rctx
	w := &c.res
	w.reset(c, req)
	// One body per request: a reference kept past the handler (a
	// transport's goroutine may outlive it) reads nothing of the next. A
	// request without one uses the connection's placeholder, which no
	// handler sees.
	var body *reqBody
	if req.Body != nil && req.Body != http.NoBody {
		// The body is read without the head's deadline. (Without a body
		// nothing reads the connection until the next head, whose wait
		// sets its own deadline, or a Hijack, which clears it: the
		// head's stays, one deadline move less per request.)
		_ = c.setReadDeadline(time.Time{})
		body = &reqBody{c: c, src: req.Body, length: -1}
		if len(req.TransferEncoding) == 0 {
			body.length = req.ContentLength
		}
		body.expect = req.ProtoAtLeast(1, 1) && strings.EqualFold(firstValue(req.Header["Expect"]), "100-continue")
		req.Body = body
	} else {
		body = &c.noBody
		body.c, body.eof = c, true
		body.closed.Store(false)
		c.releaseReader()
	}
	w.body = body
	c.watch.arm(c, rctx)
	ok := c.handle(w, req)
	hijacked = w.hijacked
	c.watch.disarm()
	if !hijacked {
		if ok {
			ok = w.finish() == nil
		}
		// A read of the body still in flight on another goroutine (a
		// transport's, after its answer came) must end before the
		// connection's reader is used or pooled again: a deadline in the
		// past ends it, as net/http's abortPendingRead does, and the
		// connection is not reused. It still lingers: the answer is out.
		inFlight := !body.mu.TryLock()
		if inFlight {
			_ = c.setReadDeadline(aLongTimeAgo)
			body.mu.Lock()
		}
		body.closed.Store(true)
		keep = ok && !inFlight && !w.closeAfter && c.finishBody(w)
		body.mu.Unlock()
		c.answered = ok
	}
	rctx.cancel()
	c.rctx = nil
	w.req, w.body = nil, nil
	clear(w.header)
	return keep, hijacked
}

// activate marks the connection busy: a request whose first byte has
// come is answered even while the server shuts down (then with
// Connection: close), as net/http does. It is false when Shutdown closed
// the connection first.
func (c *serverConn) activate() bool {
	c.srv.mu.Lock()
	defer c.srv.mu.Unlock()
	if _, ok := c.srv.conns[c]; !ok {
		return false
	}
	c.state.Store(connActive)
	return true
}

// handle runs the handler; false means the connection is done for (a
// panic, http.ErrAbortHandler included).
func (c *serverConn) handle(w *response, req *http.Request) (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			ok = false
			if v != http.ErrAbortHandler {
				buf := make([]byte, 16<<10)
				buf = buf[:runtime.Stack(buf, false)]
				c.srv.log.Error("proxy handler panicked; connection closed", "panic", fmt.Sprint(v),
					"path", req.URL.Path, "stack", string(buf))
			}
			if !w.hijacked {
				_ = c.flush() // what was answered goes out; the connection then closes mid-answer
			}
		}
	}()
	c.srv.handler.ServeHTTP(w, req)
	return true
}

// finishBody reads what the handler left of the request body, up to
// maxDiscard and within the body idle timeout, so the connection can carry
// the next request; false when it cannot. The body's mu is held.
func (c *serverConn) finishBody(w *response) bool {
	b := w.body
	switch {
	case b.eof:
		return true
	case b.expect && !b.sentContinue.Load():
		return false // the client still waits to send it
	case w.req.ContentLength > maxDiscard:
		return false // too much to read for nothing
	}
	_ = c.setReadDeadline(time.Now().Add(c.srv.limits.BodyIdleTimeout))
	n, err := io.CopyN(io.Discard, b.src, maxDiscard+1)
	_ = c.setReadDeadline(time.Time{})
	b.eof = errors.Is(err, io.EOF)
	return n <= maxDiscard && b.eof
}

// badRequest answers a request that could not be read, as net/http does
// but in the JSON error shape and without quoting it, and reports whether
// it answered.
func (c *serverConn) badRequest(err error, headTooLarge bool) bool {
	var ne net.Error
	switch {
	case headTooLarge:
		c.refuse(http.StatusRequestHeaderFieldsTooLarge, CodeHeaderTooLarge, "The request headers are too large.")
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.As(err, &ne), errors.Is(err, os.ErrDeadlineExceeded):
		return false // the client went away or stalled: nobody to answer
	case strings.Contains(err.Error(), "unsupported transfer encoding"):
		c.refuse(http.StatusNotImplemented, "unsupported_transfer_encoding", "The request's Transfer-Encoding is not supported; use chunked or a Content-Length.")
	default:
		c.refuse(http.StatusBadRequest, "bad_request", "The request is not valid HTTP/1.1.")
	}
	return true
}

// checkRequest returns what net/http's server refuses in a request that
// parsed; named tells that its header's names are known to be tokens.
func checkRequest(req *http.Request, named bool) (int, string) {
	switch {
	case req.ProtoMajor != 1:
		return http.StatusHTTPVersionNotSupported, "Only HTTP/1.0 and HTTP/1.1 are served here."
	case req.ProtoAtLeast(1, 1) && req.Host == "" && req.Method != http.MethodConnect:
		return http.StatusBadRequest, "The request has no Host header."
	case !validHost(req.Host):
		return http.StatusBadRequest, "The request's Host header is not valid."
	}
	if !named {
		for k := range req.Header {
			if !validFieldName(k) {
				// "Transfer-Encoding : chunked" must not pass as some
				// other header (RFC 9112 5.1): smuggling.
				return http.StatusBadRequest, "The request has a header whose name is not valid."
			}
		}
	}
	if e := firstValue(req.Header["Expect"]); e != "" && !strings.EqualFold(e, "100-continue") {
		return http.StatusExpectationFailed, "Only the 100-continue expectation is supported."
	}
	return 0, ""
}

// validHost accepts what RFC 3986 allows in a host and port (and what
// net/http lets through for compatibility), nothing that could split a
// line or a header.
func validHost(h string) bool {
	for i := 0; i < len(h); i++ {
		if b := h[i]; b <= ' ' || b >= 0x7f || b == '"' || b == '<' || b == '>' || b == '\\' || b == '^' || b == '`' || b == '{' || b == '|' || b == '}' {
			return false
		}
	}
	return true
}

// refuse writes an error answer on a connection that then closes.
func (c *serverConn) refuse(status int, code, message string) {
	_ = c.rwc.SetWriteDeadline(time.Now().Add(connRefusalDeadline))
	_, _ = c.rwc.Write(closingAnswer(status, code, message, ""))
}

// reqBody is the request body the handler reads: it sends 100 Continue on
// the first read when the client asked for it, and gives the connection's
// reader back once the body is over. It may be read on another goroutine
// than the handler's (Upstream writes long bodies from one) while the
// answer is written: the connection is full duplex. mu is held across a
// read, so that the server, after the handler, can wait for a read still
// in flight before it touches the connection's reader again. Close does
// not wait: it only stops later reads.
//
// With idle set (Limits.BodyIdleTimeout through bodyIdleHandler), every
// read must make progress within it: the deadline is set and cleared
// under mu, so a read made after the handler returned can never change
// the deadline of the connection's next request.
type reqBody struct {
	c            *serverConn
	src          io.ReadCloser
	expect       bool
	sentContinue atomic.Bool
	closed       atomic.Bool
	mu           sync.Mutex
	eof          bool
	idle         time.Duration
	timedOut     bool
	// length is the declared Content-Length (-1 for a chunked body);
	// started: a read was made.
	length  int64
	started bool
}

// aLongTimeAgo is a read deadline that ends a read at once.
var aLongTimeAgo = time.Unix(1, 0)

var continueLine = []byte("HTTP/1.1 100 Continue\r\n\r\n")

func (b *reqBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed.Load() {
		return 0, http.ErrBodyReadAfterClose
	}
	if b.eof {
		return 0, io.EOF
	}
	if b.timedOut {
		return 0, os.ErrDeadlineExceeded
	}
	b.started = true
	if b.expect && !b.sentContinue.Load() {
		if err := b.sendContinue(); err != nil {
			return 0, err
		}
	}
	if b.idle > 0 {
		if err := b.c.setReadDeadline(time.Now().Add(b.idle)); err != nil {
			return 0, err
		}
	}
	n, err := b.src.Read(p)
	if err != nil {
		b.timedOut = errors.Is(err, os.ErrDeadlineExceeded)
		if b.idle > 0 && !b.timedOut {
			_ = b.c.setReadDeadline(time.Time{}) // the body is over: a long answer is not cut
		}
	}
	if err == io.EOF {
		b.eof = true
		b.c.releaseReader()
	}
	return n, err
}

// takeBuffered returns the whole body, at most max bytes, when all of it
// is in the connection's reader already and none of it was read: taking
// it waits for nothing (no deadline is set) and leaves the body at its
// end. Upstream sends such a body with the request's head in one write,
// and can send it again on a connection found closed.
func (b *reqBody) takeBuffered(max int64) ([]byte, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := b.length
	if n <= 0 || n > max || b.started || b.eof || b.timedOut || b.closed.Load() || (b.expect && !b.sentContinue.Load()) {
		return nil, false
	}
	c := b.c
	c.mu.Lock()
	avail := 0
	if c.br != nil {
		avail = c.br.Buffered()
	}
	c.mu.Unlock()
	if int64(avail) < n {
		return nil, false
	}
	b.started = true
	buf := make([]byte, n)
	_, err := io.ReadFull(b.src, buf)
	if err == nil {
		// The body's reader is at its limit: this read ends it at once.
		var one [1]byte
		if _, err = b.src.Read(one[:]); err == io.EOF {
			err = nil
		} else if err == nil {
			err = errors.New("httpproxy: request body longer than its Content-Length")
		}
	}
	if err != nil {
		b.timedOut = true // (never expected: the bytes were there) the connection is not reused
		return nil, false
	}
	b.eof = true
	c.releaseReader()
	return buf, true
}

// setIdle makes every later read make progress within idle.
func (b *reqBody) setIdle(idle time.Duration) {
	b.mu.Lock()
	b.idle = idle
	b.mu.Unlock()
}

// sendContinue tells the client to send the body, unless the answer has
// started (then it is too late: the client reads the answer instead).
func (b *reqBody) sendContinue() error {
	c := b.c
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if b.sentContinue.Load() {
		return nil
	}
	b.sentContinue.Store(true)
	if c.res.committed || c.res.hijacked {
		return nil
	}
	_, err := c.rwc.Write(continueLine)
	return err
}

// Close stops the handler's reading; the server reads what is left (or
// closes the connection) after the answer.
func (b *reqBody) Close() error {
	b.closed.Store(true)
	return nil
}

// response is the http.ResponseWriter of one request; one per connection,
// reused.
type response struct {
	c           *serverConn
	req         *http.Request
	header      http.Header
	body        *reqBody
	status      int
	wroteHeader bool // the final status is set
	committed   bool // the head is written
	chunked     bool
	bodyless    bool  // HEAD, 204, 304: body bytes are dropped
	declared    int64 // the Content-Length the handler set, or -1
	written     int64
	closeAfter  bool
	hijacked    bool
	// ownWriteDeadline: the handler set one (ResponseController); the
	// stall timeout then stays out of its way.
	ownWriteDeadline bool
	// proxied: the Proxy answers this request, so the body of a chunked
	// answer may be copied to it directly (direct.go); streamed counts
	// what was.
	proxied  bool
	streamed int64
	// fmu orders a flush from another goroutine (a handler's; with
	// httputil.ReverseProxy, its first, from a timer) with the pieces of
	// a direct copy.
	fmu      sync.Mutex
	trailers []string
	scratch  [20]byte
	// raw: the downstream answer's fields, to be sent after header's as
	// they came (adoptRaw); parsed into header the moment anything asks
	// for the Header.
	raw rawHead
}

func (w *response) reset(c *serverConn, req *http.Request) {
	if w.header == nil {
		w.header = make(http.Header, 8)
	}
	w.c, w.req, w.status, w.declared, w.written = c, req, 0, -1, 0
	w.wroteHeader, w.committed, w.chunked, w.bodyless, w.closeAfter, w.hijacked = false, false, false, false, false, false
	w.ownWriteDeadline, w.proxied, w.streamed = false, false, 0
	w.trailers = w.trailers[:0]
	w.raw = rawHead{}
}

// Header is the answer's header; fields adopted raw are in it from the
// first call on, as adoptHeader would have put them.
func (w *response) Header() http.Header {
	if w.raw.ok {
		w.raw.ok = false
		w.adoptHeader(w.raw.header())
	}
	return w.header
}

// adoptRaw makes raw, a downstream answer's fields read without a map,
// the answer's fields after those the handlers set so far (the request
// id), as adoptHeader does h's; false, having done nothing, if the
// handlers set one of the fields the Server reads the framing or the
// Date from, or the head is out. The fields are parsed only if something
// asks for the Header before the head is written.
func (w *response) adoptRaw(raw *rawHead) bool {
	if w.wroteHeader || w.committed {
		return false
	}
	if _, only := onlyRequestID(w.header); !only {
		for k := range w.header {
			if fieldOf(k) != 0 {
				return false
			}
		}
	}
	w.raw = *raw
	return true
}

// adoptHeader makes h, a downstream answer's header that nothing else
// holds, the answer's header, with what the handlers set so far (the
// request id) put in first, as copying h into it would: one copy of the
// answer's header less per request. It returns h.
func (w *response) adoptHeader(h http.Header) http.Header {
	for k, vv := range w.header {
		if down, ok := h[k]; ok {
			h[k] = append(vv[:len(vv):len(vv)], down...)
		} else {
			h[k] = vv
		}
	}
	w.header = h
	return h
}

func (w *response) WriteHeader(code int) {
	if w.hijacked || w.wroteHeader {
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		w.write1xx(code)
		return
	}
	w.wroteHeader, w.status = true, code
}

// write1xx sends an informational answer (103 Early Hints, a 100 the
// handler sends itself) with the headers set so far, as net/http does.
func (w *response) write1xx(code int) {
	if w.committed || !w.req.ProtoAtLeast(1, 1) {
		return
	}
	c := w.c
	c.wmu.Lock()
	defer c.wmu.Unlock()
	bw := c.writer()
	writeStatusLine(bw, code)
	writeHeaders(bw, w.header)
	bw.WriteString("\r\n")
	_ = c.flush()
	if code == http.StatusContinue && w.body != nil {
		w.body.sentContinue.Store(true)
	}
}

func (w *response) Write(p []byte) (int, error) {
	if w.hijacked {
		return 0, http.ErrHijacked
	}
	if err := w.c.werr; err != nil {
		return 0, err
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(false)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if w.bodyless {
		if w.status == http.StatusNoContent || w.status == http.StatusNotModified {
			return 0, http.ErrBodyNotAllowed
		}
		return len(p), nil
	}
	if w.declared >= 0 && w.written+int64(len(p)) > w.declared {
		return 0, http.ErrContentLength
	}
	w.written += int64(len(p))
	bw := w.c.writer()
	var err error
	n := len(p)
	if w.chunked {
		bw.Write(strconv.AppendUint(w.scratch[:0], uint64(len(p)), 16))
		bw.WriteString("\r\n")
		bw.Write(p)
		_, err = bw.WriteString("\r\n")
	} else {
		n, err = bw.Write(p)
	}
	if err != nil {
		w.c.failed(err)
		return n, w.c.werr
	}
	return n, nil
}

// commit writes the head. final means the handler has returned: an answer
// with nothing written then gets Content-Length: 0 instead of chunks.
func (w *response) commit(final bool) {
	c := w.c
	c.wmu.Lock()
	w.committed = true
	c.wmu.Unlock()
	h := w.header
	req := w.req
	bodyAllowed := w.status >= 200 && w.status != http.StatusNoContent && w.status != http.StatusNotModified
	w.bodyless = !bodyAllowed || req.Method == http.MethodHead
	delete(h, "Transfer-Encoding")
	// The length is read from the head as it goes out, so the framing
	// written is the framing kept (never a length and chunks together).
	if w.raw.ok {
		w.declared = w.raw.n // (adoptRaw: h holds no Content-Length)
	} else if cl := h["Content-Length"]; len(cl) > 0 {
		if v, err := strconv.ParseInt(cl[0], 10, 64); err == nil && v >= 0 && len(cl) == 1 {
			w.declared = v
		} else {
			delete(h, "Content-Length")
		}
	}
	if v := h["Connection"]; len(v) > 0 && hasToken(v, "close") {
		w.closeAfter = true
	}
	if req.Close || c.srv.closing.Load() {
		w.closeAfter = true
	}
	if !bodyAllowed {
		delete(h, "Content-Length")
		w.declared = -1
	} else if w.declared < 0 && req.Method != http.MethodHead {
		switch {
		case final && w.written == 0 && len(h["Trailer"]) == 0:
			h["Content-Length"] = zeroLength
			w.declared = 0
		case req.ProtoAtLeast(1, 1):
			w.chunked = true
		default:
			w.closeAfter = true // HTTP/1.0: the end of the body is the end of the connection
		}
	}
	if w.chunked {
		for _, v := range h["Trailer"] {
			for _, k := range strings.Split(v, ",") {
				if k = http.CanonicalHeaderKey(strings.TrimSpace(k)); k != "" && allowedTrailer(k) {
					w.trailers = append(w.trailers, k)
				}
			}
		}
	} else {
		delete(h, "Trailer")
	}
	if _, ok := h["Date"]; !ok && !(w.raw.ok && w.raw.date) {
		h["Date"] = []string{httpDate()}
	}
	bw := c.writer()
	writeStatusLine(bw, w.status)
	writeHeaders(bw, h)
	if w.raw.ok {
		bw.WriteString(w.raw.lines)
		bw.WriteString("\r\n")
	}
	if w.chunked {
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	switch {
	case w.closeAfter && req.ProtoAtLeast(1, 1) && !hasToken(h["Connection"], "close"):
		bw.WriteString("Connection: close\r\n")
	case !w.closeAfter && !req.ProtoAtLeast(1, 1):
		bw.WriteString("Connection: keep-alive\r\n")
	}
	bw.WriteString("\r\n")
}

var zeroLength = []string{"0"}

// finish ends the answer after the handler returned: the head if it is
// not out, the last chunk and the trailers, and one flush.
func (w *response) finish() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(true)
	}
	if w.chunked {
		bw := w.c.writer()
		bw.WriteString("0\r\n")
		for _, k := range w.trailers {
			for _, v := range w.header[k] {
				writeHeaderLine(bw, k, v)
			}
		}
		for k, vv := range w.header {
			if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok && validFieldName(name) && allowedTrailer(http.CanonicalHeaderKey(name)) {
				for _, v := range vv {
					writeHeaderLine(bw, name, v)
				}
			}
		}
		bw.WriteString("\r\n")
	}
	if !w.bodyless && w.declared >= 0 && w.written != w.declared {
		w.closeAfter = true // a short answer: the client must not wait for the rest on this connection
	}
	return w.c.flush() // werr once any write failed: the connection is not reused
}

// Flush sends the head and what is written so far (http.Flusher).
func (w *response) Flush() { _ = w.FlushError() }

// FlushError is Flush returning the write's error (http.ResponseController).
func (w *response) FlushError() error {
	w.fmu.Lock()
	defer w.fmu.Unlock()
	return w.flushLocked()
}

func (w *response) flushLocked() error {
	if w.hijacked {
		return http.ErrHijacked
	}
	if err := w.c.werr; err != nil {
		return err
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(false)
	}
	return w.c.flush()
}

// Hijack hands the connection over (http.Hijacker): the WebSocket tunnel.
func (w *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.hijacked {
		return nil, nil, http.ErrHijacked
	}
	if w.committed {
		return nil, nil, errors.New("httpproxy: Hijack after the answer's head was written")
	}
	c := w.c
	c.wmu.Lock()
	w.hijacked = true
	c.wmu.Unlock()
	c.watch.disarm()
	c.mu.Lock()
	br := c.br // bytes read ahead stay in it; it is the hijacker's now
	c.br = nil
	c.mu.Unlock()
	if br == nil {
		br = bufio.NewReaderSize(c.rwc, 4<<10)
	}
	_ = c.rwc.SetDeadline(time.Time{})
	c.srv.forget(c)
	return c.rwc, bufio.NewReadWriter(br, bufio.NewWriterSize(c.rwc, 4<<10)), nil
}

// SetReadDeadline sets the connection's read deadline (http.ResponseController).
func (w *response) SetReadDeadline(t time.Time) error { return w.c.setReadDeadline(t) }

// SetWriteDeadline sets the connection's write deadline (http.ResponseController).
func (w *response) SetWriteDeadline(t time.Time) error {
	w.ownWriteDeadline = true
	w.c.wdSet = time.Time{} // the stall deadline is set afresh after this request
	return w.c.rwc.SetWriteDeadline(t)
}

// EnableFullDuplex is a no-op: request bodies stay readable while the
// answer is written (http.ResponseController).
func (w *response) EnableFullDuplex() error { return nil }

func writeStatusLine(bw *bufio.Writer, code int) {
	if code >= 100 && code < len(statusLines) {
		bw.WriteString(statusLines[code])
		return
	}
	bw.WriteString(statusLine(code))
}

// statusLine is code's status line as http.Server writes it.
func statusLine(code int) string {
	text := http.StatusText(code)
	if text == "" {
		text = "status code " + strconv.Itoa(code)
	}
	return "HTTP/1.1 " + strconv.Itoa(code) + " " + text + "\r\n"
}

// statusLines are the status lines of the codes 100 to 599, made once.
var statusLines = func() (lines [600]string) {
	for code := 100; code < len(lines); code++ {
		lines[code] = statusLine(code)
	}
	return lines
}()

// onlyRequestID returns the values of h's request id where h holds that
// field and no other: the Proxy's answers' header before the downstream's
// fields, read then with one lookup instead of a walk of the map.
func onlyRequestID(h http.Header) (vv []string, only bool) {
	if len(h) != 1 {
		return nil, false
	}
	vv = h[requestIDHeader]
	return vv, len(vv) > 0
}

// writeHeaders writes h but the trailers (TrailerPrefix keys) and the
// names that are not tokens; a value's line breaks become spaces.
func writeHeaders(bw *bufio.Writer, h http.Header) {
	if vv, only := onlyRequestID(h); only {
		for _, v := range vv {
			writeHeaderLine(bw, requestIDHeader, v)
		}
		return
	}
	for k, vv := range h {
		if strings.HasPrefix(k, http.TrailerPrefix) || !validFieldName(k) {
			continue
		}
		for _, v := range vv {
			writeHeaderLine(bw, k, v)
		}
	}
}

func writeHeaderLine(bw *bufio.Writer, k, v string) {
	bw.WriteString(k)
	bw.WriteString(": ")
	if hasLineBreak(v) {
		v = strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ").Replace(v)
	}
	bw.WriteString(strings.TrimSpace(v))
	bw.WriteString("\r\n")
}

// hasLineBreak reports whether v holds a CR or an LF: two vectorized
// scans, where strings.ContainsAny walks v byte by byte.
func hasLineBreak(v string) bool {
	return strings.IndexByte(v, '\n') >= 0 || strings.IndexByte(v, '\r') >= 0
}

// allowedTrailer reports whether k may be sent as a trailer: not a field
// that frames, routes or authenticates the message (RFC 9110 6.5.1, as
// net/http filters them).
func allowedTrailer(k string) bool {
	switch k {
	case "Authorization", "Cache-Control", "Connection", "Content-Encoding", "Content-Length", "Content-Range",
		"Content-Type", "Expect", "Host", "Keep-Alive", "Max-Forwards", "Pragma", "Proxy-Authenticate",
		"Proxy-Authorization", "Proxy-Connection", "Range", "Realm", "Te", "Trailer", "Transfer-Encoding",
		"Www-Authenticate":
		return false
	}
	return true
}

// validFieldName reports whether k is an RFC 9110 token.
func validFieldName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if !tokenByte[k[i]] {
			return false
		}
	}
	return true
}

// tokenByte holds the bytes of an RFC 9110 token.
var tokenByte = func() (t [256]bool) {
	for b := '!'; b < 0x7f; b++ {
		t[b] = !strings.ContainsRune(`"(),/:;<=>?@[\]{}`, b)
	}
	return t
}()

// hasToken reports whether a comma-separated header holds tok.
func hasToken(vv []string, tok string) bool {
	for _, v := range vv {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), tok) {
				return true
			}
		}
	}
	return false
}

// httpDate is the Date header's value, formatted once a second.
func httpDate() string {
	if d := cachedDate.Load(); d != nil && time.Since(d.at) < d.left {
		return d.text // within the second it was formatted in (monotonic clock only)
	}
	now := time.Now()
	d := &dateText{at: now, left: time.Second - time.Duration(now.Nanosecond()), text: now.UTC().Format(http.TimeFormat)}
	cachedDate.Store(d)
	return d.text
}

type dateText struct {
	at   time.Time     // when text was formatted
	left time.Duration // from at to the end of its second
	text string
}

var cachedDate atomic.Pointer[dateText]

// firstValue is h.Get(k) for a canonical k: the first of vs, or "".
func firstValue(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}
