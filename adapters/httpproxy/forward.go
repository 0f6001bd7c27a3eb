package httpproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptrace"
	"net/http/httputil"
	"net/textproto"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
)

// The Proxy's forwarding of an allowed request to the downstream.
//
// It does what httputil.ReverseProxy (Rewrite mode, FlushInterval 0) does,
// in the same order and with the same results on the wire, and it is the
// only path the Proxy forwards by: the outbound request without the
// hop-by-hop headers (RFC 9110 7.6.1, the Connection-named ones and the
// RFC 2616 list) and without the client's forwarding headers, the Rewrite
// (URL, Host, client and forwarding headers, the upgrade restriction),
// 1xx answers relayed as they come, a 101 verified and then tunnelled,
// the answer's head without hop-by-hop headers, its body copied with a
// flush after every piece for event streams and answers of unknown length,
// trailers, and an answer cut short ended with http.ErrAbortHandler.
//
// Why not ReverseProxy itself: per small request it cost about 10 % of
// the proxy's CPU around the round trip (Request.Clone deep-copying the
// header map, then deleting 13 keys one by one through canonicalization,
// a per-answer mime.ParseMediaType, a timer and a goroutine to flush a
// stream's head, 17 allocations), and its flushing writer sat between the
// copy and the Server's response, which the direct copy of streams
// (direct.go) had to work around. docs/performance.md, round 7, has the
// figures.

// hopHeader reports whether k (canonical) is a hop-by-hop header RFC 2616
// 13.5.1 lists, or Proxy-Connection, which libcurl sends: those
// ReverseProxy removes.
func hopHeader(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// forwardingHeader tells the client's forwarding headers, which the
// Rewrite sets anew (or drops) for the outbound request.
func forwardingHeader(k string) bool {
	switch k {
	case "Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto":
		return true
	}
	return false
}

// copyEndToEnd copies the end-to-end headers of src into dst: not the
// hop-by-hop ones, not those src's Connection names, and not the
// forwarding ones when outbound. Value slices are shared, capped so that
// an append to dst copies.
func copyEndToEnd(dst, src http.Header, outbound bool) {
	var named connectionNamed
	named.read(src["Connection"])
	for k, vv := range src {
		if hopHeader(k) || (outbound && forwardingHeader(k)) || named.has(k) {
			continue
		}
		if old, ok := dst[k]; ok {
			dst[k] = append(old, vv...)
		} else {
			dst[k] = vv[:len(vv):len(vv)]
		}
	}
}

// endToEndInPlace removes from h what copyEndToEnd would not copy out of
// it, but for the forwarding headers: outbound, only Forwarded, since the
// Rewrite sets the three X-Forwarded ones anew in any case (reading the
// client's first, from this same map, where a trusted proxy sent them),
// and X-Forwarded-For is the Middleware's already. It reports false,
// having changed nothing, for an outbound h whose Connection names
// anything but hop-by-hop headers: the names may be the client headers
// the Rewrite puts back from the inbound request, which must then keep
// them (copyEndToEnd into a new map).
func endToEndInPlace(h http.Header, outbound bool) bool {
	var named connectionNamed
	named.read(h["Connection"])
	if outbound {
		if named.many != nil {
			return false
		}
		for _, k := range named.small[:named.n] {
			if !hopHeader(k) && k != "Close" {
				return false
			}
		}
	}
	for k := range h {
		if hopHeader(k) || (outbound && k == "Forwarded") || named.has(k) {
			delete(h, k)
		}
	}
	return true
}

// connectionNamed is the set of header names Connection values name, as
// canonical keys. A few are looked up in a small array (Connection:
// keep-alive, say); past that in a map, so that a head of thousands of
// names and thousands of headers costs linear time, not their product.
type connectionNamed struct {
	small [4]string
	n     int
	many  map[string]struct{}
}

func (c *connectionNamed) read(conn []string) {
	for _, f := range conn {
		for sf := range strings.SplitSeq(f, ",") {
			if sf = textproto.TrimString(sf); sf == "" {
				continue
			}
			k := textproto.CanonicalMIMEHeaderKey(sf)
			switch {
			case c.has(k):
			case c.n < len(c.small):
				c.small[c.n] = k
				c.n++
			default:
				if c.many == nil {
					c.many = make(map[string]struct{})
				}
				c.many[k] = struct{}{}
			}
		}
	}
}

// has reports whether k, a canonical key, is named.
func (c *connectionNamed) has(k string) bool {
	for _, s := range c.small[:c.n] {
		if s == k {
			return true
		}
	}
	_, ok := c.many[k]
	return ok
}

// upgradeType is the protocol h asks to switch to, if it asks.
func upgradeType(h http.Header) string {
	if !hasToken(h["Connection"], "upgrade") {
		return ""
	}
	return h.Get("Upgrade")
}

// printable reports whether s is printable ASCII (an upgrade token).
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

var noUserAgent = []string{""}

// exchange is one forwarded request's 1xx relay: 1xx answers are written
// to w as they come, until the round trip has returned (a transport's
// reading goroutine may report one late).
type exchange struct {
	w    http.ResponseWriter
	mu   sync.Mutex
	done bool
	// wantRaw: the answer goes to the Server's response straight, which
	// can send the downstream's fields on as they came (raw).
	wantRaw bool
	raw     rawHead
}

func (x *exchange) answerRaw() *rawHead {
	if !x.wantRaw {
		return nil
	}
	return &x.raw
}

func (x *exchange) got1xx(code int, header textproto.MIMEHeader) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.done {
		return nil
	}
	// The 1xx goes out with the downstream's 1xx headers only; what the
	// handlers before the Proxy set (X-Request-Id) is put back for the
	// final answer. ReverseProxy clears it; net/http keeps a 1xx's header
	// in w.Header(), so it is swapped in and out around WriteHeader.
	h := x.w.Header()
	kept := maps.Clone(h)
	clear(h)
	for k, vv := range header {
		h[k] = vv
	}
	x.w.WriteHeader(code)
	clear(h)
	maps.Copy(h, kept)
	return nil
}

func (x *exchange) finish() {
	x.mu.Lock()
	x.done = true
	x.mu.Unlock()
}

// forwarding is what forward makes of a request, in one allocation (or
// in the request's: requestContext.room).
type forwarding struct {
	x   exchange
	out http.Request
	url url.URL
	pr  httputil.ProxyRequest
}

// forward sends in to the downstream and its answer back to w.
func (p *Proxy) forward(w http.ResponseWriter, in *http.Request) {
	f := roomOf(in.Context()).forwardingRoom()
	f.x.w = w
	x, out := &f.x, &f.out
	*out = *in // in.WithContext(in.Context())
	f.url = *in.URL
	if f.url.User != nil {
		user := *f.url.User
		f.url.User = &user
	}
	out.URL = &f.url
	if in.ContentLength == 0 {
		out.Body = nil // as ReverseProxy: a transport may then retry it
	}
	if out.Body != nil {
		// The transport's Close of the body must not close the client's
		// (a 100-continue body not asked for yet would be drained), and a
		// transport's late Read after the handler returned must fail, as
		// ReverseProxy's noopCloseReader does.
		b := &outboundBody{in: in.Body}
		out.Body = b
		defer b.Close()
		// On a net/http server the first write of the answer's head would
		// otherwise consume what is left of the body, from under a
		// transport still sending it (and then the downstream connection
		// is closed and a stream cut). Server is full duplex as it is.
		_ = http.NewResponseController(w).EnableFullDuplex()
	}
	if in.Trailer != nil {
		out.Trailer = in.Trailer.Clone()
	}
	out.Close = false

	upType := upgradeType(in.Header)
	if !printable(upType) {
		p.downstreamError(w, in, fmt.Errorf("client tried to switch to invalid protocol %q", upType))
		return
	}
	te := hasToken(in.Header["Te"], "trailers")
	sr := directSink(in.Context())
	if sr != nil && endToEndInPlace(in.Header, true) {
		// The Server's own request, which nothing reads the header of
		// once it is forwarded: its map becomes the outbound one, one map
		// and its copy less per request.
		out.Header = in.Header
	} else {
		out.Header = make(http.Header, len(in.Header)+4)
		copyEndToEnd(out.Header, in.Header, true)
	}
	if te {
		out.Header["Te"] = []string{"trailers"}
	}
	if upType != "" {
		out.Header["Connection"] = []string{"Upgrade"}
		out.Header["Upgrade"] = []string{upType}
	}
	out.URL.RawQuery = cleanQueryParams(out.URL.RawQuery)
	pr := &f.pr
	pr.In, pr.Out = in, out
	p.rewrite(pr)
	out = pr.Out
	if _, ok := out.Header["User-Agent"]; !ok {
		out.Header["User-Agent"] = noUserAgent // not Go's default
	}

	// The Server's response the answer goes to straight, through no
	// writer of anyone else's: it may take the answer's head over.
	var straight *response
	if sr != nil && !sr.wroteHeader && serverResponse(w) == sr {
		straight = sr
	}
	var res *http.Response
	var err error
	if up, ok := p.transport.(*Upstream); ok && out.URL.Scheme == "http" {
		x.wantRaw = straight != nil
		res, err = up.roundTrip(out, x) // x hears of the 1xx without an httptrace
	} else {
		trace := &httptrace.ClientTrace{Got1xxResponse: x.got1xx} // (not in forwarding: the Upstream needs none)
		out = out.WithContext(httptrace.WithClientTrace(out.Context(), trace))
		res, err = p.transport.RoundTrip(out)
	}
	x.finish()
	if err != nil {
		p.downstreamError(w, out, err)
		return
	}
	if res.StatusCode == http.StatusSwitchingProtocols {
		if err := verifyUpgrade(res); err != nil {
			res.Body.Close()
			p.downstreamError(w, out, err)
			return
		}
		p.tunnel(w, out, res)
		return
	}
	p.answer(w, in, res, straight, &x.raw)
}

// outboundBody is the client's request body as the transport reads it.
type outboundBody struct {
	in     io.ReadCloser
	closed atomic.Bool
}

var errReadAfterClose = errors.New("httpproxy: the downstream request read its body after it was closed")

func (b *outboundBody) Read(p []byte) (int, error) {
	if b.closed.Load() {
		return 0, errReadAfterClose
	}
	return b.in.Read(p)
}

func (b *outboundBody) Close() error {
	b.closed.Store(true)
	return nil
}

// answer writes res, the downstream's final answer, to w; sr is the
// Server response w passes the answer to straight, or nil; raw holds
// res's fields where the Upstream read them without a map (then
// res.Header is nil).
func (p *Proxy) answer(w http.ResponseWriter, in *http.Request, res *http.Response, sr *response, raw *rawHead) {
	if raw.ok && !sr.adoptRaw(raw) {
		res.Header, raw.ok = raw.header(), false
	}
	var h http.Header
	ctype := raw.ctype
	switch {
	case raw.ok:
		// Sent on as they came: nothing below reads or adds a field of
		// the downstream's (trailers only follow a chunked answer).
	case sr != nil && endToEndInPlace(res.Header, false):
		h = sr.adoptHeader(res.Header)
	default:
		h = w.Header()
		copyEndToEnd(h, res.Header, false)
	}
	if !raw.ok {
		ctype = firstValue(res.Header["Content-Type"])
	}
	// A transport gives the trailers it was told of in res.Trailer, not
	// as a Trailer header: announce them again.
	announced := len(res.Trailer)
	if announced > 0 {
		keys := make([]string, 0, announced)
		for k := range res.Trailer {
			keys = append(keys, k)
		}
		h["Trailer"] = append(h["Trailer"], strings.Join(keys, ", "))
	}
	// An event stream or an answer of unknown length is flushed piece by
	// piece, its head at once: a model's first token may be seconds away.
	stream := res.ContentLength == -1 || eventStream(ctype)
	w.WriteHeader(res.StatusCode)
	rc := http.NewResponseController(w)
	if stream {
		_ = rc.Flush()
	}
	err := p.copyBody(w, rc, res.Body, stream)
	if err != nil {
		res.Body.Close()
		if in.Context().Value(http.ServerContextKey) == nil {
			// Not under a server that ends the answer on the panic (a
			// test's recorder, say): ReverseProxy only logs then too.
			p.log.Debug("downstream answer cut short", "path", in.URL.Path, "err", err)
			return
		}
		panic(http.ErrAbortHandler) // the client must see the answer cut, not ended
	}
	res.Body.Close() // now: it fills res.Trailer
	if len(res.Trailer) == 0 {
		return
	}
	_ = rc.Flush() // chunked, even when the body was short: trailers follow
	h = w.Header()
	if len(res.Trailer) == announced {
		for k, vv := range res.Trailer {
			h[k] = append(h[k], vv...)
		}
		return
	}
	for k, vv := range res.Trailer {
		h[http.TrailerPrefix+k] = append(h[http.TrailerPrefix+k], vv...)
	}
}

// eventStream reports whether a Content-Type is text/event-stream.
func eventStream(ct string) bool {
	if ct == "" {
		return false
	}
	mt, _, _ := strings.Cut(ct, ";")
	return strings.EqualFold(textproto.TrimString(mt), "text/event-stream")
}

// copyBody copies the answer's body to w, flushing every piece when
// stream. A body the Server copies directly (direct.go) returns its end
// on the first Read, and is given no buffer to hold while the stream is
// open: it borrows one while bytes move.
func (p *Proxy) copyBody(w http.ResponseWriter, rc *http.ResponseController, body io.Reader, stream bool) error {
	var lent *[copyBufferSize]byte
	defer func() {
		if lent != nil {
			giveBackCopyBuffer(lent)
		}
	}()
	var buf []byte
	if ub, ok := body.(*upBody); !ok || !ub.copiesDirectly() {
		lent = lendCopyBuffer()
		buf = lent[:]
	}
	for {
		n, rerr := body.Read(buf)
		if rerr != nil && rerr != io.EOF && !errors.Is(rerr, context.Canceled) {
			p.log.Debug("downstream read failed during the body copy", "err", rerr)
		}
		if n > 0 {
			nw, werr := w.Write(buf[:n])
			if werr != nil {
				return werr
			}
			if nw != n {
				return io.ErrShortWrite
			}
			if stream {
				_ = rc.Flush()
			}
		}
		if rerr != nil {
			if rerr == io.EOF {
				return nil
			}
			return rerr
		}
		if buf == nil { // (a direct copy returns its body's end; should it not, read on)
			lent = lendCopyBuffer()
			buf = lent[:]
		}
	}
}

// tunnel relays a verified WebSocket upgrade: the downstream's 101 to the
// client, then bytes both ways until either side ends.
func (p *Proxy) tunnel(w http.ResponseWriter, out *http.Request, res *http.Response) {
	backConn, ok := res.Body.(io.ReadWriteCloser)
	if !ok {
		res.Body.Close()
		p.downstreamError(w, out, errors.New("httpproxy: 101 answer with a body that cannot be written"))
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if errors.Is(err, http.ErrNotSupported) {
		backConn.Close()
		p.downstreamError(w, out, fmt.Errorf("httpproxy: cannot switch protocols on a %T", w))
		return
	}
	// Cancellation of the request (Drain's deadline, the client gone)
	// closes the downstream side, and with it the tunnel.
	stop := context.AfterFunc(out.Context(), func() { backConn.Close() })
	defer func() {
		stop()
		backConn.Close()
	}()
	if err != nil {
		p.downstreamError(w, out, fmt.Errorf("httpproxy: hijack on protocol switch: %w", err))
		return
	}
	defer conn.Close()
	h := w.Header()
	for k, vv := range res.Header {
		h[k] = append(h[k], vv...)
	}
	res.Header = h
	res.Body = nil // res.Write writes the head only
	if err := res.Write(brw); err != nil {
		p.log.Debug("writing a 101 to the client failed", "err", err)
		return
	}
	if err := brw.Flush(); err != nil {
		p.log.Debug("writing a 101 to the client failed", "err", err)
		return
	}
	errc := make(chan error, 2)
	go relay(errc, conn, backConn) // the downstream's bytes to the client
	go func() {
		// What the client sent behind its request was read with the head;
		// it goes first.
		if n := brw.Reader.Buffered(); n > 0 {
			ahead, _ := brw.Reader.Peek(n)
			if _, err := backConn.Write(ahead); err != nil {
				errc <- err
				return
			}
		}
		relay(errc, backConn, conn)
	}()
	// One side's clean end is passed on as a half-close and the other
	// side may go on; an error, or an end that cannot be passed on, ends
	// both (the deferred closes).
	if err := <-errc; err == nil {
		<-errc
	}
}

var errCannotHalfClose = errors.New("httpproxy: the tunnel's other side cannot be half-closed")

// relay copies from src to dst until src ends, then half-closes dst.
func relay(errc chan<- error, dst io.Writer, src io.Reader) {
	_, err := io.Copy(dst, src)
	if err == nil {
		err = errCannotHalfClose
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			err = cw.CloseWrite()
		}
	}
	errc <- err
}

// cleanQueryParams drops what net/url cannot parse from a query (';'
// separators, bad escapes) by re-encoding it, as ReverseProxy does: the
// downstream must not read parameters Sentinel read differently.
func cleanQueryParams(s string) string {
	reencode := func(s string) string {
		v, _ := url.ParseQuery(s)
		return v.Encode()
	}
	if customMaxQueryParams || strings.Count(s, "&")+1 > maxQueryParams {
		return reencode(s)
	}
	for i := 0; i < len(s); {
		switch s[i] {
		case ';':
			return reencode(s)
		case '%':
			if i+2 >= len(s) || !ishex(s[i+1]) || !ishex(s[i+2]) {
				return reencode(s)
			}
			i += 3
		default:
			i++
		}
	}
	return s
}

// maxQueryParams is net/url's default bound on a query's parameters;
// with another set (GODEBUG=urlmaxqueryparams=...), every query is
// re-encoded, as ReverseProxy does.
const maxQueryParams = 10000

var customMaxQueryParams = strings.Contains(os.Getenv("GODEBUG"), "urlmaxqueryparams=")

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
