package httpproxy

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"net/http"
	"sync/atomic"
	"unsafe"
)

// requestIDHeader carries a request's id to the downstream and back to the
// client (canonical form).
const requestIDHeader = "X-Request-Id"

// MaxRequestIDLen is the longest X-Request-Id kept from a trusted proxy.
const MaxRequestIDLen = 128

// RequestIDFrom returns r's request id: the X-Request-Id a Proxy set on
// the request before the Middleware saw it (kept from a trusted proxy, or
// generated). Empty outside a Proxy. The Middleware stamps intercepts and
// log lines with it.
func RequestIDFrom(r *http.Request) string {
	if v := r.Header[requestIDHeader]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// requestIDs generates request ids: a random per-process prefix and a
// counter, 32 hex digits together (the look of 16 random bytes), unique
// across processes and restarts without a random read per request.
type requestIDs struct {
	prefix [8]byte
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs {
	g := &requestIDs{}
	var seed [16]byte
	_, _ = rand.Read(seed[:]) // crypto/rand.Read does not fail (Go ≥ 1.24)
	copy(g.prefix[:], seed[:8])
	g.n.Store(binary.BigEndian.Uint64(seed[8:]))
	return g
}

// idValue is a generated id as a header's value: the slice and the
// string's bytes in one allocation.
type idValue struct {
	v [1]string
	b [32]byte
}

// next returns a fresh id as a header's value (one element), in one
// allocation.
func (g *requestIDs) next() []string {
	var raw [16]byte
	copy(raw[:8], g.prefix[:])
	binary.BigEndian.PutUint64(raw[8:], g.n.Add(1))
	iv := new(idValue)
	hex.Encode(iv.b[:], raw[:])
	iv.v[0] = unsafe.String(&iv.b[0], len(iv.b)) // b is not written again
	return iv.v[:]
}

// saneRequestID reports whether an X-Request-Id from a trusted proxy may be
// kept: 1 to MaxRequestIDLen printable ASCII characters, no spaces, so it
// is safe in log lines, headers and the intercept log.
func saneRequestID(v string) bool {
	if len(v) == 0 || len(v) > MaxRequestIDLen {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] <= ' ' || v[i] > '~' {
			return false
		}
	}
	return true
}

// withRequestID gives every request an id before next sees it: the
// X-Request-Id a trusted proxy sent (one value, sane), else a generated
// one; a client's own value is never believed, as with its client
// address. The id is set on the request (so it reaches the downstream,
// and RequestIDFrom reads it) and on the response.
func withRequestID(resolver *ClientIPResolver, next http.Handler) http.Handler {
	ids := newRequestIDs()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ids.assign(resolver, w, r)
		next.ServeHTTP(w, r)
	})
}

// assign sets r's id on r and on w, as withRequestID describes.
func (g *requestIDs) assign(resolver *ClientIPResolver, w http.ResponseWriter, r *http.Request) {
	var v []string
	if in := r.Header[requestIDHeader]; len(in) == 1 && saneRequestID(in[0]) {
		if peer, err := parseHostAddr(r.RemoteAddr); err == nil && resolver.isTrusted(peer) {
			v = []string{in[0]}
		}
	}
	if v == nil {
		v = g.next()
	}
	r.Header[requestIDHeader] = v
	w.Header()[requestIDHeader] = v
}
