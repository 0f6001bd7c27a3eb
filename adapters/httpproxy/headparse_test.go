package httpproxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// drain reads a parsed head's body, its error appended, and what is left
// on the connection after it.
func drain(body io.Reader, br *bufio.Reader) (string, string) {
	b, err := io.ReadAll(body)
	if err != nil {
		b = append(b, "|"+err.Error()...)
	}
	rest, _ := io.ReadAll(br)
	return string(b), string(rest)
}

// buffered is raw behind a reader of size bytes after its first fill,
// and what the fill holds.
func buffered(raw string, size int) (*bufio.Reader, []byte) {
	br := bufio.NewReaderSize(strings.NewReader(raw), size)
	br.Peek(1)
	buf, _ := br.Peek(br.Buffered())
	return br, buf
}

// sameAsReadResponse reads raw with readResponse and with
// http.ReadResponse and fails t where the two differ: the error, the
// response's fields, the body and what is left on the connection.
// It reports whether parseHead took the head itself, and whether it
// took it without a map when asked to (rawHead), which it checks the
// same way.
func sameAsReadResponse(t testing.TB, raw string, method string) (fast, unparsed bool) {
	req, _ := http.NewRequest(method, "http://gw/", nil)
	read := func(parse func(*bufio.Reader, *http.Request) (*http.Response, error)) (*http.Response, string, string, error) {
		br := bufio.NewReaderSize(strings.NewReader(raw), 1<<10)
		resp, err := parse(br, req)
		if err != nil {
			return nil, "", "", err
		}
		body, rest := drain(resp.Body, br)
		return resp, body, rest, nil
	}
	want, wantBody, wantRest, wantErr := read(http.ReadResponse)
	got, gotBody, gotRest, gotErr := read(func(br *bufio.Reader, req *http.Request) (*http.Response, error) {
		resp, _, err := readResponse(br, req, nil)
		return resp, err
	})
	if wantErr != nil || gotErr != nil {
		require.Equal(t, wantErr, gotErr, "errors for %q", raw)
		return false, false
	}
	br, buf := buffered(raw, 1<<10)
	r, _ := parseHead(buf, br, req, nil)
	fast = r != nil
	var rh rawHead
	br, buf = buffered(raw, 1<<10)
	if a, n := parseHead(buf, br, req, &rh); rh.ok {
		r := &a.resp
		unparsed = true
		br.Discard(n)
		require.True(t, fast, "held raw only where the map would be made here too: %q", raw)
		require.Nil(t, r.Header)
		require.Equal(t, want.Header, rh.header(), "%q", raw)
		for k := range want.Header {
			require.False(t, hopHeader(k), "%s held raw in %q", k, raw)
		}
		require.Equal(t, want.Status, r.Status)
		require.Equal(t, want.StatusCode, r.StatusCode)
		require.Equal(t, want.ContentLength, r.ContentLength)
		require.Equal(t, want.ContentLength, rh.n)
		require.Equal(t, firstValue(want.Header["Content-Type"]), rh.ctype)
		_, date := want.Header["Date"]
		require.Equal(t, date, rh.date)
		body, rest := drain(r.Body, br)
		require.Equal(t, wantBody, body, "body of %q", raw)
		require.Equal(t, wantRest, rest, "what is left of %q", raw)
	} else if a != nil {
		r := &a.resp
		require.NotNil(t, r.Header, "%q", raw)
		hop := false
		for k := range r.Header {
			hop = hop || hopHeader(k)
		}
		require.True(t, hop, "a map made where raw was asked for holds a hop-by-hop field: %q", raw)
	}
	require.Equal(t, want.Status, got.Status, "%q", raw)
	require.Equal(t, want.StatusCode, got.StatusCode)
	require.Equal(t, want.Proto, got.Proto)
	require.Equal(t, want.ProtoMajor, got.ProtoMajor)
	require.Equal(t, want.ProtoMinor, got.ProtoMinor)
	require.Equal(t, want.Header, got.Header, "%q", raw)
	require.Equal(t, want.ContentLength, got.ContentLength)
	require.Equal(t, want.TransferEncoding, got.TransferEncoding)
	require.Equal(t, want.Close, got.Close)
	require.Equal(t, want.Trailer, got.Trailer)
	require.Equal(t, want.Body == http.NoBody, got.Body == http.NoBody)
	require.Equal(t, wantBody, gotBody, "body of %q", raw)
	require.Equal(t, wantRest, gotRest, "what is left of %q", raw)
	return fast, unparsed
}

func TestReadResponseIsHTTPReadResponse(t *testing.T) {
	models := `{"object":"list","data":[]}`
	for _, c := range []struct {
		name, raw, method string
		fast              bool
		unparsed          bool // also held raw (rawHead) when asked
	}{
		{"gateway JSON", "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nDate: Wed, 02 Dec 2026 00:00:00 GMT\r\nContent-Length: 27\r\n\r\n" + models, "GET", true, true},
		{"next answer left alone", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n", "GET", true, true},
		{"empty body", "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n", "GET", true, true},
		{"status without reason", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", "GET", true, true},
		{"status line alone", "HTTP/1.1 200 OK\r\n\r\n", "GET", false, false},
		{"keys canonicalized", "HTTP/1.1 200 OK\r\ncontent-length: 1\r\nx-weird-KEY: a\r\nX-RateLimit-Remaining-Tokens: 9\r\n\r\nx", "GET", true, true},
		{"repeated keys in order", "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nVary: x\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n\r\n", "GET", true, true},
		{"values trimmed", "HTTP/1.1 200 OK\r\nX-A: \t a b \t\r\nX-B:\r\nX-C:c\r\nContent-Length: 0\r\n\r\n", "GET", true, true},
		{"obs-text kept", "HTTP/1.1 200 OK\r\nX-A: caf\xc3\xa9\r\nContent-Length: 0\r\n\r\n", "GET", true, true},
		{"a hop-by-hop field: a map", "HTTP/1.1 200 OK\r\nUpgrade: h2c\r\nContent-Length: 0\r\n\r\n", "GET", true, false},
		{"Proxy-Authenticate: a map", "HTTP/1.1 407 Proxy Authentication Required\r\nproxy-authenticate: Basic\r\nContent-Length: 0\r\n\r\n", "GET", true, false},
		{"Connection keep-alive", "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 0\r\n\r\n", "GET", true, false},
		{"Connection close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", "GET", false, false},
		{"body cut short", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "GET", true, true},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", "GET", false, false},
		{"event stream", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n5\r\ndata:\r\n0\r\n\r\n", "POST", false, false},
		{"trailer declared", "HTTP/1.1 200 OK\r\nTrailer: X\r\nContent-Length: 0\r\n\r\n", "GET", false, false},
		{"pragma", "HTTP/1.1 200 OK\r\nPragma: no-cache\r\nContent-Length: 0\r\n\r\n", "GET", false, false},
		{"until close", "HTTP/1.1 200 OK\r\n\r\nall of it", "GET", false, false},
		{"HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", "HEAD", false, false},
		{"204", "HTTP/1.1 204 No Content\r\n\r\n", "GET", false, false},
		{"304", "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", "GET", false, false},
		{"100 then 200", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "GET", false, false},
		{"HTTP/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", "GET", false, false},
		{"obs-fold", "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n", "GET", false, false},
		{"bare LF", "HTTP/1.1 200 OK\nContent-Length: 0\n\n", "GET", false, false},
		{"bare LF in a line", "HTTP/1.1 200 OK\r\nX-A: a\nContent-Length: 0\r\n\r\n", "GET", false, false},
		{"space before colon", "HTTP/1.1 200 OK\r\nX-A : a\r\nContent-Length: 0\r\n\r\n", "GET", false, false},
		{"control in a value", "HTTP/1.1 200 OK\r\nX-A: a\x01\r\nContent-Length: 0\r\n\r\n", "GET", false, false},
		{"two lengths agreeing", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", "GET", false, false},
		{"two lengths differing", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxy", "GET", false, false},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nx", "GET", false, false},
		{"empty length", "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n", "GET", false, false},
		{"bad status", "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n", "GET", false, false},
		{"no head end in the buffer", "HTTP/1.1 200 OK\r\nX-Long: " + strings.Repeat("a", 2000) + "\r\nContent-Length: 0\r\n\r\n", "GET", false, false},
		{"nothing", "", "GET", false, false},
		{"cut in the head", "HTTP/1.1 200 OK\r\nContent-Le", "GET", false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			fast, unparsed := sameAsReadResponse(t, c.raw, c.method)
			assert.Equal(t, c.fast, fast, "parsed by parseHead")
			assert.Equal(t, c.unparsed, unparsed, "held raw")
		})
	}
}

// FuzzParseHeadIsReadResponse: whatever parseHead takes, it reads as
// http.ReadResponse does.
func FuzzParseHeadIsReadResponse(f *testing.F) {
	f.Add("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}", false)
	f.Add("HTTP/1.1 404 Not Found\r\nx-a: 1\r\nX-A:  2 \r\ncontent-length: 0\r\n\r\n", true)
	f.Add("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false)
	f.Fuzz(func(t *testing.T, raw string, head bool) {
		method := "GET"
		if head {
			method = "HEAD"
		}
		sameAsReadResponse(t, raw, method)
	})
}

// sameAsReadRequest reads raw with readRequest and with http.ReadRequest
// and fails t where the two differ. It reports whether parseRequestHead
// took the head itself.
func sameAsReadRequest(t testing.TB, raw string) (fast bool) {
	read := func(parse func(*bufio.Reader) (*http.Request, error)) (*http.Request, string, string, error) {
		br := bufio.NewReaderSize(strings.NewReader(raw), 4<<10)
		br.Peek(1) // as Server does before it reads a request
		req, err := parse(br)
		if err != nil {
			return nil, "", "", err
		}
		body, rest := drain(req.Body, br)
		return req, body, rest, nil
	}
	want, wantBody, wantRest, wantErr := read(http.ReadRequest)
	got, gotBody, gotRest, gotErr := read(func(br *bufio.Reader) (*http.Request, error) {
		req, _, _, err := readRequest(br, context.Background(), nil)
		return req, err
	})
	if wantErr != nil || gotErr != nil {
		require.Equal(t, wantErr, gotErr, "errors for %q", raw)
		return false
	}
	br, buf := buffered(raw, 4<<10)
	in, _ := parseRequestHead(buf, br, context.Background())
	fast = in != nil
	if fast { // readRequest reports its names checked: checkRequest relies on it
		for k := range in.req.Header {
			require.True(t, validFieldName(k), "%q in %q", k, raw)
		}
	}
	require.Equal(t, want.Method, got.Method, "%q", raw)
	require.Equal(t, want.URL, got.URL, "%q", raw)
	require.Equal(t, want.RequestURI, got.RequestURI)
	require.Equal(t, want.Proto, got.Proto)
	require.Equal(t, want.ProtoMajor, got.ProtoMajor)
	require.Equal(t, want.ProtoMinor, got.ProtoMinor)
	require.Equal(t, want.Header, got.Header, "%q", raw)
	require.Equal(t, want.Host, got.Host)
	require.Equal(t, want.ContentLength, got.ContentLength)
	require.Equal(t, want.TransferEncoding, got.TransferEncoding)
	require.Equal(t, want.Close, got.Close)
	require.Equal(t, want.Trailer, got.Trailer)
	require.Equal(t, want.Body == http.NoBody, got.Body == http.NoBody)
	require.Equal(t, wantBody, gotBody, "body of %q", raw)
	require.Equal(t, wantRest, gotRest, "what is left of %q", raw)
	return fast
}

func TestReadRequestIsHTTPReadRequest(t *testing.T) {
	for _, c := range []struct {
		name, raw string
		fast      bool
	}{
		{"wrk GET", "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1:18091\r\nAuthorization: Bearer sk-test123\r\n\r\n", true},
		{"SDK POST", "POST /v1/chat/completions?x=1&y=%20 HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: OpenAI/Python 1.0\r\nContent-Type: application/json\r\nContent-Length: 2\r\nAccept: */*\r\nAccept: text/event-stream\r\n\r\n{}", true},
		{"pipelined", "GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n", true},
		{"keys canonicalized, values trimmed", "GET / HTTP/1.1\r\nhost: h\r\nx-api-KEY:  \tk \t\r\nx-e:\r\n\r\n", true},
		{"Connection close", "GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, close\r\n\r\n", true},
		{"no Host", "GET / HTTP/1.1\r\n\r\n", true},
		{"escaped path", "GET /a%2Fb/%7Ec?q=%zz;x HTTP/1.1\r\nHost: h\r\n\r\n", true},
		{"body cut short", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\n\r\nabc", true},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", false},
		{"absolute form", "GET http://x.example/a HTTP/1.1\r\nHost: h\r\n\r\n", false},
		{"asterisk", "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", false},
		{"CONNECT", "CONNECT x.example:443 HTTP/1.1\r\nHost: x.example:443\r\n\r\n", false},
		{"HTTP/1.0", "GET / HTTP/1.0\r\nHost: h\r\n\r\n", false},
		{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", false},
		{"chunked", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", false},
		{"length and chunked", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", false},
		{"two lengths", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", false},
		{"bad length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3x\r\n\r\nabc", false},
		{"negative length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", false},
		{"space before colon", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n", false},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n\tb\r\n\r\n", false},
		{"bare LF", "GET / HTTP/1.1\nHost: h\n\n", false},
		{"bare CR", "GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", false},
		{"control in a value", "GET / HTTP/1.1\r\nHost: h\r\nX-A: \x00\r\n\r\n", false},
		{"Pragma", "GET / HTTP/1.1\r\nHost: h\r\nPragma: no-cache\r\n\r\n", false},
		{"odd Connection", "GET / HTTP/1.1\r\nHost: h\r\nConnection: \"close\"\r\n\r\n", false},
		{"bad method", "G(T / HTTP/1.1\r\nHost: h\r\n\r\n", false},
		{"no target", "GET HTTP/1.1\r\n\r\n", false},
		{"two spaces", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", false},
		{"space in the target", "GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", false},
		{"control in the target", "GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n", false},
		{"no head end in the buffer", "GET / HTTP/1.1\r\nHost: h\r\nX: " + strings.Repeat("a", 5000) + "\r\n\r\n", false},
		{"cut in the head", "GET / HTTP/1.1\r\nHo", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.fast, sameAsReadRequest(t, c.raw), "parsed by parseRequestHead")
		})
	}
}

// FuzzParseRequestHeadIsReadRequest: whatever parseRequestHead takes, it
// reads as http.ReadRequest does; anything else is http.ReadRequest's.
func FuzzParseRequestHeadIsReadRequest(f *testing.F) {
	f.Add("GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer sk-x\r\n\r\n")
	f.Add("POST /v1/chat/completions?a=b HTTP/1.1\r\nhost: h\r\ncontent-length: 2\r\nConnection: close\r\n\r\n{}")
	f.Add("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
	f.Fuzz(func(t *testing.T, raw string) { sameAsReadRequest(t, raw) })
}

func FuzzPlainRequestURI(f *testing.F) {
	for _, s := range []string{"/v1/models", "/v1/chat/completions?key=sk-1&x=%20", "/a?", "/a??", "/a?b?c", "//evil.example/x",
		"/%41", "/a b", "/caf\xc3\xa9", "/a#b", "/a?b#c", "/a!b", "/$&+,:;=@", "/a?\x7f", "/a\x00", "*", "/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		got, ok := plainRequestURI(uri)
		if !ok {
			return
		}
		want, err := url.ParseRequestURI(uri)
		require.NoError(t, err, "%q", uri)
		require.Equal(t, *want, got, "%q", uri)
	})
}

// Repeated keys keep every value in order, before and past the lines
// whose keys parseFields remembers (32), as textproto reads them.
func TestParseFieldsRepeatedKeys(t *testing.T) {
	for _, n := range []int{3, 31, 32, 33, 40, 70} {
		var b strings.Builder
		b.WriteString("HTTP/1.1 200 OK\r\n")
		for i := range n {
			switch i % 5 {
			case 0:
				fmt.Fprintf(&b, "Set-Cookie: c%d=v\r\n", i)
			case 1:
				fmt.Fprintf(&b, "x-many: %d\r\n", i)
			default:
				fmt.Fprintf(&b, "X-Own-%d: v%d\r\n", i, i)
			}
		}
		b.WriteString("Content-Length: 0\r\n")
		head := b.String()
		r := textproto.NewReader(bufio.NewReader(strings.NewReader(head + "\r\n")))
		_, err := r.ReadLine() // the status line; ReadMIMEHeader reads the rest
		require.NoError(t, err)
		want, err := r.ReadMIMEHeader()
		require.NoError(t, err)
		_, got, set, ok := parseFields(head[:len(head)-2], 9, nil)
		require.True(t, ok, "%d lines", n)
		require.Equal(t, http.Header(want), got, "%d lines", n)
		require.Equal(t, fContentLength, set)
	}
}
