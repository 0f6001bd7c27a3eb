package httpproxy_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/httpproxy"
	"github.com/keyipsentinel/sentinel/adapters/localcache"
	"github.com/keyipsentinel/sentinel/adapters/sqlite"
)

// TestStreamStackFits8KiB: serving an open stream through the binary's
// handler chain (Limits, request id, Middleware, ReverseProxy, Upstream)
// never grows the serving goroutine's stack past 8 KiB. The runtime
// doubles a stack that overflows and keeps it while the goroutine waits,
// so one frame too many costs every open stream 8 KiB more for as long as
// it is open (docs/performance.md). The check runs in a child process with
// debug.SetMaxStack(8 KiB), where any goroutine growing past that crashes
// with the stack that did it.
func TestStreamStackFits8KiB(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's instrumentation makes frames larger")
	}
	if os.Getenv("SENTINEL_STACK_CHILD") == "" {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestStreamStackFits8KiB$", "-test.count", "1")
		cmd.Env = append(os.Environ(), "SENTINEL_STACK_CHILD=1")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "a serving goroutine outgrew 8 KiB:\n%s", overflow(string(out)))
		return
	}

	release := make(chan struct{})
	defer close(release)
	up, _ := serveLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: {\"choices\":[{\"delta\":{\"content\":\"hello\"}}]}\n\n")
		w.(http.Flusher).Flush()
		// The second event comes on its own, as events do: the copy waits
		// for it and writes it from there (rawcopy_linux.go), deeper.
		time.Sleep(20 * time.Millisecond)
		io.WriteString(w, "data: {\"choices\":[{\"delta\":{\"content\":\" world\"}}]}\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"), sqlite.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	live := sentinel.MustLiveSettings(sentinel.DefaultSettings())
	binder, err := sentinel.NewBinder(localcache.New(sqlite.NewBindingStore(db), localcache.Options{}), sentinel.BinderOptions{Settings: live})
	require.NoError(t, err)
	hasher, err := sentinel.NewHasher(testSecret)
	require.NoError(t, err)
	mw, err := httpproxy.NewMiddleware(httpproxy.MiddlewareOptions{Decider: binder, Hasher: hasher, Settings: live,
		Observer: httpproxy.Observers{httpproxy.NopObserver{}}})
	require.NoError(t, err)
	u, err := url.Parse(up)
	require.NoError(t, err)
	limits := httpproxy.Limits{}
	p, err := httpproxy.NewProxy(u, mw, httpproxy.ProxyOptions{Transport: limits.NewUpstream(httpproxy.UpstreamOptions{})})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := limits.NewServer(p, nil)
	go srv.Serve(limits.Listener(ln))
	t.Cleanup(func() { srv.Close() })

	const body = `{"model":"gpt-4o-mini","stream":true}`
	requests := []string{
		fmt.Sprintf("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-%s\r\n"+
			"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", realKey, len(body), body),
		fmt.Sprintf("GET /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-%s\r\n\r\n", realKey),
	}
	stream := func(raw string) net.Conn {
		c, err := net.Dial("tcp", ln.Addr().String())
		require.NoError(t, err)
		require.NoError(t, c.SetDeadline(time.Now().Add(20*time.Second)))
		_, err = io.WriteString(c, raw)
		require.NoError(t, err)
		br := bufio.NewReader(c)
		for events := 0; ; {
			line, err := br.ReadString('\n')
			require.NoError(t, err)
			if strings.HasPrefix(line, "data:") {
				if events++; events == 2 {
					return c
				}
			}
		}
	}
	stream(requests[0]).Close() // binds the key: the first decision is the deepest
	debug.SetMaxStack(8 << 10)
	for range 10 {
		for _, raw := range requests {
			defer stream(raw).Close()
		}
	}
}

// overflow returns the part of a child's output that shows the goroutine
// that outgrew its stack (the first trace after the runtime's message).
func overflow(out string) string {
	if i := strings.Index(out, "goroutine stack exceeds"); i >= 0 {
		out = out[i:]
	}
	if len(out) > 4000 {
		out = out[:4000]
	}
	return out
}

// TestAnswerHeads: the head of an answer without a length (a stream)
// reaches the client before its first event, as the downstream sent it;
// answers with a length, the downstream's and Sentinel's own refusals,
// keep it. (Proxy flushes the head of an answer without a length at once,
// see headWriter, so Sentinel's own answers must carry theirs to leave in
// one write.)
func TestAnswerHeads(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		first := make(chan struct{})
		up, _ := serveLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v1/models" {
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, modelsBody)
				return
			}
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			select { // the first event waits for the client to have the head
			case <-first:
			case <-r.Context().Done():
				return
			}
			io.WriteString(w, "data: 1\n\n")
		}))
		base := e.proxyFor(t, up, nil)
		client := &http.Client{Timeout: 10 * time.Second}

		resp, err := client.Do(authed(t, http.MethodPost, base+"/v1/chat/completions", strings.NewReader(`{"stream":true}`)))
		require.NoError(t, err, "the head arrived without an event")
		require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
		close(first)
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, "data: 1\n\n", string(b))

		resp, err = client.Do(authed(t, http.MethodGet, base+"/v1/models", nil))
		require.NoError(t, err)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.EqualValues(t, len(modelsBody), resp.ContentLength, "a fixed-length answer keeps its length")

		other := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: (&net.Dialer{
			LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).DialContext}}
		resp, err = other.Do(authed(t, http.MethodGet, base+"/v1/models", nil))
		require.NoError(t, err)
		b, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusForbidden, resp.StatusCode, "the key is bound to 127.0.0.1: %s", b)
		require.EqualValues(t, len(b), resp.ContentLength, "Sentinel's own answers carry their length")
	})
}
