package httpproxy_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyipsentinel/sentinel/adapters/httpproxy"
)

// The proxy listener's own HTTP/1.1 server, on raw connections: what
// net/http's server does that the conformance suite (which runs through
// the whole proxy) does not reach.

// rawServer serves h with httpproxy.Server under limits and returns its
// address and the server.
func rawServer(t *testing.T, limits httpproxy.Limits, h http.Handler) (string, *httpproxy.Server) {
	t.Helper()
	srv := limits.NewServer(h, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		require.ErrorIs(t, <-served, http.ErrServerClosed)
	})
	return ln.Addr().String(), srv
}

func dialRaw(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	return c, bufio.NewReader(c)
}

func readAnswer(t *testing.T, br *bufio.Reader, method string) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	return resp, string(b)
}

func echoPath(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, "path="+r.URL.Path)
}

func TestServerPipelinedRequestsAnswerInOrder(t *testing.T) {
	addr, _ := rawServer(t, httpproxy.Limits{}, http.HandlerFunc(echoPath))
	c, br := dialRaw(t, addr)
	_, err := io.WriteString(c, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"+
		"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"+
		"GET /c HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	for _, want := range []string{"path=/a", "path=/b", "path=/c"} {
		resp, body := readAnswer(t, br, http.MethodGet)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, want, body)
		require.NotEmpty(t, resp.Header.Get("Date"))
	}
}

func TestServerHeadAndBodylessAnswers(t *testing.T) {
	addr, _ := rawServer(t, httpproxy.Limits{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/204":
			w.WriteHeader(http.StatusNoContent)
			_, err := w.Write([]byte("x"))
			require.ErrorIs(t, err, http.ErrBodyNotAllowed)
		case "/empty":
		default:
			w.Header().Set("Content-Length", "5")
			io.WriteString(w, "hello")
		}
	}))
	c, br := dialRaw(t, addr)
	io.WriteString(c, "HEAD /x HTTP/1.1\r\nHost: x\r\n\r\nGET /204 HTTP/1.1\r\nHost: x\r\n\r\nGET /empty HTTP/1.1\r\nHost: x\r\n\r\nGET /x HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, body := readAnswer(t, br, http.MethodHead)
	require.Equal(t, "", body)
	require.EqualValues(t, 5, resp.ContentLength, "HEAD keeps the length the handler set")
	resp, body = readAnswer(t, br, http.MethodGet)
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	require.Empty(t, body)
	resp, body = readAnswer(t, br, http.MethodGet)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.EqualValues(t, 0, resp.ContentLength, "nothing written: Content-Length 0, not chunks")
	require.Empty(t, body)
	_, body = readAnswer(t, br, http.MethodGet)
	require.Equal(t, "hello", body, "the connection carried all four")
}

// TestServerRefusesWhatNetHTTPRefuses: requests net/http's server refuses
// before any handler runs get a JSON error of the same status, without
// their bytes quoted back, and the connection closes.
func TestServerRefusesWhatNetHTTPRefuses(t *testing.T) {
	var reached atomic.Int64
	addr, _ := rawServer(t, httpproxy.Limits{MaxHeaderBytes: 1 << 10}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
	}))
	for _, tc := range []struct {
		name, raw string
		status    int
		code      string
	}{
		{"header too large", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 8<<10) + "\r\n\r\n", 431, "request_header_too_large"},
		{"garbage", "HELLO sk-secret0123456789\r\n\r\n", 400, "bad_request"},
		{"no Host in 1.1", "GET / HTTP/1.1\r\n\r\n", 400, "bad_request"},
		{"bad Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "bad_request"},
		{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, "bad_request"},
		{"unknown expectation", "GET / HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n\r\n", 417, "bad_request"},
		{"unsupported transfer coding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "unsupported_transfer_encoding"},
		{"two lengths", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400, "bad_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, br := dialRaw(t, addr)
			io.WriteString(c, tc.raw)
			resp, body := readAnswer(t, br, http.MethodGet)
			require.Equal(t, tc.status, resp.StatusCode, body)
			require.Equal(t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"))
			require.Contains(t, body, `"code":"`+tc.code+`"`)
			require.NotContains(t, body, "secret")
			require.True(t, resp.Close, "the connection closes after a refusal")
			_, err := br.ReadByte()
			require.ErrorIs(t, err, io.EOF)
		})
	}
	require.Zero(t, reached.Load(), "no refused request reached the handler")
}

func TestServerHTTP10KeepAlive(t *testing.T) {
	addr, _ := rawServer(t, httpproxy.Limits{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/len" {
			w.Header().Set("Content-Length", "2")
		}
		io.WriteString(w, "ok")
	}))
	c, br := dialRaw(t, addr)
	io.WriteString(c, "GET /len HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	resp, body := readAnswer(t, br, http.MethodGet)
	require.Equal(t, "ok", body)
	require.Equal(t, "keep-alive", resp.Header.Get("Connection"))
	io.WriteString(c, "GET /unknown-length HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	resp, body = readAnswer(t, br, http.MethodGet)
	require.Equal(t, "ok", body, "no length: the body ends with the connection")
	require.Empty(t, resp.TransferEncoding, "an HTTP/1.0 client gets no chunks")
	_, err := br.ReadByte()
	require.ErrorIs(t, err, io.EOF)
}

// TestServerUnreadBodies: a body the handler leaves unread is read and
// thrown away when small (the connection carries on), and ends the
// connection when large or when the client still waits for 100 Continue.
func TestServerUnreadBodies(t *testing.T) {
	addr, _ := rawServer(t, httpproxy.Limits{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "2")
		io.WriteString(w, "no")
	}))
	c, br := dialRaw(t, addr)
	io.WriteString(c, "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789GET /b HTTP/1.1\r\nHost: x\r\n\r\n")
	readAnswer(t, br, http.MethodPost)
	resp, body := readAnswer(t, br, http.MethodGet)
	require.Equal(t, "no", body)
	require.False(t, resp.Close)

	c, br = dialRaw(t, addr)
	go io.WriteString(c, fmt.Sprintf("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", 1<<20, strings.Repeat("a", 1<<20)))
	readAnswer(t, br, http.MethodPost)
	_, err := io.Copy(io.Discard, br)
	require.NoError(t, err, "a large unread body: the connection closes (EOF)")

	c, br = dialRaw(t, addr)
	io.WriteString(c, "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n")
	resp, _ = readAnswer(t, br, http.MethodPost)
	require.Equal(t, http.StatusOK, resp.StatusCode, "answered without a 100 Continue first")
	_, err = br.ReadByte()
	require.ErrorIs(t, err, io.EOF, "the body never sent: the connection closes")
}

// TestServerCutAnswerIsNotCompleted: when the downstream cuts a streamed
// answer, ReverseProxy aborts (http.ErrAbortHandler) and the client must
// see the answer end without its last chunk, never a clean end.
func TestServerCutAnswerIsNotCompleted(t *testing.T) {
	up, _ := serveLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: 1\n\n")
		w.(http.Flusher).Flush()
		c, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			c.Close()
		}
	}))
	u, err := url.Parse(up)
	require.NoError(t, err)
	addr, _ := rawServer(t, httpproxy.Limits{}, &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(u) }, Transport: httpproxy.NewUpstream(httpproxy.UpstreamOptions{}),
		ErrorLog: nil, FlushInterval: -1,
	})
	resp, err := http.Get("http://" + addr + "/v1/chat/completions")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.Equal(t, "data: 1\n\n", string(b))
	require.ErrorIs(t, err, io.ErrUnexpectedEOF, "the cut shows")
}

func TestServerHandlerPanicClosesOnlyItsConnection(t *testing.T) {
	addr, _ := rawServer(t, httpproxy.Limits{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panic("boom")
		}
		io.WriteString(w, "fine")
	}))
	c, br := dialRaw(t, addr)
	io.WriteString(c, "GET /panic HTTP/1.1\r\nHost: x\r\n\r\n")
	_, err := http.ReadResponse(br, nil)
	require.Error(t, err, "no answer, the connection closed")
	resp, err := http.Get("http://" + addr + "/ok")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, "fine", string(b))
}

func TestServerTimeouts(t *testing.T) {
	addr, _ := rawServer(t, httpproxy.Limits{ReadHeaderTimeout: 200 * time.Millisecond, IdleTimeout: 300 * time.Millisecond},
		http.HandlerFunc(echoPath))
	c, br := dialRaw(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n") // never finished
	_, err := br.ReadByte()
	require.ErrorIs(t, err, io.EOF, "a head that never ends is cut")

	c, br = dialRaw(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	readAnswer(t, br, http.MethodGet)
	start := time.Now()
	_, err = br.ReadByte()
	require.ErrorIs(t, err, io.EOF, "an idle keep-alive connection is closed")
	require.GreaterOrEqual(t, time.Since(start), 250*time.Millisecond, "after the idle timeout, not the header timeout")

	// A kept-alive connection's next head gets the header timeout from
	// its first byte on, whether it came whole or not.
	addr, _ = rawServer(t, httpproxy.Limits{ReadHeaderTimeout: 200 * time.Millisecond, IdleTimeout: time.Minute},
		http.HandlerFunc(echoPath))
	c, br = dialRaw(t, addr)
	io.WriteString(c, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n")
	_, body := readAnswer(t, br, http.MethodGet)
	require.Equal(t, "path=/1", body)
	io.WriteString(c, "GET /2 HTTP/1.1\r\nHost: x\r\n\r\n") // whole at once
	_, body = readAnswer(t, br, http.MethodGet)
	require.Equal(t, "path=/2", body)
	io.WriteString(c, "GET /3 HTTP/1.1\r\nHost: x\r\n") // never finished
	start = time.Now()
	_, err = br.ReadByte()
	require.ErrorIs(t, err, io.EOF, "the next head that never ends is cut")
	require.Less(t, time.Since(start), 30*time.Second, "by the header timeout, not the idle one")
}

// TestServerSlowAnswersKeepTheConnection: an answer that takes longer
// than the header timeout, to a request with no body or to one whose body
// the handler reads late, leaves the connection usable for the next.
func TestServerSlowAnswersKeepTheConnection(t *testing.T) {
	addr, _ := rawServer(t, httpproxy.Limits{ReadHeaderTimeout: 100 * time.Millisecond, IdleTimeout: time.Minute},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(300 * time.Millisecond)
			echoPath(w, r)
		}))
	c, br := dialRaw(t, addr)
	io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	_, body := readAnswer(t, br, http.MethodGet)
	require.Equal(t, "path=/slow", body)
	io.WriteString(c, "POST /late HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
	_, body = readAnswer(t, br, http.MethodPost)
	require.Equal(t, "path=/late", body)
	io.WriteString(c, "GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
	_, body = readAnswer(t, br, http.MethodGet)
	require.Equal(t, "path=/next", body)
}

// TestServerSeesAHangUpAfterQuickRequests: a client that hangs up while
// its request waits is seen (the request's context ends) also when quick
// requests came before it on the connection, so the watch's timer was
// already running when the waiting request began.
func TestServerSeesAHangUpAfterQuickRequests(t *testing.T) {
	gone := make(chan struct{})
	addr, _ := rawServer(t, httpproxy.Limits{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/wait" {
			<-r.Context().Done()
			close(gone)
			return
		}
		echoPath(w, r)
	}))
	c, br := dialRaw(t, addr)
	for i := range 3 {
		fmt.Fprintf(c, "GET /quick%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
		_, body := readAnswer(t, br, http.MethodGet)
		require.Equal(t, fmt.Sprintf("path=/quick%d", i), body)
	}
	io.WriteString(c, "GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(20 * time.Millisecond) // the request is in the handler
	c.Close()
	select {
	case <-gone:
	case <-time.After(10 * time.Second):
		t.Fatal("the hang-up was never seen")
	}
}

// TestServerSeesManyHangUpsAtOnce: more clients hang up at once than the
// hang-up watcher takes in one batch (64), and every one is seen, also
// those its first batch left: the watcher takes the rest before it waits
// again.
func TestServerSeesManyHangUpsAtOnce(t *testing.T) {
	const n = 150
	var waiting, gone atomic.Int32
	addr, _ := rawServer(t, httpproxy.Limits{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		waiting.Add(1)
		<-r.Context().Done()
		gone.Add(1)
	}))
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i], _ = dialRaw(t, addr)
		io.WriteString(conns[i], "GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	require.Eventually(t, func() bool { return waiting.Load() == n }, 10*time.Second, 5*time.Millisecond,
		"every request is in the handler")
	// Past the watch's delay, so that the connections are watched before
	// they hang up and their hang-ups come at once. (A connection that hung
	// up before its registration is reported at the registration.)
	time.Sleep(300 * time.Millisecond)
	for _, c := range conns {
		c.Close()
	}
	require.Eventually(t, func() bool { return gone.Load() == n }, 10*time.Second, 5*time.Millisecond,
		"every hang-up is seen")
}

// TestServerShutdown: idle connections close at once, a request in flight
// is answered (with Connection: close), and Serve returns ErrServerClosed.
func TestServerShutdown(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	srv := httpproxy.Limits{}.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
		}
		io.WriteString(w, "done")
	}), nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	addr := ln.Addr().String()

	idle, idleBr := dialRaw(t, addr)
	io.WriteString(idle, "GET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
	readAnswer(t, idleBr, http.MethodGet)
	busy, busyBr := dialRaw(t, addr)
	io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	<-entered

	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(context.Background()) }()
	_, err = idleBr.ReadByte()
	require.ErrorIs(t, err, io.EOF, "the idle connection is closed")
	require.ErrorIs(t, <-served, http.ErrServerClosed)
	select {
	case <-shut:
		t.Fatal("Shutdown returned with a request in flight")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	resp, body := readAnswer(t, busyBr, http.MethodGet)
	require.Equal(t, "done", body)
	require.True(t, resp.Close, "the answer says the connection closes")
	require.NoError(t, <-shut)
	_, err = net.DialTimeout("tcp", addr, time.Second)
	require.Error(t, err, "no longer accepting")
}

func TestServerShutdownGivesUpWithItsContext(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	addr, srv := rawServer(t, httpproxy.Limits{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	c, _ := dialRaw(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(20 * time.Millisecond) // the request reaches the handler
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, srv.Shutdown(ctx), context.DeadlineExceeded)
}

func TestServerHijackKeepsBytesReadAhead(t *testing.T) {
	addr, _ := rawServer(t, httpproxy.Limits{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, rw, err := http.NewResponseController(w).Hijack()
		require.NoError(t, err)
		defer c.Close()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		rw.Flush()
		line, _ := rw.ReadString('\n')
		rw.WriteString("echo " + line)
		rw.Flush()
	}))
	c, br := dialRaw(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nsent early\n")
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	line, err := br.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "echo sent early\n", line)
}

func TestServerTrailersAndShortAnswers(t *testing.T) {
	addr, _ := rawServer(t, httpproxy.Limits{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/trailers":
			w.Header().Set("Trailer", "X-Declared")
			io.WriteString(w, "body")
			w.(http.Flusher).Flush()
			w.Header().Set("X-Declared", "1")
			w.Header().Set(http.TrailerPrefix+"X-Late", "2")
		case "/short":
			w.Header().Set("Content-Length", "10")
			io.WriteString(w, "abc")
		case "/long":
			w.Header().Set("Content-Length", "1")
			_, err := io.WriteString(w, "abc")
			require.ErrorIs(t, err, http.ErrContentLength)
		}
	}))
	resp, err := http.Get("http://" + addr + "/trailers")
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, "body", string(b))
	require.Equal(t, "1", resp.Trailer.Get("X-Declared"))
	require.Equal(t, "2", resp.Trailer.Get("X-Late"))

	resp, err = http.Get("http://" + addr + "/short")
	require.NoError(t, err)
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	require.True(t, errors.Is(err, io.ErrUnexpectedEOF), "an answer shorter than its length is cut, not padded: %v", err)
}
