package httpproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rawPair is a connected TCP pair on loopback: a, wrapped by withRawIO,
// and its peer b, a plain net.Conn.
func rawPair(t *testing.T) (a *rawIOConn, b net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	b, ok := <-accepted
	require.True(t, ok)
	w := withRawIO(c)
	a, ok = w.(*rawIOConn)
	require.True(t, ok, "a TCP connection gets raw I/O, got %T", w)
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func TestRawIOReadsWritesAndEOF(t *testing.T) {
	a, b := rawPair(t)
	_, err := b.Write([]byte("hello"))
	require.NoError(t, err)
	buf := make([]byte, 16)
	n, err := a.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(buf[:n]))

	n, err = a.Write([]byte("back"))
	require.NoError(t, err)
	assert.Equal(t, 4, n)
	n, err = io.ReadFull(b, buf[:4])
	require.NoError(t, err)
	assert.Equal(t, "back", string(buf[:n]))

	n, err = a.Read(nil)
	assert.Equal(t, 0, n)
	assert.NoError(t, err, "an empty read reads nothing and fails nothing")

	require.NoError(t, b.Close())
	n, err = a.Read(buf)
	assert.Equal(t, 0, n)
	assert.ErrorIs(t, err, io.EOF, "the peer's close is io.EOF, as net.Conn's")

	require.NoError(t, a.Close())
	_, err = a.Read(nil)
	assert.ErrorIs(t, err, net.ErrClosed, "an empty read of a closed connection fails, as net.Conn's")
	_, err = a.Write(nil)
	assert.ErrorIs(t, err, net.ErrClosed, "so does an empty write")
}

// A Read waiting for bytes must not hold up a Write on the same
// connection: a streamed answer is written while the hang-up watch or a
// body reader waits on the socket.
func TestRawIOReadAndWriteAreIndependent(t *testing.T) {
	a, b := rawPair(t)
	read := make(chan string, 1)
	go func() {
		buf := make([]byte, 8)
		n, _ := a.Read(buf)
		read <- string(buf[:n])
	}()
	time.Sleep(20 * time.Millisecond)
	wrote := make(chan error, 1)
	go func() {
		_, err := a.Write([]byte("x"))
		wrote <- err
	}()
	select {
	case err := <-wrote:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("the Write waited for the Read")
	}
	_, err := b.Write([]byte("y"))
	require.NoError(t, err)
	assert.Equal(t, "y", <-read)
}

// File would switch the socket to blocking mode, under which a raw read
// blocks a thread out of the runtime's reach: it is refused.
func TestRawIORefusesFile(t *testing.T) {
	a, b := rawPair(t)
	f, err := a.File()
	assert.Nil(t, f)
	assert.ErrorIs(t, err, errNoFile)
	// The socket is still non-blocking: a read with nothing to read waits
	// in the poller and ends at its deadline.
	require.NoError(t, a.SetReadDeadline(time.Now().Add(50*time.Millisecond)))
	_, err = a.Read(make([]byte, 8))
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
	_ = b
}

// A write larger than the socket buffers meets EAGAIN: it must wait for
// the peer to read and then write the rest, all of it, in order.
func TestRawIOWriteWaitsForTheReader(t *testing.T) {
	a, b := rawPair(t)
	require.NoError(t, a.SetWriteBuffer(4096))
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
	got := make(chan []byte, 1)
	go func() {
		time.Sleep(100 * time.Millisecond) // let the writer fill the buffers first
		all, _ := io.ReadAll(b)
		got <- all
	}()
	n, err := a.Write(big)
	require.NoError(t, err)
	assert.Equal(t, len(big), n)
	require.NoError(t, a.CloseWrite())
	assert.True(t, bytes.Equal(big, <-got), "every byte arrives, in order")
}

func TestRawIOHonoursDeadlinesAndClose(t *testing.T) {
	a, b := rawPair(t)
	require.NoError(t, a.SetReadDeadline(time.Now().Add(50*time.Millisecond)))
	_, err := a.Read(make([]byte, 8))
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout())

	// A write the peer never reads ends at the write deadline with what
	// was written counted.
	require.NoError(t, a.SetWriteDeadline(time.Now().Add(100*time.Millisecond)))
	n, err := a.Write(make([]byte, 64<<20))
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
	assert.Positive(t, n)
	assert.Less(t, n, 64<<20)

	// Close ends a read that waits.
	require.NoError(t, a.SetReadDeadline(time.Time{}))
	done := make(chan error, 1)
	go func() {
		_, err := a.Read(make([]byte, 8))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, a.Close())
	select {
	case err := <-done:
		assert.ErrorIs(t, err, net.ErrClosed)
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the waiting read")
	}
	_ = b
}

func TestRawIOReportsAReset(t *testing.T) {
	a, b := rawPair(t)
	require.NoError(t, b.(*net.TCPConn).SetLinger(0))
	require.NoError(t, b.Close()) // RST
	time.Sleep(20 * time.Millisecond)
	_, err := a.Read(make([]byte, 8))
	assert.ErrorIs(t, err, syscall.ECONNRESET)
	var oe *net.OpError
	require.True(t, errors.As(err, &oe))
	assert.Equal(t, "read", oe.Op)
	assert.Equal(t, a.LocalAddr().String(), oe.Source.String())
	assert.Equal(t, a.RemoteAddr().String(), oe.Addr.String())
}

func TestWithRawIOKeepsTheWrappers(t *testing.T) {
	a, b := rawPair(t)
	lc := withRawIO(&limitConn{Conn: a.TCPConn, release: func() {}})
	inner := lc.(*limitConn).Conn
	_, ok := inner.(*rawIOConn)
	assert.True(t, ok, "the socket under a limitConn gets raw I/O, got %T", inner)
	assert.Same(t, a.TCPConn, innerConn(lc), "innerConn still reaches the socket")
	assert.Same(t, b, withRawIO(b).(*rawIOConn).TCPConn)
	p1, p2 := net.Pipe()
	defer p1.Close()
	defer p2.Close()
	assert.Same(t, p1, withRawIO(p1), "a connection that is not TCP is left as it is")
}

func TestRawIOErrorsReadAsNetConns(t *testing.T) {
	a, _ := rawPair(t)
	require.NoError(t, a.SetReadDeadline(time.Now().Add(-time.Second)))
	_, err := a.Read(make([]byte, 8))
	var oe *net.OpError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "read", oe.Op)
	require.NoError(t, a.Close())
	_, err = a.Write([]byte("x"))
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "write", oe.Op)
	assert.ErrorIs(t, err, net.ErrClosed)
}

// The binaries' two sides both get raw I/O: connections the Server
// accepts and connections Upstream dials.
func TestServerAndUpstreamUseRawIO(t *testing.T) {
	got := make(chan string, 1)
	srv := Limits{}.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			got <- err.Error()
			return
		}
		got <- fmt.Sprintf("%T", c)
		io.WriteString(c, "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
		c.Close()
	}), nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go srv.Serve(ln)
	defer srv.Close()
	resp, err := http.Get("http://" + ln.Addr().String() + "/")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, "*httpproxy.rawIOConn", <-got, "the accepted connection")

	u := NewUpstream(UpstreamOptions{})
	defer u.CloseIdleConnections()
	uc, _, err := u.getConn(context.Background(), ln.Addr().String(), false)
	require.NoError(t, err)
	defer uc.close()
	assert.IsType(t, &rawIOConn{}, uc.conn, "the dialed connection")
}
