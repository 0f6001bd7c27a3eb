package httpproxy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// wholeRequest is one request of the kind writeWhole writes, made anew for
// each writer (writing consumes and closes its body).
type wholeRequest struct {
	name string
	make func() *http.Request
}

func newWhole(method, url, body string, edit func(*http.Request)) func() *http.Request {
	return func() *http.Request {
		var r *http.Request
		if body == "" {
			r, _ = http.NewRequest(method, url, nil)
		} else {
			r, _ = http.NewRequest(method, url, strings.NewReader(body))
		}
		if edit != nil {
			edit(r)
		}
		return r
	}
}

func wholeRequests() []wholeRequest {
	proxyLike := func(r *http.Request) {
		r.Host = "api.example.com"
		r.Header["Authorization"] = []string{"Bearer sk-abc"}
		r.Header["User-Agent"] = []string{""}
		r.Header["X-Forwarded-For"] = []string{"203.0.113.7"}
		r.Header["X-Real-Ip"] = []string{"203.0.113.7"}
		r.Header["X-Forwarded-Host"] = []string{"api.example.com"}
		r.Header["X-Forwarded-Proto"] = []string{"https"}
		r.Header["Accept"] = []string{"*/*", "application/json"}
	}
	reqs := []wholeRequest{
		{"plain GET", newWhole("GET", "http://127.0.0.1:3000/v1/models", "", nil)},
		{"GET as the proxy sends it", newWhole("GET", "http://127.0.0.1:3000/v1/models?limit=2&q=a%20b", "", proxyLike)},
		{"small POST", newWhole("POST", "http://gw:3000/v1/chat/completions", `{"model":"m","stream":true}`, proxyLike)},
		{"empty POST", newWhole("POST", "http://gw/v1/x", "", nil)},
		{"DELETE without a body", newWhole("DELETE", "http://gw/v1/x", "", nil)},
		{"PATCH without a body", newWhole("PATCH", "http://gw/x", "", nil)},
		{"NoBody", newWhole("POST", "http://gw/x", "", func(r *http.Request) { r.Body = http.NoBody })},
		{"HEAD", newWhole("HEAD", "http://gw/", "", nil)},
		{"no method", newWhole("GET", "http://gw/", "", func(r *http.Request) { r.Method = "" })},
		{"own User-Agent, trimmed, newlines", newWhole("GET", "http://gw/", "", func(r *http.Request) {
			r.Header["User-Agent"] = []string{" curl/8\r\n x ", "second"}
		})},
		{"User-Agent key without values", newWhole("GET", "http://gw/", "", func(r *http.Request) { r.Header["User-Agent"] = nil })},
		{"values with CR, LF, tabs", newWhole("GET", "http://gw/", "", func(r *http.Request) {
			r.Header["X-A"] = []string{"\t a\r\nb \t", "\r\n", ""}
		})},
		{"invalid names dropped", newWhole("GET", "http://gw/", "", func(r *http.Request) {
			r.Header["Bad Name"] = []string{"x"}
			r.Header["X-Ok"] = []string{"y"}
		})},
		{"excluded keys", newWhole("POST", "http://gw/", "abc", func(r *http.Request) {
			r.Header["Host"] = []string{"evil"}
			r.Header["Content-Length"] = []string{"99"}
			r.Header["Transfer-Encoding"] = []string{"chunked"}
			r.Header["Trailer"] = []string{"X"}
		})},
		{"Close", newWhole("GET", "http://gw/", "", func(r *http.Request) { r.Close = true })},
		{"Host from the URL", newWhole("GET", "http://gw.internal_1:8080/a/b", "", nil)},
		{"escaped path", newWhole("GET", "http://gw/a%2Fb/c%20d?x=%zz", "", nil)},
		{"opaque", newWhole("GET", "http://gw/", "", func(r *http.Request) { r.URL.Opaque = "//gw/raw%2Fpath" })},
		{"body at the bound", newWhole("POST", "http://gw/", strings.Repeat("x", wholeBodyMax), nil)},
	}
	// Header sets of random sizes and orders: the sorting must match.
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range 20 {
		n := rnd.IntN(40)
		reqs = append(reqs, wholeRequest{fmt.Sprintf("random %d headers", n), newWhole("GET", "http://gw/", "", func(r *http.Request) {
			rnd := rand.New(rand.NewPCG(uint64(i), 7))
			for j := range n {
				k := http.CanonicalHeaderKey(fmt.Sprintf("x-%c%d", 'a'+rnd.IntN(26), j))
				for range 1 + rnd.IntN(2) {
					r.Header.Add(k, fmt.Sprint(rnd.Int()))
				}
			}
		})})
	}
	return reqs
}

func write(t *testing.T, r *http.Request, f func(*bufio.Writer, *http.Request) error) string {
	t.Helper()
	var b bytes.Buffer
	bw := bufio.NewWriter(&b)
	require.NoError(t, f(bw, r))
	require.NoError(t, bw.Flush())
	return b.String()
}

// TestWriteWholeIsRequestWrite holds writeWhole to req.Write's bytes.
func TestWriteWholeIsRequestWrite(t *testing.T) {
	for _, c := range wholeRequests() {
		t.Run(c.name, func(t *testing.T) {
			want := write(t, c.make(), func(bw *bufio.Writer, r *http.Request) error { return r.Write(bw) })
			got := write(t, c.make(), func(bw *bufio.Writer, r *http.Request) error {
				wrote, err := writeWhole(bw, r)
				require.True(t, wrote, "writeWhole should write this request")
				return err
			})
			assert.Equal(t, want, got)
		})
	}
}

// closeCount is a body that counts its Close calls.
type closeCount struct {
	io.Reader
	closed int
}

func (c *closeCount) Close() error { c.closed++; return nil }

func TestWriteWholeClosesTheBodyAndChecksItsLength(t *testing.T) {
	for _, c := range []struct {
		name    string
		body    string
		declare int64
		err     string
	}{
		{"exact", "abc", 3, ""},
		{"short", "ab", 3, "http: ContentLength=3 with Body length 2"},
		{"long", "abcd", 3, "http: ContentLength=3 with Body length 4"},
	} {
		t.Run(c.name, func(t *testing.T) {
			mk := func() (*http.Request, *closeCount) {
				b := &closeCount{Reader: strings.NewReader(c.body)}
				r, _ := http.NewRequest("POST", "http://gw/", nil)
				r.Body, r.ContentLength = b, c.declare
				r.GetBody = func() (io.ReadCloser, error) { return nil, nil }
				return r, b
			}
			r, body := mk()
			var out bytes.Buffer
			bw := bufio.NewWriter(&out)
			wrote, err := writeWhole(bw, r)
			require.True(t, wrote)
			r2, body2 := mk()
			wantErr := r2.Write(io.Discard)
			if c.err == "" {
				require.NoError(t, err)
				require.NoError(t, wantErr)
			} else {
				require.EqualError(t, err, c.err)
				require.EqualError(t, wantErr, c.err)
			}
			assert.Equal(t, 1, body.closed)
			assert.Equal(t, body2.closed, body.closed)
		})
	}
}

// TestWriteWholeLeavesTheRestToRequestWrite: what it does not write
// exactly as req.Write would, it does not write at all.
func TestWriteWholeLeavesTheRestToRequestWrite(t *testing.T) {
	traced := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{WroteHeaders: func() {}})
	for name, edit := range map[string]func(*http.Request){
		"IPv6 host":          func(r *http.Request) { r.Host = "[fe80::1%25eth0]:80" },
		"non-ASCII host":     func(r *http.Request) { r.Host = "bücher.example" },
		"invalid host":       func(r *http.Request) { r.Host = "a b" },
		"control in the URI": func(r *http.Request) { r.URL.RawQuery = "a=\x01" },
		"CONNECT":            func(r *http.Request) { r.Method = http.MethodConnect },
		"chunked":            func(r *http.Request) { r.TransferEncoding = []string{"chunked"} },
		"trailers":           func(r *http.Request) { r.Trailer = http.Header{"X": nil} },
		"a trace of writing": func(r *http.Request) { *r = *r.WithContext(traced) },
		"streamed body":      func(r *http.Request) { r.Body, r.ContentLength = io.NopCloser(strings.NewReader("x")), 1 },
		"body of unknown size": func(r *http.Request) {
			r.Body, r.ContentLength, r.GetBody = io.NopCloser(strings.NewReader("x")), -1, nil
		},
		"large body": func(r *http.Request) {
			b := strings.Repeat("x", wholeBodyMax+1)
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader(b)), int64(len(b))
			r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(b)), nil }
		},
		"length without a body": func(r *http.Request) { r.ContentLength = 3 },
		"Close beside a Connection header": func(r *http.Request) {
			r.Close = true
			r.Header["Connection"] = []string{"keep-alive close"} // net/http's tokens, not hasToken's
		},
	} {
		t.Run(name, func(t *testing.T) {
			r, _ := http.NewRequest("GET", "http://gw/", nil)
			edit(r)
			var out bytes.Buffer
			bw := bufio.NewWriter(&out)
			wrote, err := writeWhole(bw, r)
			require.NoError(t, err)
			require.False(t, wrote)
			require.NoError(t, bw.Flush())
			require.Zero(t, out.Len(), "nothing written")
		})
	}
}
