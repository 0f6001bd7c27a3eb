package httpproxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestStalledReaderIsCut: a client that stops reading a streamed answer
// does not hold the connection (and the downstream's stream) for ever: a
// write that makes no progress for writeStallTimeout fails, and the
// request's context ends with it.
func TestStalledReaderIsCut(t *testing.T) {
	old := writeStallTimeout
	writeStallTimeout = 200 * time.Millisecond
	defer func() { writeStallTimeout = old }()
	ended := make(chan error, 1)
	srv := Limits{}.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		chunk := make([]byte, 32<<10)
		rc := http.NewResponseController(w)
		for {
			if _, err := w.Write(chunk); err != nil {
				ended <- r.Context().Err()
				return
			}
			if err := rc.Flush(); err != nil {
				ended <- r.Context().Err()
				return
			}
		}
	}), nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go srv.Serve(ln)
	defer srv.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(16 << 10)
	io.WriteString(c, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
	_, err = http.ReadResponse(bufio.NewReader(c), nil) // the head, then the client reads no more
	require.NoError(t, err)
	select {
	case ctxErr := <-ended:
		require.Error(t, ctxErr, "the request's context ended with the failed write")
	case <-time.After(20 * time.Second):
		t.Fatal("the server still writes to a client that stopped reading")
	}
}

// An answer's fields adopted raw are the Header's the moment anything
// asks for it, after what the handlers set, as adoptHeader puts them;
// the observer reads the Content-Type without that. adoptRaw leaves the
// fields to the map where the handlers set one the framing is read from.
func TestAdoptRawParsedOnlyWhenAsked(t *testing.T) {
	raw := rawHead{ok: true, lines: "content-type: text/event-stream\r\nX-Request-Id: gw-1\r\nContent-Length: 0", ctype: "text/event-stream", n: 0}
	w := &response{header: http.Header{"X-Request-Id": {"r1"}}}
	require.True(t, w.adoptRaw(&raw))
	o := &observedWriter{ResponseWriter: w}
	require.Equal(t, "text/event-stream", contentType(o))
	require.True(t, w.raw.ok, "the observer's read parses nothing")
	require.Equal(t, http.Header{
		"X-Request-Id":   {"r1", "gw-1"},
		"Content-Type":   {"text/event-stream"},
		"Content-Length": {"0"},
	}, o.Header())
	require.False(t, w.raw.ok, "parsed once, then the map is the answer's")
	require.Equal(t, "text/event-stream", contentType(o))

	for _, set := range []string{"Content-Length", "Content-Type", "Date", "Connection", "Trailer"} {
		w := &response{header: http.Header{set: {"x"}}}
		require.False(t, w.adoptRaw(&raw), set)
		require.False(t, w.raw.ok, set)
	}
	w = &response{header: http.Header{}, wroteHeader: true}
	require.False(t, w.adoptRaw(&raw), "not once the status is set")
}
