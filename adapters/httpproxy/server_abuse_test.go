package httpproxy_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyipsentinel/sentinel/adapters/httpproxy"
)

// TestServerUnreadBodyDrainIsBounded: a body the handler never reads (the
// guard refusing) is drained within the body idle timeout: a client that
// declares a body and never sends it cannot hold the connection.
func TestServerUnreadBodyDrainIsBounded(t *testing.T) {
	addr, _ := rawServer(t, httpproxy.Limits{ReadHeaderTimeout: 200 * time.Millisecond, IdleTimeout: 300 * time.Millisecond,
		BodyIdleTimeout: 300 * time.Millisecond}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized) // refuses without reading, as the guard does
	}))
	c, br := dialRaw(t, addr)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n") // the body never comes
	readAnswer(t, br, http.MethodPost)
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, err := br.ReadByte()
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "the server still holds the connection after 3 s (10x every limit): %v", err)
}

// TestServerRefusesHeaderNamesThatAreNotTokens: whitespace between a
// field name and its colon is refused (RFC 9112 5.1, as net/http does):
// "Transfer-Encoding : chunked" passed on as some other header would let a
// front proxy that reads it as chunked and this server disagree on where
// the request ends.
func TestServerRefusesHeaderNamesThatAreNotTokens(t *testing.T) {
	var reached []string
	var mu sync.Mutex
	addr, _ := rawServer(t, httpproxy.Limits{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		reached = append(reached, r.Method+" "+r.URL.Path)
		mu.Unlock()
		io.Copy(io.Discard, r.Body)
	}))
	c, br := dialRaw(t, addr)
	io.WriteString(c, "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n"+
		"1e\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, _ := readAnswer(t, br, http.MethodPost)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, "handler saw %v", reached)
}

// TestServerLengthSetAfterWriteHeaderFramesOnce: a Content-Length set
// after WriteHeader never goes out beside Transfer-Encoding: chunked.
func TestServerLengthSetAfterWriteHeaderFramesOnce(t *testing.T) {
	addr, _ := rawServer(t, httpproxy.Limits{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.Header().Set("Content-Length", "3")
		io.WriteString(w, "abc")
	}))
	c, br := dialRaw(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(time.Second))
	head := ""
	for {
		line, err := br.ReadString('\n')
		head += line
		if err != nil || line == "\r\n" {
			break
		}
	}
	t.Logf("head:\n%s", head)
	require.True(t, strings.HasPrefix(head, "HTTP/1.1 200 OK\r\n"), "an answer came")
	require.False(t, strings.Contains(head, "Content-Length: 3") && strings.Contains(head, "Transfer-Encoding: chunked"),
		"both Content-Length and Transfer-Encoding: chunked")
}

// TestServerWriteErrorsAreSticky: after a write to the client fails, every
// later write fails too and the request context is cancelled (as net/http
// does), so a stream to a client that is gone stops.
func TestServerWriteErrorsAreSticky(t *testing.T) {
	type outcome struct{ flush, write, ctx error }
	result := make(chan outcome, 1)
	addr, _ := rawServer(t, httpproxy.Limits{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		var flushErr error
		for i := 0; i < 2000 && flushErr == nil; i++ {
			io.WriteString(w, "data: x\n\n")
			flushErr = rc.Flush()
			time.Sleep(time.Millisecond)
		}
		_, werr := io.WriteString(w, "data: y\n\n")
		result <- outcome{flushErr, werr, r.Context().Err()}
	}))
	c, br := dialRaw(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	br.ReadString('\n')
	c.(*net.TCPConn).SetLinger(0)
	c.Close() // RST
	got := <-result
	require.Error(t, got.flush, "a flush to a reset connection fails")
	require.Error(t, got.write, "the write after a failed flush reports success")
	require.Error(t, got.ctx, "the failed write cancels the request")
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// TestServerShutdownServesAFreshConnection: a connection accepted a moment
// before Shutdown still gets its first request answered (net/http leaves
// new connections alone for 5 s, issue 22682).
func TestServerShutdownServesAFreshConnection(t *testing.T) {
	srv := httpproxy.Limits{}.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}), nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go srv.Serve(ln)
	c, br := dialRaw(t, ln.Addr().String())
	time.Sleep(20 * time.Millisecond) // accepted
	go srv.Shutdown(context.Background())
	time.Sleep(20 * time.Millisecond)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	_, err = http.ReadResponse(br, nil)
	require.NoError(t, err, "a request sent right after connecting is dropped by Shutdown")
}

// TestServerStaleBodyReadsNothingOfTheNext: a request body kept past its
// handler (a transport's goroutine may outlive ReverseProxy.ServeHTTP,
// issue 46866) never reads the next request's body.
func TestServerStaleBodyReadsNothingOfTheNext(t *testing.T) {
	var kept io.ReadCloser
	got := make(chan string, 1)
	addr, _ := rawServer(t, httpproxy.Limits{BodyIdleTimeout: time.Second}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/a":
			io.ReadAll(r.Body)
			r.Body.Close()
			kept = r.Body
		case "/b":
			b, err := io.ReadAll(kept) // the body of /a, closed
			got <- string(b) + " / " + errString(err)
		}
	}))
	c, br := dialRaw(t, addr)
	io.WriteString(c, "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nA")
	readAnswer(t, br, http.MethodPost)
	io.WriteString(c, "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nsecret-of-b")
	readAnswer(t, br, http.MethodPost)
	s := <-got
	t.Log(s)
	require.NotContains(t, s, "secret-of-b")
}

// TestServerAbortWaitsForABodyReadInFlight (meant for -race): an aborted
// answer with a body read in flight on another goroutine does not pool the
// connection's reader under that read.
func TestServerAbortWaitsForABodyReadInFlight(t *testing.T) {
	started := make(chan struct{})
	done := make(chan struct{})
	// The deferred Close waits for the read in flight, as net/http's does:
	// the body idle timeout ends it.
	addr, _ := rawServer(t, httpproxy.Limits{BodyIdleTimeout: 200 * time.Millisecond}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer r.Body.Close()
		go func() { // the transport's writeLoop
			defer close(done)
			close(started)
			io.Copy(io.Discard, r.Body)
		}()
		<-started
		time.Sleep(10 * time.Millisecond) // (< hangupDelay) the read is blocked in the connection's reader
		panic(http.ErrAbortHandler)
	}))
	c, br := dialRaw(t, addr)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
	br.ReadByte()
	<-done
}

// TestServerFailedFlushEndsTheAnswer: an answer that lost bytes to a
// failed flush never ends cleanly on a connection kept alive (the next
// answer would be read as its rest).
func TestServerFailedFlushEndsTheAnswer(t *testing.T) {
	addr, _ := rawServer(t, httpproxy.Limits{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/next" {
			io.WriteString(w, "NEXT")
			return
		}
		rc := http.NewResponseController(w)
		w.Header().Set("Content-Length", "15")
		io.WriteString(w, "part1")
		require.NoError(t, rc.Flush())
		io.WriteString(w, "part2")
		rc.SetWriteDeadline(time.Now().Add(-time.Second))
		t.Logf("flush: %v", rc.Flush())
		rc.SetWriteDeadline(time.Time{})
		_, err := io.WriteString(w, "part3")
		t.Logf("write after failed flush: %v", err)
	}))
	c, br := dialRaw(t, addr)
	io.WriteString(c, "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	t.Logf("body %q err %v", b, err)
	require.Error(t, err, "the answer that lost bytes must not end cleanly")
}

// earlyAnswer has the handler answer 8 MiB while the client is still
// uploading a long body, with (inFlight) or without a read of that body
// left running on another goroutine (http.Transport's writeLoop on the
// https path), and returns how much of the answer the client got.
func earlyAnswer(t *testing.T, inFlight bool) (int64, error) {
	const size = 8 << 20
	addr, _ := rawServer(t, httpproxy.Limits{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if inFlight {
			go io.Copy(io.Discard, r.Body)
			time.Sleep(20 * time.Millisecond)
		}
		w.Header().Set("Content-Length", strconv.Itoa(size))
		w.Write(make([]byte, size))
	}))
	c, br := dialRaw(t, addr)
	c.(*net.TCPConn).SetReadBuffer(64 << 10)
	io.WriteString(c, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n")
	stop := make(chan struct{})
	uploaded := make(chan struct{})
	go func() { // the upload goes on while the answer is read
		defer close(uploaded)
		chunk := make([]byte, 1024)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := c.Write(chunk); err != nil {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	defer func() { close(stop); c.Close(); <-uploaded }()
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	var got int64
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		got += int64(n)
		if err == io.EOF {
			return got, nil
		}
		if err != nil {
			return got, err
		}
		time.Sleep(200 * time.Microsecond) // a client a little slower than loopback
	}
}

// TestServerAnswerOutlivesABodyReadInFlight: an answer given while the
// client still uploads reaches the client whole, also when a read of the
// body is still running when the handler returns (the server ends that
// read without closing the socket under the answer, and lingers).
func TestServerAnswerOutlivesABodyReadInFlight(t *testing.T) {
	for _, inFlight := range []bool{false, true} {
		got, err := earlyAnswer(t, inFlight)
		require.NoError(t, err, "read in flight: %v", inFlight)
		require.EqualValues(t, 8<<20, got, "read in flight: %v", inFlight)
	}
}

// TestServerLateBodyReadKeepsTheIdleTimeout: a body read made after the
// handler returned (a transport's goroutine) cannot lift the deadline of
// the connection waiting for its next request.
func TestServerLateBodyReadKeepsTheIdleTimeout(t *testing.T) {
	late := make(chan io.Reader, 1)
	addr, _ := rawServer(t, httpproxy.Limits{IdleTimeout: 300 * time.Millisecond, ReadHeaderTimeout: 300 * time.Millisecond},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Body.Read(make([]byte, 1)) // part of the body; the server drains the rest
			late <- r.Body
			io.WriteString(w, "ok")
		}))
	c, br := dialRaw(t, addr)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nabcd")
	_, body := readAnswer(t, br, http.MethodPost)
	require.Equal(t, "ok", body)
	time.Sleep(50 * time.Millisecond) // the server waits for the next request
	_, err := (<-late).Read(make([]byte, 1))
	require.ErrorIs(t, err, http.ErrBodyReadAfterClose)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = br.ReadByte()
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "the idle connection stays open: %v", err)
	require.ErrorIs(t, err, io.EOF, "closed at its idle timeout")
}

// TestUpgradeWithABodyIsNotTunnelled: a WebSocket handshake carrying a
// body is not forwarded as an upgrade (after a switch, the body's writer
// and the tunnel would both read the client).
func TestUpgradeWithABodyIsNotTunnelled(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	sawUpgrade := make(chan bool, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		sawUpgrade <- req.Header.Get("Upgrade") != ""
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: "+
			acceptFor(req.Header.Get("Sec-WebSocket-Key"))+"\r\n\r\n")
	}()
	s := newStack(t, stackOptions{downstream: "http://" + ln.Addr().String()})
	c, br := dialRaw(t, strings.TrimPrefix(s.URL, "http://"))
	io.WriteString(c, "GET /v1/realtime HTTP/1.1\r\nHost: sentinel\r\nAuthorization: Bearer sk-"+realKey+"\r\n"+wsRequestHeaders+
		"Transfer-Encoding: chunked\r\n\r\n5\r\nframe\r\n0\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	require.NotEqual(t, http.StatusSwitchingProtocols, resp.StatusCode)
	require.False(t, <-sawUpgrade, "the downstream was asked to switch")
}

// TestUpstreamEarlyAnswerDoesNotWaitForTheBody: a downstream that answers
// before reading a streamed body (a 413) reaches the client at once, not
// when the client sends more of the body.
func TestUpstreamEarlyAnswerDoesNotWaitForTheBody(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				if _, err := http.ReadRequest(br); err != nil {
					return
				}
				io.WriteString(c, "HTTP/1.1 413 Request Entity Too Large\r\nContent-Length: 8\r\n\r\ntoo big\n")
				io.Copy(io.Discard, br)
			}()
		}
	}()
	u, err := url.Parse("http://" + ln.Addr().String())
	require.NoError(t, err)
	up := httpproxy.NewUpstream(httpproxy.UpstreamOptions{})
	defer up.CloseIdleConnections()
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(u) }, Transport: up}
	// The body timeout is far past the client's 10 s deadline: the answer
	// must come without it.
	addr, _ := rawServer(t, httpproxy.Limits{BodyIdleTimeout: time.Minute}, rp)
	c, br := dialRaw(t, addr)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n") // and then nothing
	resp, body := readAnswer(t, br, http.MethodPost)
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	require.Equal(t, "too big\n", body)
}

// TestServerIdleTimeoutCountsFromTheLastRequest: the idle deadline is not
// moved on every request, but a connection busy now and then is never cut
// sooner than IdleTimeout after its last answer less the slack (here
// 25 ms), and one left idle is closed.
func TestServerIdleTimeoutCountsFromTheLastRequest(t *testing.T) {
	addr, _ := rawServer(t, httpproxy.Limits{IdleTimeout: 400 * time.Millisecond, ReadHeaderTimeout: time.Second},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	c, br := dialRaw(t, addr)
	for i := range 4 {
		_, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		require.NoError(t, err)
		resp, _ := readAnswer(t, br, http.MethodGet)
		require.Equal(t, http.StatusOK, resp.StatusCode, "request %d, each 250 ms after the last", i)
		time.Sleep(250 * time.Millisecond)
	}
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, err := br.ReadByte()
	require.ErrorIs(t, err, io.EOF, "idle past IdleTimeout: closed")
}
