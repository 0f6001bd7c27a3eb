package httpproxy_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/httpproxy"
	"github.com/keyipsentinel/sentinel/mock"
)

// The conformance suite: every HTTP behaviour the proxy promises, run
// through the whole proxy once per transport engine, against real
// loopback servers.

// forEachEngine runs f once per engine as a subtest.
func forEachEngine(t *testing.T, f func(t *testing.T, e engine)) {
	t.Helper()
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) { f(t, e) })
	}
}

func authed(t *testing.T, method, url string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer sk-"+realKey)
	return req
}

func TestConformanceSSEEventByEvent(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		const n = 5
		received := make(chan int)
		up, _ := serveLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			for i := range n {
				fmt.Fprintf(w, "data: %d\n\n", i)
				http.NewResponseController(w).Flush()
				select {
				case <-received: // the client has it: only then the next one
				case <-time.After(10 * time.Second):
					t.Errorf("event %d did not reach the client: the proxy buffers", i)
					return
				case <-r.Context().Done():
					return
				}
			}
		}))
		base := e.proxyFor(t, up, nil)
		resp, err := http.DefaultClient.Do(authed(t, http.MethodPost, base+"/v1/chat/completions", strings.NewReader(`{"stream":true}`)))
		require.NoError(t, err)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		got := 0
		for got < n && sc.Scan() {
			if line := sc.Text(); line != "" {
				require.Equal(t, fmt.Sprintf("data: %d", got), line)
				received <- got
				got++
			}
		}
		require.Equal(t, n, got)
	})
}

func TestConformanceWebSocketEcho(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		up, _ := serveLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := websocket.Accept(w, r, nil)
			if err != nil {
				return
			}
			defer c.CloseNow()
			for {
				typ, msg, err := c.Read(r.Context())
				if err != nil {
					return
				}
				if err := c.Write(r.Context(), typ, append([]byte("echo: "), msg...)); err != nil {
					return
				}
			}
		}))
		base := e.proxyFor(t, up, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/v1/realtime",
			&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer sk-" + realKey}}})
		require.NoError(t, err)
		defer c.CloseNow()
		require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
		for i := range 3 {
			msg := fmt.Sprintf("ping %d", i)
			require.NoError(t, c.Write(ctx, websocket.MessageText, []byte(msg)))
			_, got, err := c.Read(ctx)
			require.NoError(t, err)
			require.Equal(t, "echo: "+msg, string(got))
		}
		require.NoError(t, c.Close(websocket.StatusNormalClosure, ""))
	})
}

// TestConformanceChunkedUploadStreamed sends a body of unknown length,
// far larger than any buffer on the way, and proves it is streamed, never
// held back whole: the upstream has the first part before the client
// sends the rest (a proxy buffering the body would deadlock the test).
func TestConformanceChunkedUploadStreamed(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		const part = 64 << 10
		const parts = 128 // 8 MiB in all
		gotFirst := make(chan struct{})
		up, _ := serveLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if len(r.TransferEncoding) == 0 || r.TransferEncoding[0] != "chunked" {
				t.Errorf("upstream got transfer encoding %v, content length %d; want chunked", r.TransferEncoding, r.ContentLength)
			}
			h := sha256.New()
			if _, err := io.CopyN(h, r.Body, part); err != nil {
				t.Errorf("first part: %v", err)
				return
			}
			close(gotFirst)
			n, err := io.Copy(h, r.Body)
			if err != nil {
				t.Errorf("rest: %v", err)
			}
			fmt.Fprintf(w, "%d %s", part+n, hex.EncodeToString(h.Sum(nil)))
		}))
		base := e.proxyFor(t, up, nil)
		pr, pw := io.Pipe()
		want := sha256.New()
		go func() {
			chunk := []byte(strings.Repeat("x", part))
			for i := range parts {
				want.Write(chunk)
				if _, err := pw.Write(chunk); err != nil {
					return
				}
				if i == 0 {
					select {
					case <-gotFirst:
					case <-time.After(10 * time.Second):
						pw.CloseWithError(fmt.Errorf("the upstream never got the first part: the proxy holds the body back"))
						return
					}
				}
			}
			pw.Close()
		}()
		req := authed(t, http.MethodPost, base+"/v1/files", io.NopCloser(pr))
		req.ContentLength = -1
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("%d %s", parts*part, hex.EncodeToString(want.Sum(nil))), string(body))
	})
}

// proxiedRequest is what the upstream saw of one request.
type proxiedRequest struct {
	header http.Header
	proto  string
	remote string
}

// recordingUpstream answers 200 JSON and records each request.
func recordingUpstream(t *testing.T, answer func(w http.ResponseWriter, r *http.Request)) (string, func() []proxiedRequest) {
	t.Helper()
	var mu sync.Mutex
	var seen []proxiedRequest
	up, _ := serveLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		seen = append(seen, proxiedRequest{header: r.Header.Clone(), proto: r.Proto, remote: r.RemoteAddr})
		mu.Unlock()
		if answer != nil {
			answer(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, modelsBody)
	}))
	return up, func() []proxiedRequest { mu.Lock(); defer mu.Unlock(); return append([]proxiedRequest(nil), seen...) }
}

func TestConformanceHeaders(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		up, seen := recordingUpstream(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Connection", "X-Hop-Out")
			w.Header().Set("X-Hop-Out", "secret")
			w.Header().Set("Keep-Alive", "timeout=5")
			w.Header().Set("X-End", "kept")
			io.WriteString(w, "{}")
		})
		base := e.proxyFor(t, up, nil)
		req := authed(t, http.MethodGet, base+"/v1/models", nil)
		req.Header.Set("X-Real-IP", "203.0.113.7")
		req.Header.Set("X-Forwarded-For", "203.0.113.8")
		req.Header.Set("Connection", "X-Hop-In")
		req.Header.Set("X-Hop-In", "dropped")
		req.Header.Set("Proxy-Authorization", "Basic Zm9vOmJhcg==")
		req.Header.Set("X-End-To-End", "kept")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Empty(t, resp.Header.Get("X-Hop-Out"), "a header the upstream named in Connection is dropped")
		require.Empty(t, resp.Header.Get("Keep-Alive"))
		require.Equal(t, "kept", resp.Header.Get("X-End"))

		got := seen()
		require.Len(t, got, 1)
		h := got[0].header
		require.Equal(t, "127.0.0.1", h.Get("X-Real-IP"), "client headers are overwritten with the decided client")
		require.Equal(t, []string{"127.0.0.1"}, h.Values("X-Forwarded-For"))
		require.Empty(t, h.Get("X-Hop-In"))
		require.Empty(t, h.Get("Proxy-Authorization"))
		require.Empty(t, h.Get("Connection"))
		require.Equal(t, "kept", h.Get("X-End-To-End"))
		require.Equal(t, "HTTP/1.1", got[0].proto)
	})
}

func TestConformanceInformational(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		up, _ := recordingUpstream(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Link", "</style.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			w.Header().Del("Link")
			io.WriteString(w, "{}")
		})
		base := e.proxyFor(t, up, nil)
		var hints hintLog
		getTraced(t, base+"/v1/models", hints.trace(""))
		require.Equal(t, []string{"103 </style.css>; rel=preload"}, hints.all())
	})
}

// TestConformanceInformationalKeepsTheRequestID: a 103 relayed before
// the final answer carries the downstream's hints, and the final answer
// still carries the request id the Proxy set (and whatever else handlers
// before forward set), not only what the downstream's final head says.
func TestConformanceInformationalKeepsTheRequestID(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		up, _ := serveLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Link", "</style.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			w.Header().Del("Link")
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, "{}")
		}))
		base := e.proxyFor(t, up, nil)
		var mu sync.Mutex
		var hints []http.Header
		trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			mu.Lock()
			hints = append(hints, http.Header(h).Clone())
			mu.Unlock()
			return nil
		}}
		req := authed(t, http.MethodGet, base+"/v1/models", nil)
		resp, err := http.DefaultClient.Do(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
		require.NoError(t, err)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Regexp(t, `^[0-9a-f]{32}$`, resp.Header.Get("X-Request-Id"), "the final answer keeps its request id")
		require.Empty(t, resp.Header.Values("Link"), "the hint's headers stay on the 103")
		require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		mu.Lock()
		defer mu.Unlock()
		require.Len(t, hints, 1)
		require.Equal(t, []string{"</style.css>; rel=preload"}, hints[0].Values("Link"))
	})
}

// hintLog records the 1xx answers traces hear of, as "prefix code Link".
type hintLog struct {
	mu    sync.Mutex
	hints []string
}

func (l *hintLog) trace(prefix string) *httptrace.ClientTrace {
	return &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		l.mu.Lock()
		l.hints = append(l.hints, fmt.Sprintf("%s%d %s", prefix, code, h.Get("Link")))
		l.mu.Unlock()
		return nil
	}}
}

func (l *hintLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.hints)
}

// getTraced GETs url with a key under trace and wants a 200.
func getTraced(t *testing.T, url string, trace *httptrace.ClientTrace) {
	t.Helper()
	req := authed(t, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
	require.NoError(t, err)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

// TestInformationalReachesAHandlersOwnTrace: a handler before the Proxy
// that traces the downstream request hears of the 1xx too, after the Proxy
// relayed it (as with ReverseProxy, whose trace composes with it).
func TestInformationalReachesAHandlersOwnTrace(t *testing.T) {
	up, _ := recordingUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</a.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		io.WriteString(w, "{}")
	})
	u, err := url.Parse(up)
	require.NoError(t, err)
	allow := &mock.Decider{DecideFn: func(context.Context, sentinel.Request) (sentinel.Decision, error) {
		return sentinel.Decision{Allow: true}, nil
	}}
	p, err := httpproxy.NewProxy(u, newMiddleware(t, httpproxy.MiddlewareOptions{Decider: allow}), httpproxy.ProxyOptions{})
	require.NoError(t, err)
	var seen hintLog
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.ServeHTTP(w, r.WithContext(httptrace.WithClientTrace(r.Context(), seen.trace("handler "))))
	}))
	defer front.Close()
	getTraced(t, front.URL+"/v1/models", seen.trace("client "))
	require.ElementsMatch(t, []string{"handler 103 </a.css>; rel=preload", "client 103 </a.css>; rel=preload"}, seen.all())
}

func TestConformanceTrailers(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		up, _ := recordingUpstream(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Trailer", "X-Checksum")
			io.WriteString(w, "body")
			http.NewResponseController(w).Flush()
			w.Header().Set("X-Checksum", "abc123")
		})
		base := e.proxyFor(t, up, nil)
		resp, err := http.DefaultClient.Do(authed(t, http.MethodGet, base+"/v1/models", nil))
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, "body", string(body))
		require.Equal(t, "abc123", resp.Trailer.Get("X-Checksum"))
	})
}

func TestConformanceExpectContinue(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		up, seen := recordingUpstream(t, func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "stored")
		})
		base := e.proxyFor(t, up, nil)
		client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: time.Minute}}
		defer client.CloseIdleConnections()
		var got100 bool
		trace := &httptrace.ClientTrace{Got100Continue: func() { got100 = true }}
		body := strings.Repeat("b", 100<<10)
		req := authed(t, http.MethodPut, base+"/v1/files/f", strings.NewReader(body))
		req.Header.Set("Expect", "100-continue")
		resp, err := client.Do(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
		require.NoError(t, err)
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, "stored", string(out))
		require.True(t, got100, "the client was told to go on (it waits a minute otherwise)")
		require.Len(t, seen(), 1)
	})
}

// rawExchange writes raw on a new connection to base and returns all it
// reads until the proxy closes the connection.
func rawExchange(t *testing.T, base, raw string) string {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = io.WriteString(c, raw)
	require.NoError(t, err)
	out, err := io.ReadAll(c)
	require.NoError(t, err, "the proxy closes the connection after its answer")
	return string(out)
}

func TestConformanceHTTP10AndConnectionClose(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		up, seen := recordingUpstream(t, nil)
		base := e.proxyFor(t, up, nil)
		auth := "Authorization: Bearer sk-" + realKey + "\r\n"
		for _, raw := range []string{
			"GET /v1/models HTTP/1.0\r\nHost: x\r\n" + auth + "\r\n",
			"GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + auth + "\r\n",
		} {
			out := rawExchange(t, base, raw)
			resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(out)), nil)
			require.NoError(t, err)
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.Equal(t, modelsBody, string(body))
			require.NotContains(t, resp.TransferEncoding, "chunked", "an HTTP/1.0 client cannot read chunks")
		}
		require.Len(t, seen(), 2)
	})
}

// TestConformanceUpstreamConnections: keep-alive connections are reused,
// a connection the upstream closes (by answering Connection: close, by
// answering HTTP/1.0-style without a length, or while idle) is not, and
// no request fails for it.
func TestConformanceUpstreamConnections(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		up, seen := recordingUpstream(t, func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Query().Get("mode") {
			case "close":
				w.Header().Set("Connection", "close")
			case "nolength":
				w.Header().Set("Connection", "close")
				w.(http.Flusher).Flush() // no length, the body ends with the connection
			case "nocontent":
				w.WriteHeader(http.StatusNoContent)
				return
			}
			io.WriteString(w, "{}")
		})
		tr := e.transport()
		base := proxyOn(t, up, tr, nil, e.netHTTP)
		client := &http.Client{Transport: &http.Transport{}}
		defer client.CloseIdleConnections()
		do := func(method, query string, body io.Reader) int {
			t.Helper()
			resp, err := client.Do(authed(t, method, base+"/v1/models"+query, body))
			require.NoError(t, err)
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.StatusCode
		}
		for range 3 {
			require.Equal(t, http.StatusOK, do(http.MethodGet, "", nil))
		}
		require.Equal(t, http.StatusNoContent, do(http.MethodGet, "?mode=nocontent", nil))
		require.Equal(t, http.StatusOK, do(http.MethodHead, "", nil))
		first := seen()
		for _, r := range first[1:] {
			require.Equal(t, first[0].remote, r.remote, "one keep-alive connection carries sequential requests")
		}
		require.Equal(t, http.StatusOK, do(http.MethodGet, "?mode=close", nil))
		require.Equal(t, http.StatusOK, do(http.MethodGet, "?mode=nolength", nil))
		require.Equal(t, http.StatusOK, do(http.MethodPost, "", strings.NewReader(`{"a":1}`)))
		got := seen()
		require.NotEqual(t, got[len(got)-3].remote, got[len(got)-1].remote, "a connection closed by the upstream is not reused")
	})
}

// TestConformanceIdleConnectionClosedByUpstream: the upstream closes its
// idle keep-alive connections; the next requests still succeed. Only
// requests without a body: http.Transport answers a POST sent right after
// the close with 502 (its reader goroutine has not seen the EOF yet, and a
// body cannot be replayed); Upstream peeks at the socket before reusing a
// connection, see TestUpstreamPostAfterIdleClose.
func TestConformanceIdleConnectionClosedByUpstream(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		var mu sync.Mutex
		seen := 0
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			mu.Lock()
			seen++
			mu.Unlock()
			io.WriteString(w, modelsBody)
		}))
		defer up.Close()
		base := e.proxyFor(t, up.URL, nil)
		client := &http.Client{Transport: &http.Transport{}}
		defer client.CloseIdleConnections()
		for i, body := range []string{"", "", "", ""} {
			var r io.Reader
			method := http.MethodGet
			if body != "" {
				r, method = strings.NewReader(body), http.MethodPost
			}
			resp, err := client.Do(authed(t, method, base+"/v1/models", r))
			require.NoError(t, err, "request %d", i)
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode, "request %d", i)
			up.CloseClientConnections() // the upstream drops its keep-alive connections
		}
		mu.Lock()
		defer mu.Unlock()
		require.Equal(t, 4, seen)
	})
}

func TestConformanceClientGoneCancelsUpstream(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		upstreamDone := make(chan struct{})
		up, _ := serveLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: 0\n\n")
			http.NewResponseController(w).Flush()
			<-r.Context().Done() // the proxy closed the upstream connection
			close(upstreamDone)
		}))
		base := e.proxyFor(t, up, nil)
		ctx, cancel := context.WithCancel(context.Background())
		req := authed(t, http.MethodPost, base+"/v1/chat/completions", strings.NewReader(`{}`))
		resp, err := http.DefaultClient.Do(req.WithContext(ctx))
		require.NoError(t, err)
		line, err := bufio.NewReader(resp.Body).ReadString('\n')
		require.NoError(t, err)
		require.Equal(t, "data: 0\n", line)
		cancel()
		resp.Body.Close()
		select {
		case <-upstreamDone:
		case <-time.After(10 * time.Second):
			t.Fatal("the upstream never learned that the client went away")
		}
	})
}

// TestConformanceClientGoneBeforeTheAnswerCancelsUpstream: a client that
// hangs up while the downstream has not answered yet ends the exchange
// (the downstream sees its connection closed), as one that hangs up
// during a stream does.
func TestConformanceClientGoneBeforeTheAnswerCancelsUpstream(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		arrived, upstreamDone := make(chan struct{}), make(chan struct{})
		up, _ := serveLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(arrived)
			<-r.Context().Done() // the proxy closed the upstream connection
			close(upstreamDone)
		}))
		base := e.proxyFor(t, up, nil)
		c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		require.NoError(t, err)
		_, err = io.WriteString(c, "GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-"+realKey+"\r\n\r\n")
		require.NoError(t, err)
		select {
		case <-arrived:
		case <-time.After(10 * time.Second):
			t.Fatal("the request never reached the upstream")
		}
		c.Close()
		select {
		case <-upstreamDone:
		case <-time.After(10 * time.Second):
			t.Fatal("the upstream never learned that the client went away")
		}
	})
}

func TestConformanceErrorShapes(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		dead := "http://" + ln.Addr().String()
		ln.Close()
		base := e.proxyFor(t, dead, nil)
		status, body := call(t, "127.0.0.1", authed(t, http.MethodGet, base+"/v1/models", nil))
		require.Equal(t, http.StatusBadGateway, status)
		require.Equal(t, httpproxy.CodeDownstreamUnavailable, decodeError(t, body).Error.Code)

		down := &mock.Decider{DecideFn: func(context.Context, sentinel.Request) (sentinel.Decision, error) {
			return sentinel.Decision{}, sentinel.Errorf(sentinel.EUNAVAILABLE, "stores down")
		}}
		up, _ := recordingUpstream(t, nil)
		base = e.proxyFor(t, up, down)
		status, body = call(t, "127.0.0.1", authed(t, http.MethodGet, base+"/v1/models", nil))
		require.Equal(t, http.StatusServiceUnavailable, status)
		require.Equal(t, "sentinel_unavailable", decodeError(t, body).Error.Code)
	})
}

func TestConformanceHTTPSDownstream(t *testing.T) {
	tlsUp := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, modelsBody)
	}))
	defer tlsUp.Close()
	https := tlsUp.Client().Transport
	for _, tr := range []struct {
		name string
		rt   http.RoundTripper
	}{
		{"http.Transport", https},
		{"Upstream", httpproxy.NewUpstream(httpproxy.UpstreamOptions{HTTPS: https})},
	} {
		t.Run(tr.name, func(t *testing.T) {
			base := proxyFor(t, tlsUp.URL, tr.rt, nil)
			status, body := call(t, "127.0.0.1", authed(t, http.MethodGet, base+"/v1/models", nil))
			require.Equal(t, http.StatusOK, status)
			require.Equal(t, modelsBody, string(body))
		})
	}
}

// TestConformanceBodyStillFlowsAfterTheAnswersHead: a downstream may
// answer (a stream's head and first event) before it has read the request
// body, and read it after; the body still reaches it whole. On a net/http
// server the Proxy asks for full duplex: without it, the flush of the
// answer's head consumed what was left of the body from under the
// transport still sending it, which then closed the downstream connection
// and cut the stream (seen as a flaky stream test under load).
func TestConformanceBodyStillFlowsAfterTheAnswersHead(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		up, _ := serveLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.NewResponseController(w).EnableFullDuplex()
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: first\n\n")
			http.NewResponseController(w).Flush()
			n, err := io.Copy(io.Discard, r.Body)
			if err != nil {
				return
			}
			fmt.Fprintf(w, "data: got %d\n\n", n)
		}))
		base := e.proxyFor(t, up, nil)
		// Larger than a transport's write buffer, smaller than what
		// net/http's server consumes of an unread body (256 KiB).
		body := bytes.Repeat([]byte("x"), 200<<10)
		client := &http.Client{Timeout: 10 * time.Second} // a cut stream may leave the upload hanging
		defer client.CloseIdleConnections()
		for range 20 { // a race: the cut came in about a third of single tries
			resp, err := client.Do(authed(t, http.MethodPost, base+"/v1/chat/completions", bytes.NewReader(body)))
			require.NoError(t, err)
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err, "the stream was cut (read %q)", got)
			require.Equal(t, fmt.Sprintf("data: first\n\ndata: got %d\n\n", len(body)), string(got))
		}
	})
}

// TestConformanceAnswerFieldsPassedOn: a downstream's answer reaches the
// client with every field it sent (repeated ones in order, values as
// sent), the proxy's X-Request-Id before the downstream's own, and a Date
// added only where the downstream sent none; on a keep-alive connection,
// answer after answer. The binaries' engine sends such a head's field
// lines on as they came, never parsed into a map (rawHead): the lines
// are found on the wire byte for byte, names in the downstream's case.
func TestConformanceAnswerFieldsPassedOn(t *testing.T) {
	heads := []string{
		"HTTP/1.1 200 OK\r\ncontent-type:  text/event-stream \r\nX-Custom: a\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Request-Id: gw-1\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 201 Created\r\nDate: Wed, 02 Dec 2026 00:00:00 GMT\r\nContent-Length: 2\r\n\r\nok",
	}
	down := serveTCP(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for i := 0; ; i++ {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			if _, err := io.WriteString(c, heads[i%len(heads)]); err != nil {
				return
			}
		}
	})
	forEachEngine(t, func(t *testing.T, e engine) {
		base := e.proxyFor(t, "http://"+down, nil)
		c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
		var wire bytes.Buffer
		br := bufio.NewReader(io.TeeReader(c, &wire))
		for round := range 2 {
			for i := range heads {
				_, err := io.WriteString(c, "GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-"+realKey+"\r\n\r\n")
				require.NoError(t, err)
				resp, err := http.ReadResponse(br, nil)
				require.NoError(t, err, "round %d, answer %d", round, i)
				body, err := io.ReadAll(resp.Body)
				require.NoError(t, err)
				ids := resp.Header.Values("X-Request-Id")
				require.Len(t, ids, 1+strings.Count(heads[i], "X-Request-Id"), "%v", resp.Header)
				require.Regexp(t, `^[0-9a-f]{32}$`, ids[0], "the proxy's id first")
				require.Len(t, resp.Header.Values("Date"), 1, "one Date, the downstream's where it sent one")
				if i == 0 {
					require.Equal(t, http.StatusOK, resp.StatusCode)
					require.Equal(t, "hello", string(body))
					require.Equal(t, "gw-1", ids[1])
					require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
					require.Equal(t, "a", resp.Header.Get("X-Custom"))
					require.Equal(t, []string{"a=1", "b=2"}, resp.Header.Values("Set-Cookie"))
				} else {
					require.Equal(t, http.StatusCreated, resp.StatusCode)
					require.Equal(t, "ok", string(body))
					require.Equal(t, "Wed, 02 Dec 2026 00:00:00 GMT", resp.Header.Get("Date"))
				}
			}
		}
		if e.name == "Server+Upstream" {
			require.Contains(t, wire.String(), "\r\ncontent-type:  text/event-stream \r\nX-Custom: a\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Request-Id: gw-1\r\nContent-Length: 5\r\n",
				"the downstream's field lines sent on as they came")
		}
	})
}
