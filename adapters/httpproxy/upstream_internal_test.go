package httpproxy

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// upstreamCounting serves a 200 and records the remote address of every
// request it answers.
func upstreamCounting(t *testing.T, h http.HandlerFunc) (*httptest.Server, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var remotes []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		remotes = append(remotes, r.RemoteAddr)
		mu.Unlock()
		if h != nil {
			h(w, r)
			return
		}
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), remotes...) }
}

func roundTrip(t *testing.T, rt http.RoundTripper, req *http.Request) (int, string) {
	t.Helper()
	resp, err := rt.RoundTrip(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func TestUpstreamPostAfterIdleClose(t *testing.T) {
	srv, remotes := upstreamCounting(t, nil)
	u := NewUpstream(UpstreamOptions{})
	defer u.CloseIdleConnections()
	for i := range 3 {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader(`{"n":1}`))
		code, body := roundTrip(t, u, req)
		require.Equal(t, http.StatusOK, code, "request %d", i)
		require.Equal(t, "ok", body)
		srv.CloseClientConnections()
	}
	require.Len(t, remotes(), 3)
}

func TestUpstreamReusesAndExpires(t *testing.T) {
	srv, remotes := upstreamCounting(t, nil)
	u := NewUpstream(UpstreamOptions{})
	for range 3 {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
		roundTrip(t, u, req)
	}
	r := remotes()
	require.Equal(t, r[0], r[1])
	require.Equal(t, r[0], r[2], "one keep-alive connection")

	short := NewUpstream(UpstreamOptions{IdleTimeout: time.Nanosecond})
	for range 2 {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
		roundTrip(t, short, req)
	}
	r = remotes()
	require.NotEqual(t, r[3], r[4], "a connection idle longer than IdleTimeout is not reused")
}

// TestUpstreamMaxConns: with every connection busy a request waits, and
// it is served as soon as one is free.
func TestUpstreamMaxConns(t *testing.T) {
	release := make(chan struct{})
	srv, remotes := upstreamCounting(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			io.WriteString(w, "held ")
			w.(http.Flusher).Flush()
			<-release
		}
		io.WriteString(w, "ok")
	})
	u := NewUpstream(UpstreamOptions{MaxConns: 1})
	defer u.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/hold", nil)
	held, err := u.RoundTrip(req)
	require.NoError(t, err)

	done := make(chan string)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/second", nil)
		resp, err := u.RoundTrip(req)
		if err != nil {
			done <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- string(b)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for u.waiters.Load() == 0 {
		require.True(t, time.Now().Before(deadline), "the second request never waited")
		time.Sleep(time.Millisecond) // polling for the event, not waiting for time
	}
	require.Len(t, remotes(), 1, "the second request waits while the only connection is busy")
	close(release)
	b, err := io.ReadAll(held.Body)
	require.NoError(t, err)
	held.Body.Close()
	require.Equal(t, "held ok", string(b))
	require.Equal(t, "ok", <-done)

	// A waiting request gives up with its context.
	req, _ = http.NewRequest(http.MethodGet, srv.URL+"/hold", nil)
	release = make(chan struct{})
	held, err = u.RoundTrip(req)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/", nil)
	_, err = u.RoundTrip(req)
	require.ErrorIs(t, err, context.Canceled)
	close(release)
	io.Copy(io.Discard, held.Body)
	held.Body.Close()
}

func TestUpstreamDialError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	u := NewUpstream(UpstreamOptions{MaxConns: 1})
	for range 3 { // a failed dial gives its slot back
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
		_, err := u.RoundTrip(req)
		require.Error(t, err)
	}
	req, _ := http.NewRequest(http.MethodGet, "ftp://"+addr+"/", nil)
	_, err = u.RoundTrip(req)
	require.ErrorContains(t, err, "unsupported protocol scheme")
}

// TestUpstreamBodyClosedEarly: a body closed before its end takes its
// connection with it; the next request gets a fresh one.
func TestUpstreamBodyClosedEarly(t *testing.T) {
	srv, remotes := upstreamCounting(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("z", 1<<20))
	})
	u := NewUpstream(UpstreamOptions{})
	defer u.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
	resp, err := u.RoundTrip(req)
	require.NoError(t, err)
	buf := make([]byte, 10)
	_, err = io.ReadFull(resp.Body, buf)
	require.NoError(t, err)
	resp.Body.Close()
	_, err = resp.Body.Read(buf)
	require.Error(t, err, "reading a closed body fails")
	req, _ = http.NewRequest(http.MethodGet, srv.URL+"/", nil)
	_, body := roundTrip(t, u, req)
	require.Len(t, body, 1<<20)
	r := remotes()
	require.NotEqual(t, r[0], r[1])
}

// TestUpstreamBodyContract: reads after the end keep returning io.EOF, a
// response without a body frees its connection at once, and Close
// unblocks a Read waiting in another goroutine.
func TestUpstreamBodyContract(t *testing.T) {
	srv, remotes := upstreamCounting(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/stall":
			io.WriteString(w, "x")
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		default:
			io.WriteString(w, "ok")
		}
	})
	u := NewUpstream(UpstreamOptions{})
	defer u.CloseIdleConnections()

	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
	resp, err := u.RoundTrip(req)
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, "ok", string(b))
	n, err := resp.Body.Read(make([]byte, 4))
	require.Equal(t, 0, n)
	require.ErrorIs(t, err, io.EOF)
	require.NoError(t, resp.Body.Close())

	for _, method := range []string{http.MethodHead, http.MethodGet} {
		path := "/"
		if method == http.MethodGet {
			path = "/empty"
		}
		req, _ = http.NewRequest(method, srv.URL+path, nil)
		resp, err = u.RoundTrip(req)
		require.NoError(t, err)
		require.Equal(t, http.NoBody, resp.Body, "%s %s", method, path)
	}
	r := remotes()
	require.Len(t, r, 3)
	require.Equal(t, r[0], r[2], "a response without a body leaves its connection reusable, unread")

	req, _ = http.NewRequest(http.MethodGet, srv.URL+"/stall", nil)
	resp, err = u.RoundTrip(req)
	require.NoError(t, err)
	readErr := make(chan error)
	go func() {
		_, err := io.ReadAll(resp.Body)
		readErr <- err
	}()
	// Close while the reader goroutine is (or is about to be) blocked.
	require.NoError(t, resp.Body.Close())
	select {
	case err := <-readErr:
		require.Error(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not unblock the Read")
	}
}

func TestUpstreamResponseHeadLimit(t *testing.T) {
	srv, _ := upstreamCounting(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Big", strings.Repeat("h", 8<<10))
		io.WriteString(w, strings.Repeat("b", 64<<10)) // bodies are not limited
	})
	for _, c := range []struct {
		limit int64
		ok    bool
	}{{4 << 10, false}, {16 << 10, true}} {
		u := NewUpstream(UpstreamOptions{MaxResponseHeaderBytes: c.limit})
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
		resp, err := u.RoundTrip(req)
		if !c.ok {
			require.ErrorIs(t, err, errHeadTooLong, "limit %d", c.limit)
			continue
		}
		require.NoError(t, err)
		require.Len(t, resp.Header.Get("X-Big"), 8<<10, "a header line longer than the reader still parses")
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		resp.Body.Close()
		require.Len(t, b, 64<<10)
		u.CloseIdleConnections()
	}
}
