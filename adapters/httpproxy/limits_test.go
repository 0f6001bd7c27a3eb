package httpproxy_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyipsentinel/sentinel/adapters/httpproxy"
)

// limitedProxy serves a ReverseProxy to downstream behind limits on a
// loopback listener and returns its address.
func limitedProxy(t *testing.T, limits httpproxy.Limits, downstream string) string {
	t.Helper()
	u, err := url.Parse(downstream)
	require.NoError(t, err)
	tr := limits.NewUpstream(httpproxy.UpstreamOptions{})
	t.Cleanup(tr.CloseIdleConnections)
	srv := limits.NewServer(&httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(u) },
		Transport: tr,
		ErrorLog:  nil,
	}, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go srv.Serve(limits.Listener(ln))
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func dialFrom(t *testing.T, ip, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(20*time.Second)))
	return c
}

// TestSlowBodyIsCut: a body sent one byte a second is cut at the body idle
// limit with a 408, and the downstream's request ends (its connection is
// released) instead of waiting for ever.
func TestSlowBodyIsCut(t *testing.T) {
	downstreamDone := make(chan error, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.Copy(io.Discard, r.Body)
		downstreamDone <- err
	}))
	t.Cleanup(up.Close)
	addr := limitedProxy(t, httpproxy.Limits{BodyIdleTimeout: 200 * time.Millisecond}, up.URL)

	c := dialFrom(t, "127.0.0.1", addr)
	_, err := io.WriteString(c, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
	require.NoError(t, err)
	stop := make(chan struct{})
	defer close(stop)
	go func() { // one byte a second, as the slowloris client does
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := c.Write([]byte(" ")); err != nil {
					return
				}
			}
		}
	}()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err, "the proxy answers instead of waiting for the body")
	defer resp.Body.Close()
	require.Equal(t, http.StatusRequestTimeout, resp.StatusCode)
	var e struct {
		Error struct{ Code, Type string }
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&e))
	require.Equal(t, "request_body_timeout", e.Error.Code)
	select {
	case err := <-downstreamDone:
		require.Error(t, err, "the downstream saw the body cut, not completed")
	case <-time.After(10 * time.Second):
		t.Fatal("the downstream request is still open")
	}
}

// TestSteadyBodyAndLongAnswerPass: the idle limit bounds gaps, not the
// whole exchange; a streamed answer longer than it is not cut.
func TestSteadyBodyAndLongAnswerPass(t *testing.T) {
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		w.Write([]byte("data: got " + string(b) + "\n\n"))
		w.(http.Flusher).Flush()
		<-release // the answer goes on past the body idle limit
		w.Write([]byte("data: done\n\n"))
	}))
	t.Cleanup(up.Close)
	addr := limitedProxy(t, httpproxy.Limits{BodyIdleTimeout: 100 * time.Millisecond}, up.URL)
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Post("http://"+addr+"/v1/chat/completions", "application/json", strings.NewReader("hello"))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "data: got hello\n", line)
	time.Sleep(300 * time.Millisecond) // longer than the idle limit, on purpose
	close(release)
	rest, err := io.ReadAll(br)
	require.NoError(t, err)
	require.Contains(t, string(rest), "data: done")
}

func TestConnectionCaps(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(up.Close)
	addr := limitedProxy(t, httpproxy.Limits{
		MaxConnsPerIP: 2, MaxConns: 4,
		ExemptPeers: []netip.Prefix{netip.MustParsePrefix("127.0.0.9/32")},
	}, up.URL)

	refused := func(c net.Conn) bool {
		t.Helper()
		_, err := io.WriteString(c, "GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n")
		require.NoError(t, err)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		require.NoError(t, err)
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			b, _ := io.ReadAll(resp.Body)
			require.Contains(t, string(b), "too_many_connections")
			return true
		}
		require.Equal(t, http.StatusOK, resp.StatusCode)
		return false
	}
	a1, a2 := dialFrom(t, "127.0.0.5", addr), dialFrom(t, "127.0.0.5", addr)
	require.False(t, refused(a1))
	require.False(t, refused(a2))
	require.True(t, refused(dialFrom(t, "127.0.0.5", addr)), "a third connection from one address is refused")
	require.False(t, refused(dialFrom(t, "127.0.0.6", addr)), "another address still gets in")
	require.False(t, refused(dialFrom(t, "127.0.0.9", addr)), "an exempt peer is not capped per address")
	require.True(t, refused(dialFrom(t, "127.0.0.7", addr)), "the total cap holds")

	a1.Close()
	require.Eventually(t, func() bool {
		c := dialFrom(t, "127.0.0.5", addr)
		defer c.Close()
		return !refused(c)
	}, 10*time.Second, 20*time.Millisecond, "a closed connection gives its slot back")
}

func TestHugeHeadersAreRefused(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(up.Close)
	addr := limitedProxy(t, httpproxy.Limits{MaxHeaderBytes: 8 << 10}, up.URL)
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/v1/models", nil)
	require.NoError(t, err)
	req.Header.Set("X-Junk", strings.Repeat("a", 64<<10))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.StatusCode)
	require.Equal(t, httpproxy.CodeHeaderTooLarge, decodeError(t, body).Error.Code, "in the JSON error shape")
}

func TestLimitsValidate(t *testing.T) {
	require.NoError(t, httpproxy.Limits{}.Validate())
	err := httpproxy.Limits{MaxConnsPerIP: -1}.Validate()
	require.ErrorContains(t, err, "MaxConnsPerIP")
}

// TestDownstreamConnsCap: MaxDownstreamConns caps the Upstream the binary
// proxies with; a request past it waits for a connection (here until its
// context gives up) instead of opening another.
func TestDownstreamConnsCap(t *testing.T) {
	var opened atomic.Int32
	release := make(chan struct{})
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Write([]byte("data: first\n\n"))
		w.(http.Flusher).Flush()
		if r.URL.Path == "/hold" {
			<-release
		}
	}))
	up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	up.Start()
	t.Cleanup(up.Close)
	t.Cleanup(func() { close(release) })
	u := httpproxy.Limits{MaxDownstreamConns: 1}.NewUpstream(httpproxy.UpstreamOptions{})
	t.Cleanup(u.CloseIdleConnections)

	held, err := http.NewRequest(http.MethodGet, up.URL+"/hold", nil)
	require.NoError(t, err)
	resp, err := u.RoundTrip(held)
	require.NoError(t, err, "the first request takes the one connection")

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	waiting, err := http.NewRequestWithContext(ctx, http.MethodGet, up.URL+"/", nil)
	require.NoError(t, err)
	_, err = u.RoundTrip(waiting)
	require.ErrorIs(t, err, context.DeadlineExceeded, "the second waits for the busy connection")
	require.EqualValues(t, 1, opened.Load(), "no second connection was opened")

	resp.Body.Close() // not read to its end: the connection goes, its slot frees
	next, err := http.NewRequest(http.MethodGet, up.URL+"/", nil)
	require.NoError(t, err)
	resp, err = u.RoundTrip(next)
	require.NoError(t, err)
	_, err = io.Copy(io.Discard, resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
}
