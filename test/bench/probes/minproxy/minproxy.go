// Package minproxy is the little that the two engine probes (eventloop and
// goroutine) do per request, shared so that they differ only in their
// engine: find the head's end, check the bearer token (an HMAC-SHA256
// looked up in a map, as Sentinel's decision at its cheapest), write the
// outbound head with the forwarding headers, and find where the answer
// ends by its Content-Length. Benchmark probes only (docs/performance.md,
// round 12): GET without a body, no pipelining, no chunked answers.
package minproxy

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"os"
	"strconv"
	"sync"
)

var (
	headEnd = []byte("\r\n\r\n")
	auth    = []byte("\r\nAuthorization: Bearer ")
	length  = []byte("\r\ncontent-length:")
	// Refused is the answer to a request without a key or from another address.
	Refused = []byte("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
)

// HeadEnd returns the length of the head at the start of buf, or -1 when
// it has not all come.
func HeadEnd(buf []byte) int {
	if i := bytes.Index(buf, headEnd); i >= 0 {
		return i + len(headEnd)
	}
	return -1
}

// Checker binds each key to the first address that uses it.
type Checker struct {
	secret []byte
	mu     sync.Mutex
	bound  map[[32]byte]string
}

// NewChecker returns a Checker keyed with secret.
func NewChecker(secret string) *Checker {
	return &Checker{secret: []byte(secret), bound: map[[32]byte]string{}}
}

// Allow reports whether the head's bearer key may be used from addr.
func (c *Checker) Allow(head []byte, addr string) bool {
	i := bytes.Index(head, auth)
	if i < 0 {
		return false
	}
	tok := head[i+len(auth):]
	tok = tok[:bytes.IndexByte(tok, '\r')]
	m := hmac.New(sha256.New, c.secret)
	m.Write(tok)
	var k [32]byte
	m.Sum(k[:0])
	c.mu.Lock()
	defer c.mu.Unlock()
	if a, ok := c.bound[k]; ok {
		return a == addr
	}
	c.bound[k] = addr
	return true
}

// Outbound appends to out the request head (its blank line included) with
// the forwarding headers for addr put in before the blank line.
func Outbound(out, head []byte, addr string) []byte {
	out = append(out, head[:len(head)-2]...)
	out = append(out, "X-Forwarded-For: "...)
	out = append(out, addr...)
	out = append(out, "\r\nX-Real-Ip: "...)
	out = append(out, addr...)
	return append(out, "\r\nX-Forwarded-Proto: http\r\n\r\n"...)
}

// AnswerEnd returns the length of the answer at the start of buf, or -1
// when it has not all come; ok is false for an answer without a
// Content-Length, which the probes do not relay.
func AnswerEnd(buf []byte) (n int, ok bool) {
	end := HeadEnd(buf)
	if end < 0 {
		return -1, true
	}
	lower := bytes.ToLower(buf[:end-2])
	i := bytes.Index(lower, length)
	if i < 0 {
		return -1, false
	}
	v := lower[i+len(length):]
	v = bytes.TrimSpace(v[:bytes.IndexByte(v, '\r')])
	cl, err := strconv.Atoi(string(v))
	if err != nil || cl < 0 {
		return -1, false
	}
	if total := end + cl; len(buf) >= total {
		return total, true
	}
	return -1, true
}

// Port is $APP_PORT (as the benchmark scripts give a proxy its port), or def.
func Port(def int) int {
	if p, err := strconv.Atoi(os.Getenv("APP_PORT")); err == nil && p > 0 {
		return p
	}
	return def
}
