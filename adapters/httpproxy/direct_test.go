package httpproxy_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyipsentinel/sentinel/adapters/httpproxy"
)

// A chunked answer served by Server through Upstream is copied by the
// upstream body straight to the response (direct.go); through the other
// engines ReverseProxy copies it. Either way the client gets the same
// bytes, event by event, with the trailers.
func TestStreamedAnswerIsCopiedDirectlyOnlyOnTheBinariesEngine(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		sizes := []int{1, 7, 100, 2047, 2048, 2049, 4096, 40 << 10, 3}
		up, _ := serveLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			w.Header().Set("Trailer", "X-Checksum")
			for i, n := range sizes {
				io.WriteString(w, strings.Repeat(string(rune('a'+i)), n))
				http.NewResponseController(w).Flush()
			}
			w.Header().Set("X-Checksum", "abc123")
		}))
		base := e.proxyFor(t, up, nil)
		before, raw := httpproxy.DirectCopies(), httpproxy.RawCopies()
		resp, err := http.DefaultClient.Do(authed(t, http.MethodPost, base+"/v1/chat/completions", strings.NewReader(`{"stream":true}`)))
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		resp.Body.Close()
		var want strings.Builder
		for i, n := range sizes {
			want.WriteString(strings.Repeat(string(rune('a'+i)), n))
		}
		require.Equal(t, want.String(), string(body))
		require.Equal(t, "abc123", resp.Trailer.Get("X-Checksum"))
		copied := httpproxy.DirectCopies() - before
		if e.name == "Server+Upstream" {
			require.EqualValues(t, 1, copied, "the binaries' engine copies the stream directly")
			if runtime.GOOS == "linux" {
				require.EqualValues(t, 1, httpproxy.RawCopies()-raw, "with raw reads")
			}
		} else {
			require.Zero(t, copied)
		}
		// The connection to the proxy is reused after a directly copied answer.
		resp, err = http.DefaultClient.Do(authed(t, http.MethodPost, base+"/v1/chat/completions", strings.NewReader(`{"stream":true}`)))
		require.NoError(t, err)
		body, err = io.ReadAll(resp.Body)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, want.String(), string(body))
	})
}

// serveTCP accepts connections on loopback until the test ends, each
// served by serve on its own goroutine and closed after it; it returns the
// listener's address.
func serveTCP(t *testing.T, serve func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				serve(c)
			}()
		}
	}()
	return ln.Addr().String()
}

// rawUpstream is a downstream that reads each connection's first request
// and hands the connection to serve to answer.
func rawUpstream(t *testing.T, serve func(c net.Conn)) string {
	t.Helper()
	return "http://" + serveTCP(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		serve(c)
	})
}

// A gateway that cuts a chunked answer (mid-chunk, or between chunks)
// must not look like a complete answer to the client, on every engine.
func TestConformanceCutChunkedAnswerIsNotCompleted(t *testing.T) {
	cases := map[string]string{
		"mid-chunk":      "5\r\ndata:",
		"between chunks": "5\r\nhello\r\n",
		"mid-size":       "5\r\nhello\r\n1",
		"malformed":      "5\r\nhelloXX3\r\nabc\r\n0\r\n\r\n",
		"bad size":       "5\r\nhello\r\nzz\r\nabc\r\n0\r\n\r\n",
	}
	forEachEngine(t, func(t *testing.T, e engine) {
		for name, rest := range cases {
			t.Run(name, func(t *testing.T) {
				up := rawUpstream(t, func(c net.Conn) {
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
					time.Sleep(20 * time.Millisecond) // the head reaches the client first
					io.WriteString(c, rest)
					time.Sleep(20 * time.Millisecond)
				})
				base := e.proxyFor(t, up, nil)
				_, body, err := readModels(t, base)
				require.Error(t, err, "a cut answer ended cleanly (read %q)", body)
				assert.True(t, strings.HasPrefix(string(body), "hello") || len(body) == 0 || name == "mid-chunk", "got %q", body)
			})
		}
	})
}

// readModels GETs /v1/models through the proxy at base and reads the
// whole answer, returning how the read ended.
func readModels(t *testing.T, base string) (*http.Response, []byte, error) {
	t.Helper()
	resp, err := http.DefaultClient.Do(authed(t, http.MethodGet, base+"/v1/models", nil))
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// Chunk extensions, upper-case and zero-padded sizes and chunks split
// across reads reach the client as the same data, event by event.
func TestConformanceOddChunkingFromTheGateway(t *testing.T) {
	parts := []string{
		"5;ext=1\r\nhello\r\n", "00", "6\r\n", " worl", "d\r\n", "A\r\n0123456789", "\r", "\n",
		"0\r\nX-Checksum: abc\r\n\r\n",
	}
	forEachEngine(t, func(t *testing.T, e engine) {
		up := rawUpstream(t, func(c net.Conn) {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTrailer: X-Checksum\r\nTransfer-Encoding: chunked\r\n\r\n")
			for _, p := range parts {
				time.Sleep(5 * time.Millisecond)
				io.WriteString(c, p)
			}
			time.Sleep(20 * time.Millisecond)
		})
		base := e.proxyFor(t, up, nil)
		resp, body, err := readModels(t, base)
		require.NoError(t, err)
		require.Equal(t, "hello world0123456789", string(body))
		require.Equal(t, "abc", resp.Trailer.Get("X-Checksum"))
	})
}

// The access log counts the bytes of a directly copied stream.
func TestAccessLogCountsAStreamedAnswer(t *testing.T) {
	logs := &syncBuffer{}
	s := newStack(t, stackOptions{proxyLog: jsonLogger(logs), proxyOpts: httpproxy.ProxyOptions{AccessLog: true}})
	s.Up.setHandler(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			fmt.Fprintf(w, "data: %d\n\n", i) // 9 bytes each
			http.NewResponseController(w).Flush()
		}
	})
	before := httpproxy.DirectCopies()
	status, body := call(t, "127.0.0.3", get(t, s.URL, "/v1/chat/completions", "Authorization", "Bearer sk-"+realKey))
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "data: 0\n\ndata: 1\n\ndata: 2\n\n", string(body))
	require.EqualValues(t, 1, httpproxy.DirectCopies()-before)
	lines := accessLines(t, logs.String())
	require.Len(t, lines, 1)
	assert.EqualValues(t, 27, lines[0]["bytes"])
}

// A direct copy of pieces of every size around the readers' and the chunk
// scanner's bounds arrives whole and framed, 100 times. (With
// httputil.ReverseProxy, whose copy started with a flush from a timer's
// goroutine, an unordered flush broke the framing about once in 30
// answers; fmu orders any such flush.)
func TestDirectCopyFramesEveryPieceSize(t *testing.T) {
	sizes := []int{1, 7, 100, 2047, 2048, 2049, 4096, 40 << 10, 3}
	up, _ := serveLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i, n := range sizes {
			io.WriteString(w, strings.Repeat(string(rune('a'+i)), n))
			http.NewResponseController(w).Flush()
		}
	}))
	base := engines()[0].proxyFor(t, up, nil)
	before := httpproxy.DirectCopies()
	const n = 100
	for i := range n {
		c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		require.NoError(t, err)
		io.WriteString(c, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-"+realKey+
			"\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
		raw, err := io.ReadAll(c)
		c.Close()
		require.NoError(t, err)
		resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(string(raw))), nil)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err, "answer %d", i)
		require.Len(t, body, 1+7+100+2047+2048+2049+4096+(40<<10)+3)
	}
	require.EqualValues(t, n, httpproxy.DirectCopies()-before)
}

// Framing that is wrong, followed later by chunks that look right, ends
// the answer as an error at the fault: nothing after it reaches the client.
func TestConformanceMalformedChunkEndsTheAnswer(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		up := rawUpstream(t, func(c net.Conn) {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
			time.Sleep(20 * time.Millisecond)
			io.WriteString(c, "5\r\nhello")
			time.Sleep(20 * time.Millisecond)
			io.WriteString(c, "XX")
			time.Sleep(20 * time.Millisecond)
			io.WriteString(c, "3\r\nabc\r\n0\r\n\r\n")
			time.Sleep(20 * time.Millisecond)
		})
		base := e.proxyFor(t, up, nil)
		_, body, err := readModels(t, base)
		require.Error(t, err, "a malformed answer ended cleanly (read %q)", body)
		require.NotContains(t, string(body), "abc")
	})
}

// TestOpenStreamsHoldNoCopyBuffer: streams open between their events hold
// no 32 KiB copy buffer on the binaries' engine (it is lent only while an
// event's bytes move), so a buffer once filled by a large answer does not
// stay resident under every idle stream. (The net/http engines hold one
// per stream, as ReverseProxy does; the count is the package's, so they
// are not counted here: an earlier test's late answer moves it.)
func TestOpenStreamsHoldNoCopyBuffer(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("raw reads are Linux's")
	}
	release := make(chan struct{})
	base := proxyFor(t, heldStreams(t, release), httpproxy.NewUpstream(httpproxy.UpstreamOptions{}), nil)
	// Earlier tests' answers may still be ending.
	waitLent(t, "before the test", func(n int64) bool { return n == 0 })
	streams := openHeldStreams(t, http.DefaultClient, base, 8)
	waitLent(t, "while the streams are open", func(n int64) bool { return n == 0 })
	close(release)
	for _, s := range streams {
		s.finish(t)
	}
	waitLent(t, "after the streams ended", func(n int64) bool { return n == 0 })
}

// waitLent waits up to 5 s for the count of lent copy buffers to satisfy
// ok, and fails with the last count otherwise.
func waitLent(t *testing.T, when string, ok func(int64) bool) {
	t.Helper()
	var lent int64
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if lent = httpproxy.CopyBuffersOut(); ok(lent) {
			return
		}
	}
	t.Fatalf("%d copy buffers lent %s", lent, when)
}

// TestOpenStreamsHoldNoReaderBuffer: on Linux, where the stream is read
// with raw reads, an open stream between its events holds no buffer of
// Upstream's response readers either (shelveReader); it takes one again
// for the body's end, so trailers still arrive and the connection is
// reused after the stream.
func TestOpenStreamsHoldNoReaderBuffer(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("raw reads are Linux's")
	}
	release := make(chan struct{})
	u := httpproxy.NewUpstream(httpproxy.UpstreamOptions{})
	base := proxyOn(t, heldStreams(t, release), u, nil, false)
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	streams := openHeldStreams(t, client, base, 8)
	require.Eventually(t, func() bool { return u.ReadersOut() == 0 }, 5*time.Second, time.Millisecond,
		"open streams hold %d reader buffers", u.ReadersOut())
	close(release)
	for _, s := range streams {
		s.finish(t)
	}
	require.Zero(t, u.ReadersOut(), "the streams' readers went back to the pool")
	// The downstream connections went back to the pool in working order.
	resp, err := client.Do(authed(t, http.MethodGet, base+"/v1/models", nil))
	require.NoError(t, err)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

// heldStreams serves streams that send a first event, wait for release
// (or the request's end), then send the last one and an X-Checksum
// trailer; it returns the downstream's URL.
func heldStreams(t *testing.T, release <-chan struct{}) string {
	t.Helper()
	up, _ := serveLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Trailer", "X-Checksum")
		io.WriteString(w, "data: first\n\n")
		http.NewResponseController(w).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
		io.WriteString(w, "data: last\n\n")
		w.Header().Set("X-Checksum", "abc123")
	}))
	return up
}

// heldStream is a stream of heldStreams read to its first event.
type heldStream struct {
	resp *http.Response
	br   *bufio.Reader
}

// openHeldStreams opens n streams through base with client.
func openHeldStreams(t *testing.T, client *http.Client, base string, n int) []heldStream {
	t.Helper()
	streams := make([]heldStream, 0, n)
	for range n {
		resp, err := client.Do(authed(t, http.MethodPost, base+"/v1/chat/completions", strings.NewReader(`{"stream":true}`)))
		require.NoError(t, err)
		br := bufio.NewReader(resp.Body)
		line, err := br.ReadString('\n')
		require.NoError(t, err)
		require.Equal(t, "data: first\n", line)
		streams = append(streams, heldStream{resp, br})
	}
	return streams
}

// finish reads the rest of s, wants the last event and the trailer, and
// closes it.
func (s heldStream) finish(t *testing.T) {
	t.Helper()
	rest, err := io.ReadAll(s.br)
	require.NoError(t, err)
	require.Equal(t, "\ndata: last\n\n", string(rest))
	require.Equal(t, "abc123", s.resp.Trailer.Get("X-Checksum"))
	s.resp.Body.Close()
}
