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
	srv := &http.Server{Handler: p}
	limits.Apply(srv)
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
		for {
			line, err := br.ReadString('\n')
			require.NoError(t, err)
			if strings.HasPrefix(line, "data:") {
				return c
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
