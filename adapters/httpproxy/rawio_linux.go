package httpproxy

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
)

// rawIOConn is a TCP connection whose reads and writes are made with
// raw system calls under Go's poller, instead of net.Conn's.
//
// Why: every read and write through net.Conn enters the scheduler's
// syscall state, and the first one after the process went idle wakes the
// runtime's monitor thread (sysmon) from its deep sleep; it then polls
// every 20 µs for a millisecond before sleeping again. A proxy holding
// thousands of open streams goes idle between almost every two events,
// so each event paid a thread wake-up and a burst of monitor polling
// (16 % of the proxy's CPU under ../shared/bench/streams.sh). Reads and
// writes of a non-blocking socket never block, so they need none of that.
// (What still goes through the scheduler, a connection's accept, connect
// and close, is why the binaries also keep sysmon out of deep sleep:
// cmd/internal/app/runtime_linux.go.)
//
// Only the system call changes: waiting for readiness, deadlines and
// Close still go through the poller (syscall.RawConn), so their meaning
// is net.Conn's.
type rawIOConn struct {
	*net.TCPConn
	rc syscall.RawConn

	rmu    sync.Mutex // one Read at a time owns the fields below
	rbuf   []byte
	rn     int
	rerr   error
	readFn func(fd uintptr) bool
	// pend is written by the next Read before it reads (sendWithNextRead),
	// and pendOwner told when it is done with it.
	pend      []byte
	pendOwner sendOwner
	sendFn    func(fd uintptr) bool
	wlocked   bool  // sendAndRead holds wmu
	serr      error // sendAndRead's write error
	// emptyReads counts reads that found the socket empty (for tests).
	emptyReads int

	wmu     sync.Mutex // one Write at a time owns the fields below
	wbuf    []byte
	wn      int
	werr    error
	writeFn func(fd uintptr) bool
}

// withRawIO gives c raw-system-call reads and writes when it is a TCP
// connection (directly or under a limitConn); other connections are
// returned as they are.
func withRawIO(c net.Conn) net.Conn {
	if lc, ok := c.(*limitConn); ok {
		lc.Conn = withRawIO(lc.Conn)
		return lc
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	r := &rawIOConn{TCPConn: tc, rc: rc}
	r.readFn = r.readOnce
	r.writeFn = r.writeSome
	r.sendFn = r.sendThenRead
	return r
}

// NetConn returns the TCP connection (for the hang-up watch and linger).
func (c *rawIOConn) NetConn() net.Conn { return c.TCPConn }

// errNoFile refuses File: os.File.Fd switches the socket to blocking mode,
// and a raw read(2) on a blocking socket would then block its thread
// while it holds the scheduler's P, out of the runtime's reach: the next
// garbage collection would wait for it for ever. (Through net.Conn only
// the connection's own goroutines would hang.) SyscallConn is the way to
// the descriptor, and its users must leave O_NONBLOCK set.
var errNoFile = errors.New("httpproxy: the proxy's sockets are not lent out as files; use SyscallConn and keep O_NONBLOCK")

// File refuses; see errNoFile.
func (c *rawIOConn) File() (*os.File, error) { return nil, errNoFile }

// ready is the read callback of an empty read: the poller's checks (a
// closed connection, as net.Conn's empty read; also a past deadline,
// which net.Conn's does not check) without a system call.
func ready(uintptr) bool { return true }

func (c *rawIOConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, asNetError(c.rc.Read(ready), "read")
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.pend != nil {
		return c.sendAndRead(p)
	}
	c.rbuf, c.rn, c.rerr = p, 0, nil
	err := c.rc.Read(c.readFn)
	c.rbuf = nil
	if err != nil {
		return 0, asNetError(err, "read")
	}
	return c.rn, c.rerr
}

// sendWithNextRead has p written by the connection's next Read, before
// it reads: for a request whose answer is read next (Upstream's
// exchanges), so that the Read waits for the answer instead of first
// finding the socket empty. Go's own Read must try the socket before it
// waits, because the poller's readiness is reset when a read starts and
// bytes that came before would otherwise be waited for in vain. Written
// after that reset, inside the same wait, p cannot have been answered
// yet: one read(2) that returns EAGAIN less per exchange. Only for a
// peer that speaks when spoken to: whatever it sent before the send
// (unasked bytes, a close) is not seen until it sends something more
// (the answer, or a reset for bytes to a closed socket); a peer that
// half-closed and reads on sends nothing more (see holdIdleMax).
//
// The Read reports a failed write as a *net.OpError with Op "write", and
// finishes a write the socket did not take at once as Write would (with
// the write deadline) before it reads. p stays the caller's until owner's
// sent is called: once written (before the wait for the answer, which
// may be long: a model's first token), failed, or dropped by a later
// call (p nil drops a send not made yet).
func (c *rawIOConn) sendWithNextRead(p []byte, owner sendOwner) {
	c.rmu.Lock()
	prev := c.pendOwner
	c.pend, c.pendOwner = p, owner
	if p == nil {
		c.pendOwner = nil
	}
	c.rmu.Unlock()
	if prev != nil {
		prev.sent()
	}
}

// sendAndRead is Read with c.pend to write first; c.rmu is held. The
// write side (c.wmu) is held only while the bytes are written, not while
// the answer is awaited.
func (c *rawIOConn) sendAndRead(p []byte) (int, error) {
	c.wmu.Lock()
	c.wlocked, c.serr = true, nil
	c.wbuf, c.wn, c.werr = c.pend, 0, nil
	c.pend = nil
	c.rbuf, c.rn, c.rerr = p, 0, nil
	err := c.rc.Read(c.sendFn)
	c.rbuf = nil
	if c.wlocked && err == nil && c.serr == nil {
		// The socket did not take it all: finish it as Write does.
		if err := c.rc.Write(c.writeFn); err != nil && c.werr == nil {
			c.werr = asNetError(err, "write")
		}
		c.sent()
		if c.serr == nil {
			c.rbuf = p
			err = c.rc.Read(c.readFn)
			c.rbuf = nil
		}
	}
	if c.wlocked {
		c.sent() // (not made: the connection is closed, or its deadline passed)
	}
	switch {
	case c.serr != nil:
		return 0, c.serr
	case err != nil:
		return 0, asNetError(err, "read")
	}
	return c.rn, c.rerr
}

// sent ends sendAndRead's write: its error is kept, the write side is
// let go and the bytes given back. c.rmu is held, and c.wmu by this Read.
func (c *rawIOConn) sent() {
	c.serr = c.werr
	c.wbuf = nil
	c.wlocked = false
	c.wmu.Unlock()
	if o := c.pendOwner; o != nil {
		c.pendOwner = nil
		o.sent()
	}
}

// sendThenRead is the read callback of sendAndRead: the first call
// writes (and asks to wait for the answer), the next ones read.
func (c *rawIOConn) sendThenRead(fd uintptr) bool {
	if !c.wlocked {
		return c.readOnce(fd)
	}
	if !c.writeSome(fd) {
		return true // the socket is full: sendAndRead finishes the write
	}
	c.sent()
	return c.serr != nil // written: wait for the answer
}

// readOnce is one read(2); false asks the poller to wait for readiness.
func (c *rawIOConn) readOnce(fd uintptr) bool {
	var ready bool
	c.rn, ready, c.rerr = c.readFD(fd, c.rbuf)
	if !ready {
		c.emptyReads++
	}
	return ready
}

// readFD is one read(2) of the socket fd into p, as net.Conn reports it
// (io.EOF at the peer's end, a *net.OpError on failure); ready is false
// when the socket is empty (EAGAIN) and the caller should wait.
func (c *rawIOConn) readFD(fd uintptr, p []byte) (n int, ready bool, err error) {
	for {
		n, e := sysRead(fd, p)
		switch {
		case e == syscall.EINTR:
			continue
		case e == syscall.EAGAIN:
			return 0, false, nil
		case e != 0:
			return 0, true, c.opError("read", e)
		case n == 0:
			return 0, true, io.EOF
		}
		return n, true, nil
	}
}

func (c *rawIOConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf, c.wn, c.werr = p, 0, nil
	err := c.rc.Write(c.writeFn)
	c.wbuf = nil
	if err != nil && c.werr == nil {
		c.werr = asNetError(err, "write")
	}
	return c.wn, c.werr
}

// writeSome writes what the socket takes; false asks the poller to wait
// until it takes more. Done when all is written or on an error, as
// net.Conn's Write.
func (c *rawIOConn) writeSome(fd uintptr) bool {
	for c.wn < len(c.wbuf) {
		b := c.wbuf[c.wn:]
		n, e := sysWrite(fd, b)
		switch {
		case e == syscall.EINTR:
			continue
		case e == syscall.EAGAIN:
			return false
		case e != 0:
			c.werr = c.opError("write", e)
			return true
		}
		c.wn += int(n)
	}
	return true
}

// opError is a failed system call as net.Conn reports it.
func (c *rawIOConn) opError(op string, e syscall.Errno) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError(op, e)}
}

// asNetError names the poller's errors (a deadline, a closed connection)
// by the operation as net.Conn does ("read", not "raw-read"), so logs and
// errors read the same as before.
func asNetError(err error, op string) error {
	if oe, ok := err.(*net.OpError); ok {
		oe.Op = op
	}
	return err
}
