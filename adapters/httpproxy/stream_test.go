package httpproxy_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"
)

// streamThroughProxy has the upstream write n events of contentType, each
// flushed, and wait before writing the next one until the client says it
// has received the previous one. A proxy that buffered would deadlock the
// exchange: the upstream then gives up and the test fails. No wall-clock
// limit is asserted; the wait only bounds a broken run.
func streamThroughProxy(t *testing.T, contentType string, opts ...stackOptions) {
	s := newStack(t, append(opts, stackOptions{})[0])
	const n = 5
	received := make(chan int)
	s.Up.setHandler(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(http.StatusOK)
		for i := range n {
			fmt.Fprintf(w, "data: {\"n\":%d}\n\n", i)
			http.NewResponseController(w).Flush()
			select {
			case got := <-received:
				if got != i {
					t.Errorf("client received event %d while event %d was the last written", got, i)
					return
				}
			case <-time.After(10 * time.Second):
				t.Errorf("event %d did not reach the client before the next one was due: the proxy buffers", i)
				return
			case <-r.Context().Done():
				return
			}
		}
		io.WriteString(w, "data: [DONE]\n\n")
	})

	req, err := http.NewRequest(http.MethodPost, s.URL+"/v1/chat/completions", strings.NewReader(`{"stream":true}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+realKey)
	resp, err := clientFrom(t, "127.0.0.1").Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	sc := bufio.NewScanner(resp.Body)
	next := 0
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "data: ") {
			continue
		}
		if line == "data: [DONE]" {
			break
		}
		require.Equal(t, fmt.Sprintf("data: {\"n\":%d}", next), line)
		select {
		case received <- next:
		case <-time.After(15 * time.Second):
			t.Fatalf("the upstream stopped waiting for event %d", next)
		}
		next++
	}
	require.NoError(t, sc.Err())
	require.Equal(t, n, next, "every event arrived")
}

func TestSSEArrivesEventByEvent(t *testing.T) {
	streamThroughProxy(t, "text/event-stream")
}

func TestChunkedStreamArrivesChunkByChunk(t *testing.T) {
	// Unknown length, not SSE: an NDJSON-style stream is flushed too.
	streamThroughProxy(t, "application/x-ndjson")
}

func TestWebSocketThroughProxy(t *testing.T) {
	s := newStack(t, stackOptions{})
	s.Up.setHandler(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"realtime"}})
		if err != nil {
			t.Errorf("upstream accept: %v", err)
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
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	wsURL := "ws" + strings.TrimPrefix(s.URL, "http") + "/v1/realtime?model=gpt-4o-realtime"
	protocols := []string{"realtime", "openai-insecure-api-key.sk-" + realKey, "openai-beta.realtime-v1"}

	c, resp, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{
		HTTPClient: clientFrom(t, "127.0.0.1"), Subprotocols: protocols})
	require.NoError(t, err)
	defer c.CloseNow()
	require.Equal(t, "realtime", c.Subprotocol())
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	for i := range 3 {
		msg := fmt.Sprintf(`{"type":"ping","n":%d}`, i)
		require.NoError(t, c.Write(ctx, websocket.MessageText, []byte(msg)))
		_, got, err := c.Read(ctx)
		require.NoError(t, err)
		require.Equal(t, "echo: "+msg, string(got))
	}
	c.Close(websocket.StatusNormalClosure, "")

	require.Equal(t, "127.0.0.1", requireBinding(t, s, realKey).FirstIP.String(), "the key in the subprotocol was bound")
	_, resp, err = websocket.Dial(ctx, wsURL, &websocket.DialOptions{
		HTTPClient: clientFrom(t, "127.0.0.2"), Subprotocols: protocols})
	require.Error(t, err, "the same key from another address cannot open the socket")
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
}
