package httpproxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
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

// answerAfter has b answer each request it reads with "answer:" and the
// request, after delay (so the asking side's socket is empty meanwhile).
func answerAfter(t *testing.T, b net.Conn, delay time.Duration) {
	t.Helper()
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := b.Read(buf)
			if err != nil {
				return
			}
			time.Sleep(delay)
			if _, err := b.Write(append([]byte("answer:"), buf[:n]...)); err != nil {
				return
			}
		}
	}()
}

func readAnswer(t *testing.T, a net.Conn, want string) {
	t.Helper()
	got := make([]byte, len(want))
	_, err := io.ReadFull(a, got)
	require.NoError(t, err)
	require.Equal(t, want, string(got))
}

// A request sent with the next read is answered, and that read waits for
// the answer without first finding the socket empty; a plain write and
// read of the same exchange finds it empty once.
func TestRawIOSendsWithTheNextRead(t *testing.T) {
	a, b := rawPair(t)
	answerAfter(t, b, 20*time.Millisecond)

	_, err := a.Write([]byte("one"))
	require.NoError(t, err)
	readAnswer(t, a, "answer:one")
	require.Equal(t, 1, a.emptyReads, "a plain write then read finds the socket empty before the answer")

	a.emptyReads = 0
	o := newSendOwner()
	a.sendWithNextRead([]byte("two"), o)
	readAnswer(t, a, "answer:two")
	require.Equal(t, 0, a.emptyReads, "sent with the read, the read waits for the answer")
	require.Equal(t, 1, o.count(), "the bytes are given back once")

	a.sendWithNextRead([]byte("three"), nil)
	readAnswer(t, a, "answer:three")
	require.Equal(t, 0, a.emptyReads)
}

// testOwner counts the sent calls of a send with the next read.
type testOwner struct {
	mu sync.Mutex
	n  int
	ch chan struct{}
}

func newSendOwner() *testOwner { return &testOwner{ch: make(chan struct{}, 8)} }

func (o *testOwner) sent() {
	o.mu.Lock()
	o.n++
	o.mu.Unlock()
	o.ch <- struct{}{}
}

func (o *testOwner) count() int { o.mu.Lock(); defer o.mu.Unlock(); return o.n }

// The bytes of a send are given back as soon as they are written, not
// when the answer comes: a stream's answer may take seconds (a model's
// first token), and a thousand opening streams must not hold a buffer
// each meanwhile.
func TestRawIOSendWithNextReadGivesTheBytesBackBeforeTheAnswer(t *testing.T) {
	a, b := rawPair(t)
	release := make(chan struct{})
	go func() {
		buf := make([]byte, 16)
		if _, err := b.Read(buf); err == nil {
			<-release
			b.Write([]byte("late"))
		}
	}()
	o := newSendOwner()
	a.sendWithNextRead([]byte("q"), o)
	done := make(chan struct{})
	go func() { defer close(done); readAnswer(t, a, "late") }()
	select {
	case <-o.ch:
	case <-time.After(5 * time.Second):
		t.Fatal("the bytes were not given back while the answer was awaited")
	}
	close(release)
	<-done
	assert.Equal(t, 1, o.count())
}

// What the socket does not take at once is finished before the read
// reads (a peer that reads only later), and the answer still comes.
func TestRawIOSendWithNextReadFinishesALongWrite(t *testing.T) {
	a, b := rawPair(t)
	require.NoError(t, a.SetWriteBuffer(4096))
	long := bytes.Repeat([]byte("x"), 1<<20)
	got := make(chan []byte, 1)
	go func() {
		time.Sleep(50 * time.Millisecond) // the sender's socket fills first
		buf := make([]byte, len(long))
		_, err := io.ReadFull(b, buf)
		if err == nil {
			_, err = b.Write([]byte("ok"))
		}
		if err != nil {
			buf = nil
		}
		got <- buf
	}()
	a.sendWithNextRead(long, nil)
	readAnswer(t, a, "ok")
	assert.True(t, bytes.Equal(long, <-got), "the peer got every byte, in order")
}

// Bytes the peer sent unasked before the request are read, with the
// answer, once the answer comes.
func TestRawIOSendWithNextReadReadsUnaskedBytes(t *testing.T) {
	a, b := rawPair(t)
	_, err := b.Write([]byte("unasked;"))
	require.NoError(t, err)
	time.Sleep(20 * time.Millisecond) // they are in a's socket before the send
	answerAfter(t, b, 10*time.Millisecond)
	a.sendWithNextRead([]byte("q"), nil)
	readAnswer(t, a, "unasked;answer:q")
}

// A send to a peer that is gone fails as a write does, with the read's
// result left out; the deadlines still hold while the answer is awaited;
// a send dropped before any read is never made.
func TestRawIOSendWithNextReadFailures(t *testing.T) {
	a, b := rawPair(t)
	require.NoError(t, b.(*net.TCPConn).SetLinger(0))
	require.NoError(t, b.Close()) // a reset
	time.Sleep(20 * time.Millisecond)
	o := newSendOwner()
	a.sendWithNextRead([]byte("q"), o)
	_, err := a.Read(make([]byte, 16))
	require.Error(t, err)
	var oe *net.OpError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "write", oe.Op, "the send failed, and says so")
	assert.True(t, errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET), "got %v", err)
	assert.Equal(t, 1, o.count(), "a failed send gives the bytes back too")

	a, b = rawPair(t)
	require.NoError(t, a.SetReadDeadline(time.Now().Add(30*time.Millisecond)))
	a.sendWithNextRead([]byte("nobody answers"), nil)
	_, err = a.Read(make([]byte, 16))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	buf := make([]byte, 14)
	_, err = io.ReadFull(b, buf)
	require.NoError(t, err)
	assert.Equal(t, "nobody answers", string(buf), "sent before the wait")

	require.NoError(t, a.SetReadDeadline(time.Time{}))
	o = newSendOwner()
	a.sendWithNextRead([]byte("dropped"), o)
	a.sendWithNextRead(nil, nil)
	assert.Equal(t, 1, o.count(), "a dropped send gives the bytes back")
	answerAfter(t, b, 0)
	_, err = a.Write([]byte("kept"))
	require.NoError(t, err)
	readAnswer(t, a, "answer:kept")
}

// Upstream sends a request that is whole once written (no body, a small
// one in memory) with the read of its answer, and a streamed body as it
// comes: the head's read waits for the answer without an empty read.
func TestUpstreamSendsARequestWithTheReadOfItsAnswer(t *testing.T) {
	srv, _ := upstreamCounting(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		time.Sleep(20 * time.Millisecond) // the proxy's socket stays empty meanwhile
		fmt.Fprintf(w, "%s %s", r.Method, b)
	})
	u := NewUpstream(UpstreamOptions{})
	defer u.CloseIdleConnections()
	conn := func() *rawIOConn {
		u.mu.Lock()
		defer u.mu.Unlock()
		l := u.idle[srv.Listener.Addr().String()]
		require.Len(t, l, 1)
		return l[0].conn.(*rawIOConn)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
	code, body := roundTrip(t, u, req)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "GET ", body)
	assert.Equal(t, 0, conn().emptyReads)

	req, _ = http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader(`{"n":1}`))
	_, body = roundTrip(t, u, req)
	require.Equal(t, `POST {"n":1}`, body)
	assert.Equal(t, 0, conn().emptyReads, "a small body in memory goes with the head, sent with the read")

	req, _ = http.NewRequest(http.MethodPost, srv.URL+"/", io.NopCloser(strings.NewReader("streamed")))
	req.ContentLength = -1
	_, body = roundTrip(t, u, req)
	require.Equal(t, "POST streamed", body)
	assert.Equal(t, 1, conn().emptyReads, "a streamed body is written as it comes, and the answer read after")
}

// A downstream that half-closes an idle connection and keeps reading (a
// lingering close) sends nothing more: a request sent with the read of
// its answer would wait for ever on it. A connection idle past
// holdIdleMax is written to and read as usual, so the close is seen and
// the request replayed on a new connection.
func TestUpstreamReplaysAfterALingeringClose(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			first := accepted.Add(1) == 1
			go func() {
				defer c.Close()
				if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
					return
				}
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				if first {
					c.(*net.TCPConn).CloseWrite()
					io.Copy(io.Discard, c) // reads on, never answers
				}
			}()
		}
	}()
	u := NewUpstream(UpstreamOptions{})
	defer u.CloseIdleConnections()
	url := "http://" + ln.Addr().String() + "/"
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	_, body := roundTrip(t, u, req)
	require.Equal(t, "ok", body)
	time.Sleep(2 * holdIdleMax) // the close is in; still under peekAfter
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	_, body = roundTrip(t, u, req)
	require.Equal(t, "ok", body)
	require.EqualValues(t, 2, accepted.Load(), "replayed on a new connection")
}

// A request too long to hold is written as it comes, all of it: once its
// head went out directly, the downstream may answer before the rest is
// sent, and that answer must not be waited for in vain.
func TestUpstreamWritesARequestTooLongToHoldAsItComes(t *testing.T) {
	srv, _ := upstreamCounting(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		time.Sleep(20 * time.Millisecond)
		fmt.Fprintf(w, "%d %d", len(r.Header.Get("Cookie")), len(b))
	})
	u := NewUpstream(UpstreamOptions{})
	defer u.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader(strings.Repeat("b", 2000)))
	req.Header.Set("Cookie", strings.Repeat("c", 12<<10))
	_, body := roundTrip(t, u, req)
	require.Equal(t, fmt.Sprintf("%d 2000", 12<<10), body)
	u.mu.Lock()
	l := u.idle[srv.Listener.Addr().String()]
	u.mu.Unlock()
	require.Len(t, l, 1)
	assert.Equal(t, 1, l[0].conn.(*rawIOConn).emptyReads, "nothing was held: the answer was read after the whole request was written")
	assert.Nil(t, l[0].held.buf, "the buffer went back")
}
