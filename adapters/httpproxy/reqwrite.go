package httpproxy

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"slices"
	"strconv"
	"strings"
)

// writeWhole writes req as req.Write does, byte for byte, for the
// requests a proxy sends most: no body, or a small one in memory
// (wholeOnceWritten), to a plain host name or address, with no trailers
// and no trace of the writing to report. It reports false, having written
// nothing, for every other request; req.Write writes those.
//
// req.Write costs a small GET about 4 % of the proxy's CPU and 10
// allocations (fmt for the request line and the Host, a transferWriter,
// the header sorter, the replacer of newlines in every value); this
// writes the same bytes with none but the request URI's
// (docs/performance.md, round 7). TestWriteWholeIsRequestWrite holds it
// to req.Write's bytes.
func writeWhole(bw *bufio.Writer, req *http.Request) (bool, error) {
	if !writesWhole(req) {
		return false, nil
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if !plainHost(host) {
		return false, nil // punycode, an IPv6 zone, or invalid: req.Write's to settle
	}
	ruri := req.URL.RequestURI()
	if stringHasCTL(ruri) {
		return false, nil // req.Write's error
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	bw.WriteString(method)
	bw.WriteByte(' ')
	bw.WriteString(ruri)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(host)
	bw.WriteString("\r\n")
	ua := "Go-http-client/1.1" // net/http's default
	if vv, ok := req.Header["User-Agent"]; ok {
		ua = ""
		if len(vv) > 0 {
			ua = vv[0]
		}
	}
	if ua != "" {
		bw.WriteString("User-Agent: ")
		writeFieldValue(bw, ua)
		bw.WriteString("\r\n")
	}
	if req.Close {
		if conn := req.Header["Connection"]; len(conn) == 0 || !hasToken(conn[:1], "close") {
			bw.WriteString("Connection: close\r\n")
		}
	}
	n := req.ContentLength
	if req.Body == nil || req.Body == http.NoBody {
		n = 0
	}
	if n > 0 || req.Method == http.MethodPost || req.Method == http.MethodPut || req.Method == http.MethodPatch {
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(bw.AvailableBuffer(), n, 10))
		bw.WriteString("\r\n")
	}
	writeSortedHeader(bw, req.Header)
	_, err := bw.WriteString("\r\n")
	if n > 0 {
		err = writeWholeBody(bw, req.Body, n)
	} else if req.Body != nil {
		req.Body.Close() // as req.Write
	}
	return true, err
}

// writesWhole tells the requests writeWhole writes.
func writesWhole(req *http.Request) bool {
	if req.URL == nil || req.Method == http.MethodConnect || len(req.TransferEncoding) > 0 || req.Trailer != nil ||
		(req.Close && len(req.Header["Connection"]) > 0) { // net/http reads its tokens its own way then

		return false
	}
	if t := httptrace.ContextClientTrace(req.Context()); t != nil &&
		(t.WroteHeaderField != nil || t.WroteHeaders != nil || t.WroteRequest != nil || t.Wait100Continue != nil) {
		return false
	}
	if req.Body == nil || req.Body == http.NoBody {
		return req.ContentLength == 0 || req.Body == http.NoBody
	}
	return req.GetBody != nil && req.ContentLength > 0 && req.ContentLength <= wholeBodyMax
}

// plainHost reports whether a Host value is a name or an IPv4 address,
// with or without a port: what req.Write sends unchanged.
func plainHost(h string) bool {
	if h == "" {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == ':' || c == '_') {
			return false
		}
	}
	return true
}

func stringHasCTL(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// writeSortedHeader writes h but the keys req.Write writes itself, sorted
// by key as Header.Write does, dropping invalid names as it does.
func writeSortedHeader(bw *bufio.Writer, h http.Header) {
	type field struct {
		k  string
		vv []string
	}
	var small [24]field // an SDK's request carries about twenty
	fields := small[:0] // with their values: no second lookup per key
	for k, vv := range h {
		switch k {
		case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer":
			continue
		}
		fields = append(fields, field{k, vv})
	}
	slices.SortFunc(fields, func(a, b field) int { return strings.Compare(a.k, b.k) })
	for _, f := range fields {
		if !validFieldName(f.k) {
			continue
		}
		for _, v := range f.vv {
			bw.WriteString(f.k)
			bw.WriteString(": ")
			writeFieldValue(bw, v)
			bw.WriteString("\r\n")
		}
	}
}

// writeFieldValue writes v as Header.Write does: CR and LF as spaces,
// without leading and trailing spaces and tabs.
func writeFieldValue(bw *bufio.Writer, v string) {
	v = trimOWS(v)
	if hasLineBreak(v) {
		v = trimOWS(strings.Map(func(r rune) rune {
			if r == '\r' || r == '\n' {
				return ' '
			}
			return r
		}, v))
	}
	bw.WriteString(v)
}

// writeWholeBody writes a body of n bytes and closes it; one of another
// length fails as with req.Write.
func writeWholeBody(bw *bufio.Writer, body io.ReadCloser, n int64) error {
	defer body.Close()
	got, err := io.CopyN(bw, body, n)
	if err != nil && err != io.EOF {
		return err
	}
	if got == n {
		var extra int64
		extra, err = io.Copy(io.Discard, body)
		if err != nil {
			return err
		}
		got += extra
	}
	if got != n {
		return fmt.Errorf("http: ContentLength=%d with Body length %d", n, got)
	}
	return nil
}
