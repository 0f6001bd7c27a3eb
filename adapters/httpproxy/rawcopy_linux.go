package httpproxy

import (
	"io"
	"net"
)

// copyRaw copies a chunked answer's body from the downstream's socket to
// w with read(2) calls of its own, made inside one RawConn.Read: after a
// read that did not fill the buffer the socket is empty, so the copy waits
// for it to become readable instead of reading again to learn that (as
// nginx does). Go's reads cannot do that: every Read resets the poller's
// readiness first and must try the socket before it may wait, so each
// event cost a read that returned EAGAIN. Within one RawConn.Read the
// readiness is reset once, and an event that arrives after a read sets it
// again, so none is missed.
//
// The framing is followed by chunkScanner and the bytes written through
// w (chunked, flushed once per read). At the body's last chunk, or at a
// size line chunkScanner leaves to it, net/http's chunked reader takes
// over with what is left, for the trailers and the end. It reports
// whether it took the body; with an error the body failed. With p nil
// it reads into buffers of copyBuffers, each lent for one wake-up.
func (b *upBody) copyRaw(w *response, p []byte) (bool, error) {
	u := innerRaw(b.c.conn)
	if u == nil || (p != nil && len(p) == 0) {
		return false, nil
	}
	var s chunkScanner
	// pass hands one read's bytes on, under fmu (writeStreamed says
	// why).
	pass := func(in []byte) (rest []byte, err error) {
		w.fmu.Lock()
		defer w.fmu.Unlock()
		if rest, err = s.feed(in, w.writeCounted); err == nil {
			err = w.flushLocked()
		}
		return rest, err
	}
	// What the head's reader holds already comes first.
	in, _ := b.c.br.Peek(b.c.br.Buffered())
	rest, err := pass(in)
	_, _ = b.c.br.Discard(len(in))
	if err != nil {
		return true, err
	}
	if rest == nil {
		rawCopies.Add(1)
		b.c.shelveReader() // the reads below bypass it
		defer b.c.unshelveReader()
		var cerr error // the copy's own end; err is then the poller's
		err = u.rc.Read(func(fd uintptr) bool {
			// Without a buffer of the caller's, one is lent for as long as
			// the socket has bytes and given back before the wait: an
			// open stream holds none between its events.
			buf := p
			if buf == nil {
				lent := lendCopyBuffer()
				defer giveBackCopyBuffer(lent)
				buf = lent[:]
			}
			for {
				n, ready, rerr := u.readFD(fd, buf)
				switch {
				case !ready:
					return false
				case rerr == io.EOF:
					cerr = io.ErrUnexpectedEOF // the downstream closed before the last chunk
					return true
				case rerr != nil:
					cerr = rerr
					return true
				}
				if rest, cerr = pass(buf[:n]); cerr != nil || rest != nil {
					return true
				}
				if n < len(buf) {
					return false // the socket is empty: wait until it is readable
				}
			}
		})
		switch {
		case err != nil:
			// The connection closed under the wait (the request's context,
			// upBody.Close), or a deadline.
			return true, asNetError(err, "read")
		case cerr != nil:
			return true, cerr
		}
	}
	b.c.src.pending = rest // net/http's reader reads the end from here
	return true, nil
}

// innerRaw is the rawIOConn under c's wrappers (limitConn), or nil.
func innerRaw(c net.Conn) *rawIOConn {
	if lc, ok := c.(*limitConn); ok {
		c = lc.Conn
	}
	r, _ := c.(*rawIOConn)
	return r
}
