package httpproxy

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// The heads of the requests and answers a proxy sees most, parsed from
// the reader's buffer with one string for all of a head's text, and
// everything else left to the standard library, nothing of it consumed.
//
// http.ReadRequest and http.ReadResponse cost a small exchange about 30
// allocations (a string per line, per key and per value, the textproto
// reader, the transfer reader, the body) and 8 % of the proxy's CPU
// (docs/performance.md, round 7). What is parsed here is what they would
// make of the same bytes, field for field: the fuzz targets
// FuzzParseRequestHeadIsReadRequest and FuzzParseHeadIsReadResponse hold
// them to it. Anything these parsers do not know to read the same way (a
// head longer than the buffer, obs-folds, bare LFs, chunked bodies,
// repeated lengths, Pragma, HTTP/1.0, absolute request targets, 1xx,
// HEAD's answers) goes to the standard library, which also answers every
// malformed head with its own error.

// readRequest reads a request head from br as http.ReadRequest does,
// and gives it a context of its own, a requestContext under parent.
// beforeRead, if not nil, runs before anything may be read from br's
// source: a head parsed from what br holds already needs no read (and
// its caller no read deadline). named reports that every field name of
// the head was checked to be a token (parseRequestHead's).
func readRequest(br *bufio.Reader, parent context.Context, beforeRead func()) (req *http.Request, rctx *requestContext, named bool, err error) {
	if br.Buffered() > 0 {
		buf, _ := br.Peek(br.Buffered())
		if in, n := parseRequestHead(buf, br, parent); in != nil {
			br.Discard(n)
			return &in.req, &in.ctx, true, nil
		}
	}
	if beforeRead != nil {
		beforeRead()
	}
	req, err = http.ReadRequest(br)
	if err != nil {
		return nil, nil, false, err
	}
	rctx = newRequestContext(parent)
	return req.WithContext(rctx), rctx, false, nil
}

// inbound is a request parsed from a buffer, with its context and its
// body's reader: one allocation instead of four (Request, the copy
// WithContext makes, the context, the body).
type inbound struct {
	req  http.Request
	url  url.URL
	ctx  requestContext
	body fixedBody
	vals [8]string // the header's values, for a head of up to eight fields
}

// parseRequestHead parses the request head at the start of buf, the body
// to be read from br, its context under parent, and returns it with the
// head's length, or nil where http.ReadRequest is to parse it.
func parseRequestHead(buf []byte, br *bufio.Reader, parent context.Context) (*inbound, int) {
	end := bytes.Index(buf, crlfcrlf)
	if end < 0 {
		return nil, 0
	}
	head := buf[:end]
	text := string(head)
	in := new(inbound)
	line, h, set, ok := parseFields(text, 0, in.vals[:])
	if !ok {
		return nil, 0
	}
	// "METHOD /origin-form HTTP/1.1"
	sp := strings.IndexByte(line, ' ')
	if sp <= 0 || sp+1 > len(line)-len(" HTTP/1.1") || !strings.HasSuffix(line, " HTTP/1.1") {
		return nil, 0
	}
	method, uri := line[:sp], line[sp+1:len(line)-len(" HTTP/1.1")]
	if !validFieldName(method) || method == http.MethodConnect || len(uri) == 0 || uri[0] != '/' || strings.IndexByte(uri, ' ') >= 0 {
		return nil, 0
	}
	u, ok := plainRequestURI(uri)
	if !ok {
		pu, err := url.ParseRequestURI(uri)
		if err != nil {
			return nil, 0
		}
		u = *pu
	}
	hosts, conn := set.get(h, fHost, "Host"), set.get(h, fConnection, "Connection")
	if len(hosts) > 1 || set&(fTransferEncoding|fTrailer|fPragma) != 0 || !plainTokens(conn) {
		return nil, 0
	}
	length := int64(0)
	if cl := set.get(h, fContentLength, "Content-Length"); len(cl) == 1 {
		if length = contentLength(cl[0]); length < 0 {
			return nil, 0
		}
	} else if len(cl) > 1 {
		return nil, 0
	}
	in.url, in.ctx.Context = u, parent
	var zero http.Request
	in.req = *zero.WithContext(&in.ctx) // (inlined: its copy stays on the stack)
	req := &in.req
	req.Method, req.URL, req.Proto, req.ProtoMajor, req.ProtoMinor = method, &in.url, "HTTP/1.1", 1, 1
	req.Header, req.Body, req.ContentLength, req.Host, req.RequestURI = h, http.NoBody, length, u.Host, uri
	req.Close = hasToken(conn, "close")
	if req.Host == "" && len(hosts) > 0 {
		req.Host = hosts[0]
	}
	if hosts != nil {
		delete(h, "Host") // as http.ReadRequest
	}
	if length > 0 {
		in.body = fixedBody{r: br, n: length}
		req.Body = &in.body
	}
	return in, end + len(crlfcrlf)
}

// readResponse reads a response head from br as http.ReadResponse does.
// With raw not nil, an answer the Server may send on with its fields as
// they came is read into raw instead of a header map (parseHead). up,
// when not nil, is room for the Upstream's body made with the answer.
func readResponse(br *bufio.Reader, req *http.Request, raw *rawHead) (resp *http.Response, up *upBody, err error) {
	if br.Buffered() == 0 {
		if _, err := br.Peek(1); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF // as http.ReadResponse reports it
			}
			return nil, nil, err
		}
	}
	buf, _ := br.Peek(br.Buffered())
	if a, n := parseHead(buf, br, req, raw); a != nil {
		br.Discard(n)
		return &a.resp, &a.up, nil
	}
	resp, err = http.ReadResponse(br, req)
	return resp, nil, err
}

var crlfcrlf = []byte("\r\n\r\n")

// plainRequestURI is url.ParseRequestURI(uri) for the URIs clients send
// most: an absolute path of bytes that need no escaping, and a query of
// visible bytes. ok is false for any other, which ParseRequestURI then
// parses (an escaped path sets RawPath, "//" starts an authority, a
// control byte is an error). FuzzPlainRequestURI holds it to
// ParseRequestURI's result.
func plainRequestURI(uri string) (u url.URL, ok bool) {
	path, query, hasQuery := strings.Cut(uri, "?")
	if len(path) == 0 || path[0] != '/' || strings.HasPrefix(path, "//") {
		return u, false
	}
	for i := 0; i < len(path); i++ {
		if !plainPathByte[path[i]] {
			return u, false
		}
	}
	for i := 0; i < len(query); i++ {
		if c := query[i]; c <= ' ' || c >= 0x7f {
			return u, false
		}
	}
	u.Path, u.RawQuery = path, query
	u.ForceQuery = hasQuery && query == ""
	return u, true
}

// plainPathByte holds the bytes url.URL keeps unescaped in a path.
var plainPathByte = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.~$&+,/:;=@", byte(c)) >= 0
	}
	return t
}()

// answerHead is a response parsed from a buffer, its body's reader and
// the Upstream's body around that, in one allocation.
type answerHead struct {
	resp http.Response
	body fixedBody
	up   upBody
}

// rawHead is a final answer's field lines as the downstream sent them,
// for the Server to send on as they are (response.adoptRaw), instead of
// parsing them into a map, filtering it and writing it back out field by
// field: 5 % of a small request's proxy CPU, 3 allocations
// (docs/performance.md, round 13). Only for an answer that holds nothing
// a proxy changes: no hop-by-hop field, one Content-Length, no
// Transfer-Encoding, Trailer or Pragma.
type rawHead struct {
	ok    bool
	lines string // the field lines, CRLF between them, valid as parseFields reads them
	ctype string // the first Content-Type's value
	date  bool   // a Date is among them
	n     int64  // the Content-Length
}

// header is the map parseFields makes of the lines.
func (r *rawHead) header() http.Header {
	h, _, _ := fieldLines(r.lines, 0, nil)
	return h
}

// parseHead parses the response head at the start of buf, the body to be
// read from br, and returns it with the head's length, or nil where
// http.ReadResponse is to parse it. With raw not nil, an answer rawHead
// can hold is returned without a Header, its fields in raw.
func parseHead(buf []byte, br *bufio.Reader, req *http.Request, raw *rawHead) (*answerHead, int) {
	end := bytes.Index(buf, crlfcrlf)
	if end < 0 || (req != nil && req.Method == http.MethodHead) {
		return nil, 0
	}
	// "HTTP/1.1 ddd" then the end of the line or a space and the reason.
	head := buf[:end]
	if len(head) < 12 || string(head[:9]) != "HTTP/1.1 " {
		return nil, 0
	}
	code := 0
	for _, c := range head[9:12] {
		if c < '0' || c > '9' {
			return nil, 0
		}
		code = code*10 + int(c-'0')
	}
	if code < 200 || code == http.StatusNoContent || code == http.StatusNotModified {
		return nil, 0 // 1xx, and bodies without a length: ReadResponse's
	}
	if len(head) > 12 && head[12] != ' ' && head[12] != '\r' {
		return nil, 0
	}
	text := string(head) // the one string every value and rare key shares
	if raw != nil {
		if status, ok := scanRaw(text, raw); ok {
			return newAnswer(br, req, status, code, nil, raw.n), end + len(crlfcrlf)
		}
	}
	status, h, set, ok := parseFields(text, 9, nil)
	if !ok || !validValue(status) {
		return nil, 0
	}
	conn := set.get(h, fConnection, "Connection")
	switch {
	case set&(fTransferEncoding|fTrailer|fPragma) != 0:
		return nil, 0 // chunked, declared trailers, Pragma's Cache-Control: ReadResponse's
	case hasToken(conn, "close"), !plainTokens(conn):
		return nil, 0
	}
	length := int64(-1)
	if cl := set.get(h, fContentLength, "Content-Length"); len(cl) == 1 {
		length = contentLength(cl[0])
	} else if len(cl) > 1 {
		return nil, 0 // repeated: ReadResponse checks they agree
	}
	if length < 0 {
		return nil, 0 // no length: read until the close, ReadResponse's
	}
	return newAnswer(br, req, status, code, h, length), end + len(crlfcrlf)
}

// newAnswer is the answer parseHead read, with its body of length bytes
// to come from br.
func newAnswer(br *bufio.Reader, req *http.Request, status string, code int, h http.Header, length int64) *answerHead {
	a := &answerHead{resp: http.Response{
		Status: status, StatusCode: code, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, ContentLength: length, Request: req, Body: http.NoBody,
	}}
	if length > 0 {
		a.body = fixedBody{r: br, n: length}
		a.resp.Body = &a.body
	}
	return a
}

// scanRaw reads the fields of text, a final answer's head, into raw and
// returns its status (from the code on), or false where rawHead cannot
// hold them: where parseHead's map would not read them, or they hold
// something a proxy changes. It makes no map and no allocation.
func scanRaw(text string, raw *rawHead) (status string, ok bool) {
	nl := strings.IndexByte(text, '\n')
	if nl <= 0 || text[nl-1] != '\r' {
		return "", false
	}
	if status = text[9 : nl-1]; !validValue(status) {
		return "", false
	}
	var set fieldSet
	var ctype, length string
	lengths, date := 0, false
	for rest := nl + 1; rest < len(text); {
		k, v, next, ok := nextField(text, rest)
		if !ok {
			return "", false
		}
		rest = next
		f := fieldOf(k)
		switch {
		case f == fContentType && set&fContentType == 0:
			ctype = v
		case f == fContentLength:
			lengths++
			length = v
		case f == fDate:
			date = true
		}
		set |= f
	}
	n := contentLength(length)
	if set&(fConnection|fTransferEncoding|fTrailer|fPragma|fHop) != 0 || lengths != 1 || n < 0 {
		return "", false
	}
	*raw = rawHead{ok: true, lines: text[nl+1:], ctype: ctype, date: date, n: n}
	return status, true
}

// fieldSet tells which of the fields the parsers look at a head holds:
// the lookups of those it does not hold (most, most of the time) are
// skipped.
type fieldSet uint16

const (
	fHost fieldSet = 1 << iota
	fConnection
	fContentLength
	fTransferEncoding
	fTrailer
	fPragma
	fContentType
	fDate
	fHop // a hop-by-hop field (hopHeader) but Connection, Transfer-Encoding and Trailer
)

func fieldOf(k string) fieldSet {
	switch k {
	case "Content-Type":
		return fContentType
	case "Date":
		return fDate
	case "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Upgrade":
		return fHop
	case "Host":
		return fHost
	case "Connection":
		return fConnection
	case "Content-Length":
		return fContentLength
	case "Transfer-Encoding":
		return fTransferEncoding
	case "Trailer":
		return fTrailer
	case "Pragma":
		return fPragma
	}
	return 0
}

// get is h[k] where set says whether h holds k.
func (set fieldSet) get(h http.Header, f fieldSet, k string) []string {
	if set&f == 0 {
		return nil
	}
	return h[k]
}

// parseFields parses a head (without its final empty line) of lines
// that all end in CRLF: it returns the first line's text from column
// from, and the header fields, keys canonical, values trimmed, in order,
// with the set of fieldSet's fields among them. ok is false where
// textproto would read the lines otherwise or fail (obs-fold, a bare LF,
// a bad name or value). The values' slices are cut from vals where it
// has room for one per line (else from a slice of their own).
func parseFields(text string, from int, vals []string) (first string, h http.Header, set fieldSet, ok bool) {
	nl := strings.IndexByte(text, '\n')
	switch {
	case nl < 0:
		return text[from:], http.Header{}, 0, true // the first line alone
	case nl == 0 || text[nl-1] != '\r':
		return "", nil, 0, false
	}
	h, set, ok = fieldLines(text, nl+1, vals)
	return text[from : nl-1], h, set, ok
}

// fieldLines parses the field lines of text from start on, as
// parseFields does.
func fieldLines(text string, start int, vals []string) (h http.Header, set fieldSet, ok bool) {
	lines := strings.Count(text[start:], "\r\n") + 1
	h = make(http.Header, lines)
	strs := vals[:min(lines, len(vals))] // the values, one per line: a key's first is shared as textproto shares it
	if len(strs) < lines {
		strs = make([]string, lines)
	}
	// The keys of the first lines, so that a key's first line costs one
	// map operation, not a lookup and an assignment: a repeated key (rare)
	// is seen by the map's length, and its values are found again here.
	var keys [32]string
	for i, rest := 0, start; rest < len(text); i++ {
		k, v, next, ok := nextField(text, rest)
		if !ok {
			return nil, 0, false
		}
		rest = next
		set |= fieldOf(k)
		strs[i] = v
		switch {
		case i < len(keys):
			keys[i] = k
			n := len(h)
			h[k] = strs[i : i+1 : i+1]
			if len(h) == n { // repeated: its earlier values, then this one
				vv := make([]string, 0, 2)
				for j, kj := range keys[:i+1] {
					if kj == k {
						vv = append(vv, strs[j])
					}
				}
				h[k] = vv
			}
		default:
			if vv, ok := h[k]; ok {
				h[k] = append(vv, v)
			} else {
				h[k] = strs[i : i+1 : i+1]
			}
		}
	}
	return h, set, true
}

// nextField reads the field line at text[rest:], which ends in CRLF or
// at the end of text: its canonical key, its trimmed value, and where
// the next line starts. ok is false for what textproto would read
// otherwise or refuse (obs-fold, a bare LF, a bad name or value).
func nextField(text string, rest int) (k, v string, next int, ok bool) {
	line := text[rest:]
	next = len(text)
	if j := strings.IndexByte(line, '\n'); j >= 0 {
		if j == 0 || line[j-1] != '\r' {
			return "", "", 0, false
		}
		line, next = line[:j-1], rest+j+1
	}
	colon := -1
	for i := 0; i < len(line); i++ {
		if line[i] == ':' {
			colon = i
			break
		}
		if !tokenByte[line[i]] {
			return "", "", 0, false // obs-fold, a space before the colon, a bad name
		}
	}
	if colon <= 0 {
		return "", "", 0, false
	}
	if v = trimOWS(line[colon+1:]); !validValue(v) {
		return "", "", 0, false
	}
	if k, ok = headKey(line[:colon]); !ok {
		return "", "", 0, false
	}
	return k, v, next, true
}

// plainTokens reports whether vv holds only tokens, commas and spaces:
// then hasToken reads it as net/http does.
func plainTokens(vv []string) bool {
	for _, v := range vv {
		for i := 0; i < len(v); i++ {
			if c := v[i]; !tokenByte[c] && c != ',' && c != ' ' && c != '\t' {
				return false
			}
		}
	}
	return true
}

// contentLength parses a Content-Length of up to 18 digits, or -1.
func contentLength(v string) int64 {
	if v == "" || len(v) > 18 {
		return -1
	}
	var n int64
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return -1
		}
		n = n*10 + int64(v[i]-'0')
	}
	return n
}

// validValue reports whether v holds only what textproto accepts in a
// field value: visible ASCII, space, tab and obs-text.
func validValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// commonKeys are the response header names gateways send most, so that
// their keys cost no allocation when sent in another case (content-type).
var commonKeys = func() map[string]string {
	m := make(map[string]string)
	for _, k := range []string{
		"Access-Control-Allow-Credentials", "Access-Control-Allow-Headers", "Access-Control-Allow-Methods",
		"Access-Control-Allow-Origin", "Access-Control-Expose-Headers", "Access-Control-Max-Age",
		"Cache-Control", "Connection", "Content-Disposition", "Content-Encoding", "Content-Language",
		"Content-Length", "Content-Type", "Date", "Etag", "Expires", "Keep-Alive", "Last-Modified",
		"Location", "Openai-Model", "Openai-Organization", "Openai-Processing-Ms", "Openai-Version",
		"Retry-After", "Server", "Set-Cookie", "Strict-Transport-Security", "Vary", "Via",
		"X-Content-Type-Options", "X-Frame-Options", "X-New-Api-Version", "X-Oneapi-Request-Id",
		"X-Ratelimit-Limit-Requests", "X-Ratelimit-Limit-Tokens", "X-Ratelimit-Remaining-Requests",
		"X-Ratelimit-Remaining-Tokens", "X-Ratelimit-Reset-Requests", "X-Ratelimit-Reset-Tokens",
		"X-Request-Id", "X-Xss-Protection",
	} {
		m[k] = k
	}
	return m
}()

// headKey is the canonical form of a header name of token bytes
// (textproto.CanonicalMIMEHeaderKey's), false when it is too long to
// canonicalize here.
func headKey(name string) (string, bool) {
	var b [64]byte
	if len(name) > len(b) {
		return "", false
	}
	upper, changed := true, false
	for i := 0; i < len(name); i++ {
		c := name[i]
		if upper && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
			changed = true
		} else if !upper && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
			changed = true
		}
		b[i] = c
		upper = c == '-'
	}
	if !changed {
		return name, true // a substring of the head's text: no lookup, no allocation
	}
	k := b[:len(name)]
	if s, ok := commonKeys[string(k)]; ok {
		return s, true
	}
	return string(k), true
}

// fixedBody is a body of a known length read from the connection's
// reader, as net/http's: io.EOF with its last bytes,
// io.ErrUnexpectedEOF if the connection ends before.
type fixedBody struct {
	r *bufio.Reader
	n int64
}

func (b *fixedBody) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	n, err := b.r.Read(p)
	b.n -= int64(n)
	switch {
	case b.n == 0:
		return n, io.EOF
	case err == io.EOF:
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}

func (b *fixedBody) Close() error { return nil }
