package httpproxy_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A small request body that came with its head goes to the downstream in
// the same write as the request's head (one segment, one wake-up of the
// gateway), on the binaries' engine; the others send the head first.
func TestSmallBodyGoesOutWithTheHead(t *testing.T) {
	body := `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	firstReads := make(chan string, 100)
	addr := serveTCP(t, func(c net.Conn) {
		buf := make([]byte, 64<<10)
		for {
			n, err := c.Read(buf) // the first read of each request
			if err != nil {
				return
			}
			got := string(buf[:n])
			for !strings.Contains(got, "\r\n\r\n") || len(got) < strings.Index(got, "\r\n\r\n")+4+len(body) {
				m, err := c.Read(buf)
				if err != nil {
					return
				}
				got += string(buf[:m])
			}
			firstReads <- string(buf[:n])
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	base := engines()[0].proxyFor(t, "http://"+addr, nil)
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	const n = 20
	for i := range n {
		resp, err := client.Do(authed(t, http.MethodPost, base+"/v1/chat/completions", strings.NewReader(body)))
		require.NoError(t, err)
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, "ok", string(got), "request %d", i)
		first := <-firstReads
		require.True(t, strings.HasSuffix(first, "\r\n\r\n"+body), "request %d: the first read held %q", i, first)
	}
}

// A small POST on a reused downstream connection that the gateway closes
// as it arrives (before answering) is sent again on a new connection, as a
// bodiless request is, instead of failing with 502: its body is in memory.
func TestSmallPostIsReplayedOnAConnectionFoundClosed(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	addr := serveTCP(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for i := 0; ; i++ {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			b, _ := io.ReadAll(req.Body)
			if i == 1 {
				return // the second request on a connection: closed unanswered
			}
			mu.Lock()
			bodies = append(bodies, string(b))
			mu.Unlock()
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(b), b)
		}
	})
	base := engines()[0].proxyFor(t, "http://"+addr, nil)
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	for i := range 3 {
		want := `{"n":` + strconv.Itoa(i) + `}`
		resp, err := client.Do(authed(t, http.MethodPost, base+"/v1/chat/completions", bytes.NewReader([]byte(want))))
		require.NoError(t, err)
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, "request %d: %s", i, got)
		require.Equal(t, want, string(got))
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{`{"n":0}`, `{"n":1}`, `{"n":2}`}, bodies)
}
