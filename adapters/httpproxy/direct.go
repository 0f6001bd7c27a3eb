package httpproxy

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
)

// The direct copy of a streamed answer.
//
// A chunked answer from the downstream (SSE, any stream of unknown length)
// is copied by forward event by event: its copy loop reads the body and
// writes each piece through the writers the Middleware and the access log
// stack on the response (observedWriter, accessWriter), then flushes
// through http.ResponseController, which finds the response by unwrapping
// them one by one. None of those layers does anything with body bytes of
// an answer whose head is out (they count them, at most), yet each event
// would go through all of them.
//
// When the Proxy serves on Server and forwards through Upstream, the
// upstream body writes each piece it reads straight to the Server's
// response instead (the same Write and flush, so the same framing, write
// stall deadline and errors) and hands forward only the end of the body:
// trailers, errors and the clean end are then handled by forward as
// for any other body. It applies only where nothing is lost: the
// request is the one the connection is answering (same cancellation), the
// Proxy is its handler, the head is out and the response is chunked.

// serverConnKey is the context key under which a Server's connection
// context holds its serverConn.
type serverConnKey struct{}

// directCopies counts the answers copied directly, rawCopies those of
// them read with raw reads (rawcopy_linux.go); for the tests.
var directCopies, rawCopies atomic.Int64

// connOf is the Server connection a request with context ctx came on,
// or nil outside a Server.
func connOf(ctx context.Context) *serverConn {
	c, _ := ctx.Value(serverConnKey{}).(*serverConn)
	return c
}

// directSink is the Server response that the body of a request with
// context ctx may be copied to directly, or nil.
func directSink(ctx context.Context) *response {
	c := connOf(ctx)
	if c == nil {
		return nil
	}
	w := &c.res
	if !w.proxied || w.req == nil {
		return nil
	}
	// The request's own context, most often: then without Done, which
	// makes the request's channel for the comparison.
	if rc := w.req.Context(); rc != ctx && rc.Done() != ctx.Done() {
		return nil
	}
	return w
}

// contentType is the Content-Type w's answer goes out with, read
// without making a Server response parse fields it holds raw.
func contentType(w http.ResponseWriter) string {
	if r := serverResponse(w); r != nil && r.raw.ok {
		return r.raw.ctype
	}
	return firstValue(w.Header()["Content-Type"]) // (a canonical key: no Get)
}

// serverResponse is the Server response under w when w is one, or this
// package's writers around one, which all pass Header and the answer's
// head and body through: the body timeout's (which changes nothing of an
// answer whose head is out but for a 408 it answered instead, and that
// has a length, so it is never streamed directly) and the Middleware's
// and the access log's. nil otherwise: a writer of anyone else's may keep
// a header of its own.
func serverResponse(w http.ResponseWriter) *response {
	for {
		switch x := w.(type) {
		case *response:
			return x
		case *timeoutWriter:
			w = x.ResponseWriter
		case *observedWriter:
			w = x.ResponseWriter
		case *statusWriter:
			w = x.ResponseWriter
		case *accessWriter:
			w = x.ResponseWriter
		default:
			return nil
		}
	}
}

// takesStream reports whether w can take a streamed body directly now.
func (w *response) takesStream() bool {
	return w.proxied && w.committed && w.chunked && !w.bodyless && !w.hijacked && w.c.werr == nil
}

// writeStreamed writes and flushes one piece of a directly copied body.
// Under fmu: a flush from another goroutine (a handler's own) must not
// come between a piece and its flush.
func (w *response) writeStreamed(p []byte) error {
	w.fmu.Lock()
	defer w.fmu.Unlock()
	if err := w.writeCounted(p); err != nil {
		return err
	}
	return w.flushLocked()
}

// writeCounted writes a piece of a directly copied body, counting it for
// the access log (streamedBytes).
func (w *response) writeCounted(p []byte) error {
	n, err := w.Write(p)
	w.streamed += int64(n)
	return err
}

// copyTo copies b to w until the body ends or fails and returns that end
// as a Read of forward's buffer p would: (0, io.EOF) at a clean end,
// trailers read. p is nil when copiesDirectly said so: the copy then
// borrows buffers (lendCopyBuffer) only while bytes move. Called with
// b.mu held.
func (b *upBody) copyTo(w *response, p []byte) (int, error) {
	if !w.takesStream() {
		if p == nil { // copiesDirectly said yes; since then a write failed
			if err := w.c.werr; err != nil {
				return 0, err
			}
			return 0, errNoCopyBuffer
		}
		return b.body.Read(p)
	}
	directCopies.Add(1)
	if taken, err := b.copyRaw(w, p); taken && err != nil {
		return 0, err
	}
	if p == nil {
		// What raw reads did not take (the end, trailers; or all of it
		// where there are none) goes through net/http's reader.
		lent := lendCopyBuffer()
		defer giveBackCopyBuffer(lent)
		p = lent[:]
	}
	for {
		n, err := b.body.Read(p)
		if n > 0 {
			if werr := w.writeStreamed(p[:n]); werr != nil {
				return 0, werr
			}
		}
		if err != nil {
			return 0, err
		}
	}
}

var errNoCopyBuffer = errors.New("httpproxy: an answer to copy directly was not (a bug)")

// copiesDirectly reports whether b's first Read will copy it to its Server
// response directly (and so needs no buffer of the caller's).
func (b *upBody) copiesDirectly() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.done && b.sink != nil && b.sink.takesStream()
}

// streamedBytes is what was copied directly to the Server response under
// w (0 when there is none).
func streamedBytes(w http.ResponseWriter) int64 {
	for {
		switch x := w.(type) {
		case *response:
			return x.streamed
		case interface{ Unwrap() http.ResponseWriter }:
			w = x.Unwrap()
		default:
			return 0
		}
	}
}
