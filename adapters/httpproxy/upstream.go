package httpproxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// UpstreamOptions configure an Upstream; zero fields take defaults.
type UpstreamOptions struct {
	// DialTimeout bounds connecting to the downstream. Default 5s.
	DialTimeout time.Duration
	// MaxConns caps the connections open to the downstream, idle and busy
	// together. A request finding every one busy waits for a free one or
	// for its context. Default 4096.
	MaxConns int
	// MaxIdleConns caps the keep-alive connections kept idle. Default 512.
	MaxIdleConns int
	// IdleTimeout is how long an idle connection is kept. Default 90s.
	IdleTimeout time.Duration
	// ReadBufferSize is the size of the reader a busy connection borrows
	// to parse the response, and holds for as long as a streamed answer
	// is open. Default 1 KiB: a gateway's response heads fit, longer
	// header lines still parse, and body reads as large as the buffer go
	// straight to the caller's buffer, so it costs one more read only for
	// answers (head and body) of 1 to 2 KiB; every open stream holds 1 KiB
	// less than with 2 (docs/performance.md).
	ReadBufferSize int
	// MaxResponseHeaderBytes bounds the bytes read for one response head
	// (each 1xx head counts on its own), as in http.Transport. Default
	// 10 MiB.
	MaxResponseHeaderBytes int64
	// HTTPS carries https requests; default NewTransport(). Upstream
	// itself speaks plain HTTP/1.1 only.
	HTTPS http.RoundTripper
}

// Upstream is an HTTP/1.1 http.RoundTripper for a reverse proxy in front
// of one gateway. It keeps keep-alive connections in a pool like
// http.Transport, but runs no goroutine per connection: the request is
// written and the response read by the goroutine that calls RoundTrip and
// then reads the body. An open stream therefore costs the serving
// goroutine and its socket, not two more goroutines and their buffers;
// idle connections hold no buffers at all (readers and writers are pooled
// and borrowed only while a connection is busy).
//
// Parsing and writing are the standard library's (http.ReadResponse,
// http.Request.Write) but for the most common small exchanges, which
// readResponse and writeWhole handle with the same results for less.
// 1xx responses reach httptrace's Got1xxResponse, 101 answers return the
// connection itself as the io.ReadWriteCloser body (as http.Transport
// does, so forward's and httputil.ReverseProxy's upgrade handling work), and
// `Expect: 100-continue` bodies are sent without waiting for the 100.
// https requests go to UpstreamOptions.HTTPS.
type Upstream struct {
	opts   UpstreamOptions
	dialer net.Dialer
	slots  chan struct{} // one token per open connection
	// waiters counts RoundTrips blocked on slots: while any wait, a
	// connection that becomes free is closed so that its slot frees.
	waiters atomic.Int32

	mu   sync.Mutex
	idle map[string][]*upConn // by host:port, most recently used last

	readers sync.Pool
	writers sync.Pool
	// readersOut counts the readers borrowed from readers, for the tests.
	readersOut atomic.Int64
}

var _ http.RoundTripper = (*Upstream)(nil)

// NewUpstream returns an Upstream with opts.
func NewUpstream(opts UpstreamOptions) *Upstream {
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 5 * time.Second
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = 4096
	}
	if opts.MaxIdleConns <= 0 {
		opts.MaxIdleConns = 512
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 90 * time.Second
	}
	if opts.ReadBufferSize <= 0 {
		opts.ReadBufferSize = 1 << 10
	}
	if opts.MaxResponseHeaderBytes <= 0 {
		opts.MaxResponseHeaderBytes = 10 << 20
	}
	if opts.HTTPS == nil {
		opts.HTTPS = NewTransport()
	}
	u := &Upstream{
		opts:   opts,
		dialer: net.Dialer{Timeout: opts.DialTimeout, KeepAlive: 30 * time.Second},
		slots:  make(chan struct{}, opts.MaxConns),
		idle:   make(map[string][]*upConn),
	}
	size := opts.ReadBufferSize
	u.readers.New = func() any { return bufio.NewReaderSize(nil, size) }
	u.writers.New = func() any { return bufio.NewWriterSize(nil, 4<<10) }
	return u
}

// upConn is one connection to the downstream.
type upConn struct {
	u        *Upstream
	addr     string
	conn     net.Conn
	src      headLimiter    // what br reads from
	br       *bufio.Reader  // borrowed while busy
	shelved  bool           // br's buffer is back in the pool (shelveReader)
	held     heldWrite      // a request sent with the read of its answer
	mayHold  bool           // new, or idle under holdIdleMax (getConn)
	sender   nextReadSender // conn, when it can send with a read (Linux)
	idleAt   time.Duration  // monoNow when it was put idle
	released atomic.Bool
}

// close closes the connection and frees its slot, once.
func (c *upConn) close() {
	if c.released.CompareAndSwap(false, true) {
		c.conn.Close()
		if c.br != nil {
			c.u.putReader(c.br)
			c.br = nil
		}
		<-c.u.slots
	}
}

// maxInformational bounds the 1xx answers before the final one, as in
// net/http.
const maxInformational = 5

// errConnBroken marks a failure on a reused connection before anything of
// the response arrived: a request that can be replayed is sent again.
var errConnBroken = errors.New("httpproxy: reused connection closed by the downstream")

// RoundTrip implements http.RoundTripper.
func (u *Upstream) RoundTrip(req *http.Request) (*http.Response, error) {
	return u.roundTrip(req, nil)
}

// informer hears of the 1xx answers before the final one, before any
// httptrace of the request's context does.
type informer interface {
	got1xx(code int, header textproto.MIMEHeader) error
	// answerRaw is where the final answer's fields are to be read
	// without a header map (rawHead), or nil.
	answerRaw() *rawHead
}

func (u *Upstream) roundTrip(req *http.Request, info informer) (*http.Response, error) {
	switch req.URL.Scheme {
	case "https":
		return u.opts.HTTPS.RoundTrip(req)
	case "http":
	default:
		closeBody(req)
		return nil, fmt.Errorf("httpproxy: unsupported protocol scheme %q", req.URL.Scheme)
	}
	if req.URL.Host == "" {
		closeBody(req)
		return nil, errors.New("httpproxy: request has no host")
	}
	addr := req.URL.Host
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr = net.JoinHostPort(req.URL.Hostname(), "80")
	}
	ctx := req.Context()
	// A body is sent again only when it can be had again (GetBody: a
	// small body in memory, see wholeBody).
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	for attempt := 0; ; attempt++ {
		c, reused, err := u.getConn(ctx, addr, !replayable)
		if err != nil {
			closeBody(req)
			return nil, err
		}
		out := req
		if attempt > 0 && req.GetBody != nil {
			r := *req
			if r.Body, err = req.GetBody(); err != nil {
				c.close()
				return nil, err
			}
			out = &r
		}
		resp, err := u.exchange(ctx, c, out, reused, info)
		if err == nil {
			return resp, nil
		}
		c.close()
		if errors.Is(err, errConnBroken) && replayable && attempt == 0 && ctx.Err() == nil {
			continue // the downstream closed an idle connection as we reused it
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// exchange writes req on c and reads the response head. On error the
// caller closes c.
func (u *Upstream) exchange(ctx context.Context, c *upConn, req *http.Request, reused bool, info informer) (*http.Response, error) {
	// Cancellation closes the connection: whatever blocks on it returns.
	watch := watchCancel(ctx, c.conn)
	streamed := req.Body != nil && req.Body != http.NoBody && (req.ContentLength < 0 || req.ContentLength > 64<<10)
	var written chan error
	if streamed {
		// A body of unknown or large size is written by its own goroutine,
		// which ends with the body: the downstream may answer before it
		// has read all of it, and the answer must not wait for that.
		written = make(chan error, 1)
		go func() { written <- u.writeRequest(c, req, false) }()
	} else if err := u.writeRequest(c, req, true); err != nil {
		watch.stop()
		if reused {
			return nil, fmt.Errorf("%w: %v", errConnBroken, err)
		}
		return nil, err
	}

	c.br = u.getReader(&c.src)
	trace := httptrace.ContextClientTrace(ctx)
	// abandon ends the exchange on an error: a body writer still at work
	// must be done with the connection (and the request body) before
	// RoundTrip returns.
	abandon := func() {
		watch.stop()
		if written != nil {
			c.conn.Close()
			<-written
		}
	}
	var resp *http.Response
	var spare *upBody // room for the body made with the answer, if any
	var raw *rawHead
	if info != nil {
		raw = info.answerRaw()
	}
	for n := 0; ; n++ {
		var err error
		c.src.limit = u.opts.MaxResponseHeaderBytes
		resp, spare, err = readResponse(c.br, req, raw)
		if n == 0 {
			c.dropHeld()
		}
		// Not a byte of the answer came: the downstream closed the
		// connection before it saw the request.
		nothing := c.src.limit == u.opts.MaxResponseHeaderBytes
		c.src.limit = -1
		if err != nil {
			abandon()
			// (readResponse reports an EOF before the status line as
			// io.ErrUnexpectedEOF.)
			// A request sent with that read fails there, as a write.
			if reused && n == 0 && nothing && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
				errors.Is(err, syscall.ECONNRESET) || isWriteError(err)) {
				return nil, fmt.Errorf("%w: %v", errConnBroken, err)
			}
			return nil, err
		}
		code := resp.StatusCode
		if code < 100 || code > 199 || code == http.StatusSwitchingProtocols {
			break
		}
		if n >= maxInformational {
			abandon()
			return nil, errors.New("httpproxy: too many 1xx informational responses")
		}
		if info != nil {
			if err := info.got1xx(code, textproto.MIMEHeader(resp.Header)); err != nil {
				abandon()
				return nil, err
			}
		}
		if trace != nil && trace.Got1xxResponse != nil {
			if err := trace.Got1xxResponse(code, textproto.MIMEHeader(resp.Header)); err != nil {
				abandon()
				return nil, err
			}
		}
	}

	if resp.StatusCode == http.StatusSwitchingProtocols {
		// The connection now belongs to the upgraded protocol; it never
		// returns to the pool. Bytes already buffered are read first.
		watch.stop()
		resp.Body = &upgradedBody{c: c, br: c.br}
		c.br = nil // owned by the body from now on, never pooled again
		return resp, nil
	}
	keep := !resp.Close && !req.Close
	if resp.Body == http.NoBody {
		// Nothing to read (HEAD, 204, 304): the connection is free now.
		release(c, watch, written, keep)
		return resp, nil
	}
	b := spare
	if b == nil {
		b = new(upBody)
	}
	*b = upBody{c: c, ctx: ctx, body: resp.Body, watch: watch, written: written, keep: keep}
	if len(resp.TransferEncoding) == 1 && resp.TransferEncoding[0] == "chunked" {
		b.sink = directSink(ctx)
	}
	resp.Body = b
	return resp, nil
}

// writeRequest writes req on c through a borrowed writer. With
// readNext, a request that is whole once written (no body, or a small one
// in memory) and fits maxHeld is instead held and handed to the
// connection to send with the read of its answer (sendWithNextRead),
// which gives the bytes back once written. Only on a connection that
// cannot have heard from the downstream since its last answer (new, or
// idle under holdIdleMax; see mayHold).
func (u *Upstream) writeRequest(c *upConn, req *http.Request, readNext bool) error {
	bw := u.writers.Get().(*bufio.Writer)
	hold := c.sender != nil && readNext && c.mayHold && wholeOnceWritten(req)
	if hold {
		c.held.start(c.conn)
		bw.Reset(&c.held)
	} else {
		bw.Reset(c.conn)
	}
	wrote, err := writeWhole(bw, req)
	if !wrote {
		err = req.Write(bw)
	}
	if err == nil {
		err = bw.Flush()
	}
	bw.Reset(nil)
	u.writers.Put(bw)
	if hold {
		if err == nil && c.held.n > 0 {
			c.sender.sendWithNextRead(c.held.buf[:c.held.n], &c.held)
		} else {
			c.held.sent()
		}
	}
	return err
}

// isWriteError tells a failed write (of a request sent with a read).
func isWriteError(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "write"
}

// nextReadSender is a connection that can send bytes with its next Read
// (rawIOConn on Linux).
type nextReadSender interface {
	sendWithNextRead(p []byte, owner sendOwner)
}

// sendOwner is told when a send with the next read is done with its bytes.
type sendOwner interface{ sent() }

// dropHeld drops a send the connection did not make (the exchange ended
// before reading) and frees the buffer.
func (c *upConn) dropHeld() {
	if c.held.buf == nil {
		return
	}
	c.sender.sendWithNextRead(nil, nil) // (a held buffer means a sender)
	c.held.sent()
}

// wholeOnceWritten tells a request that waits for nothing once written:
// no body, or a small one in memory (wholeBody's).
func wholeOnceWritten(req *http.Request) bool {
	if req.Body == nil || req.Body == http.NoBody {
		return true
	}
	return req.GetBody != nil && req.ContentLength >= 0 && req.ContentLength <= wholeBodyMax
}

// maxHeld bounds what a connection holds to send with its next read;
// past it the request goes out as it is written.
const maxHeld = 8 << 10

var heldBufs = sync.Pool{New: func() any { return new([maxHeld]byte) }}

// holdIdleMax is how long a pooled connection may have been idle and
// still send a request with the read of its answer. That read does not
// look at the socket before it waits, so a close the downstream made
// while the connection idled would be missed if the downstream then sent
// nothing more: a half-close that keeps reading (a lingering close), or a
// reset lost on the way. Downstreams close idle connections after
// seconds (their keep-alive timeout); under load connections idle for
// milliseconds, and past this bound the request is written and its
// answer read as usual, so a close is seen at once (and replayed).
const holdIdleMax = 50 * time.Millisecond

// heldWrite collects a request for sendWithNextRead in a pooled buffer,
// borrowed only until the connection has written it. Once a request is
// too long to hold, the rest of it is written as it comes too: the
// downstream may answer on the head alone (a 401 or 413 before the body),
// and an answer that came before the held tail was sent would not be
// waited for.
type heldWrite struct {
	conn   net.Conn
	buf    *[maxHeld]byte
	n      int
	direct bool // too long: written as it comes
}

func (h *heldWrite) start(conn net.Conn) {
	h.conn, h.buf, h.n, h.direct = conn, heldBufs.Get().(*[maxHeld]byte), 0, false
}

// sent gives the buffer back (sendOwner).
func (h *heldWrite) sent() {
	if h.buf == nil {
		return
	}
	heldBufs.Put(h.buf)
	h.conn, h.buf, h.n = nil, nil, 0
}

func (h *heldWrite) Write(p []byte) (int, error) {
	if h.direct {
		return h.conn.Write(p)
	}
	if h.n+len(p) <= maxHeld {
		h.n += copy(h.buf[h.n:], p)
		return len(p), nil
	}
	h.direct = true // too long to hold: what was held goes first
	if h.n > 0 {
		if _, err := h.conn.Write(h.buf[:h.n]); err != nil {
			return 0, err
		}
		h.n = 0
	}
	return h.conn.Write(p)
}

func (u *Upstream) getReader(r io.Reader) *bufio.Reader {
	u.readersOut.Add(1)
	br := u.readers.Get().(*bufio.Reader)
	br.Reset(r)
	return br
}

func (u *Upstream) putReader(br *bufio.Reader) {
	u.readersOut.Add(-1)
	if br.Size() != u.opts.ReadBufferSize {
		return // a shelved reader's minimal buffer never joins the pool
	}
	br.Reset(nil)
	u.readers.Put(br)
}

// shelveReader gives the buffer of c's reader back to the pool while a
// raw copy reads the socket itself and the reader holds nothing
// (rawcopy_linux.go): an open stream then holds no reader buffer between
// its events. The reader itself keeps its place, on a minimal buffer,
// because net/http's chunked reader holds it for the body's end;
// unshelveReader gives it a pooled buffer again before that end is read.
func (c *upConn) shelveReader() {
	if c.shelved || c.br == nil || c.br.Buffered() > 0 {
		return
	}
	lent := new(bufio.Reader)
	*lent = *c.br // the pooled buffer goes back in a reader of its own
	c.u.putReader(lent)
	*c.br = *bufio.NewReaderSize(&c.src, 16)
	c.shelved = true
}

func (c *upConn) unshelveReader() {
	if !c.shelved {
		return
	}
	*c.br = *c.u.getReader(&c.src) // (that reader's struct is dropped; its buffer is c.br's now)
	c.shelved = false
}

// peekAfter is how long a connection must have been idle before a
// bodiless request peeks at it. A bodiless request is replayed when a
// reused connection turns out closed, so under load (connections idle for
// milliseconds) it skips the liveness peek: one syscall less per small
// request. Bytes the downstream sends unasked (a 408 at its idle timeout)
// come after seconds, and the peek still catches them then. A request
// with a body cannot be replayed: it always peeks.
const peekAfter = time.Second

// monoNow is the monotonic clock's time since the process started: what
// the pool's idle ages are measured in, read for half a time.Now.
func monoNow() time.Duration { return time.Since(monoStart) }

var monoStart = time.Now()

// getConn returns an idle connection to addr that is still open (checked
// always when mustPeek, else after peekAfter idle), or a new one once a
// slot is free.
func (u *Upstream) getConn(ctx context.Context, addr string, mustPeek bool) (*upConn, bool, error) {
	now := monoNow()
	for {
		u.mu.Lock()
		list := u.idle[addr]
		if len(list) == 0 {
			u.mu.Unlock()
			break
		}
		c := list[len(list)-1]
		list[len(list)-1] = nil
		u.idle[addr] = list[:len(list)-1]
		u.mu.Unlock()
		idle := now - c.idleAt
		if idle > u.opts.IdleTimeout || ((mustPeek || idle >= peekAfter) && peerClosed(c.conn)) {
			c.close()
			continue
		}
		c.mayHold = idle < holdIdleMax
		return c, true, nil
	}
	select {
	case u.slots <- struct{}{}:
	default:
		u.waiters.Add(1)
		select {
		case u.slots <- struct{}{}:
			u.waiters.Add(-1)
		case <-ctx.Done():
			u.waiters.Add(-1)
			return nil, false, ctx.Err()
		}
	}
	conn, err := u.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		<-u.slots
		return nil, false, err
	}
	conn = withRawIO(conn)
	c := &upConn{u: u, addr: addr, conn: conn, src: headLimiter{conn: conn, limit: -1}, mayHold: true}
	c.sender, _ = conn.(nextReadSender)
	return c, false, nil
}

// headLimiter is a connection's reader that refuses to read more than
// limit bytes while a response head is parsed (limit < 0: no limit).
type headLimiter struct {
	conn  net.Conn
	limit int64
	// pending is read before conn: what a raw copy left to net/http
	// (rawcopy_linux.go).
	pending []byte
}

var errHeadTooLong = errors.New("httpproxy: downstream response headers exceed MaxResponseHeaderBytes")

func (h *headLimiter) Read(p []byte) (int, error) {
	if len(h.pending) > 0 {
		n := copy(p, h.pending)
		if h.pending = h.pending[n:]; len(h.pending) == 0 {
			h.pending = nil
		}
		return n, nil
	}
	if h.limit < 0 {
		return h.conn.Read(p)
	}
	if h.limit == 0 {
		return 0, errHeadTooLong
	}
	if int64(len(p)) > h.limit {
		p = p[:h.limit]
	}
	n, err := h.conn.Read(p)
	h.limit -= int64(n)
	return n, err
}

// putIdle returns a connection whose exchange ended cleanly to the pool.
func (u *Upstream) putIdle(c *upConn) {
	if c.br.Buffered() > 0 || len(c.src.pending) > 0 || u.waiters.Load() > 0 {
		c.close() // unsolicited bytes, or a waiter needs the slot
		return
	}
	u.putReader(c.br)
	c.br = nil
	c.idleAt = monoNow()
	u.mu.Lock()
	list := u.idle[c.addr]
	// Drop connections idle too long from the cold end of the list.
	var expired []*upConn
	for len(list) > 0 && c.idleAt-list[0].idleAt > u.opts.IdleTimeout {
		expired = append(expired, list[0])
		list = list[1:]
	}
	full := u.idleCountLocked() >= u.opts.MaxIdleConns
	if !full {
		list = append(list, c)
	}
	u.idle[c.addr] = list
	u.mu.Unlock()
	for _, e := range expired {
		e.close()
	}
	if full {
		c.close()
	}
}

func (u *Upstream) idleCountLocked() int {
	n := 0
	for _, l := range u.idle {
		n += len(l)
	}
	return n
}

// CloseIdleConnections closes every idle connection (http.Client calls it
// through its CloseIdleConnections).
func (u *Upstream) CloseIdleConnections() {
	u.mu.Lock()
	var all []*upConn
	for addr, l := range u.idle {
		all = append(all, l...)
		delete(u.idle, addr)
	}
	u.mu.Unlock()
	for _, c := range all {
		c.close()
	}
	if ci, ok := u.opts.HTTPS.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// upBody is a response body read by the caller's goroutine; at a clean
// end it returns the connection to the pool, otherwise closes it.
type upBody struct {
	c       *upConn
	ctx     context.Context
	body    io.ReadCloser
	watch   cancelWatch
	written chan error // nil when the request was written inline
	keep    bool
	// sink is the Server response the body is copied to directly on the
	// first Read, if any (direct.go).
	sink *response
	mu   sync.Mutex
	done bool // the exchange has been released
	eof  bool // ... after a clean end of the body
}

func (b *upBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		if b.eof {
			return 0, io.EOF
		}
		return 0, errors.New("httpproxy: read on closed response body")
	}
	var n int
	var err error
	if w := b.sink; w != nil {
		b.sink = nil
		n, err = b.copyTo(w, p)
	} else {
		n, err = b.body.Read(p)
	}
	if err != nil {
		b.eof = err == io.EOF
		b.done = true
		release(b.c, b.watch, b.written, b.eof && b.keep)
		if !b.eof && b.ctx.Err() != nil {
			err = b.ctx.Err() // cancellation closed the connection under the read
		}
	}
	return n, err
}

// Close implements io.Closer: a body not read to its end takes its
// connection with it. A Read blocked in another goroutine is unblocked by
// closing the connection first.
func (b *upBody) Close() error {
	if !b.mu.TryLock() {
		b.c.conn.Close()
		b.mu.Lock()
	}
	defer b.mu.Unlock()
	if !b.done {
		b.done = true
		release(b.c, b.watch, b.written, false)
	}
	return nil
}

// release ends an exchange on c: back to the pool when reuse is true and
// the request was written completely, closed otherwise.
func release(c *upConn, watch cancelWatch, written chan error, reuse bool) {
	if !watch.stop() {
		reuse = false // the context fired and closed the connection
	}
	if written != nil {
		select {
		case err := <-written:
			reuse = reuse && err == nil
		default:
			// The request body is still being sent, and its next read may
			// wait for the client: the answer must not wait with it. The
			// connection closes now (the writer's next write fails); its
			// slot frees when the writer is done with the body.
			c.conn.Close()
			go func() {
				<-written
				c.close()
			}()
			return
		}
	}
	if reuse {
		c.u.putIdle(c)
	} else {
		c.close()
	}
}

// upgradedBody is the connection of a 101 answer as an io.ReadWriteCloser.
type upgradedBody struct {
	c  *upConn
	br *bufio.Reader
}

func (b *upgradedBody) Read(p []byte) (int, error) {
	if b.br != nil && b.br.Buffered() > 0 {
		return b.br.Read(p)
	}
	return b.c.conn.Read(p)
}

func (b *upgradedBody) Write(p []byte) (int, error) { return b.c.conn.Write(p) }

func (b *upgradedBody) Close() error {
	b.c.close()
	return nil
}
