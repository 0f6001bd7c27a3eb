package httpproxy

import (
	"bytes"
	"errors"
	"io"
	"net"
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
