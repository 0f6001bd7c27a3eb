// Package httpproxy is Sentinel's HTTP side: a Guard that works as
// net/http middleware around any handler (find the client address and the
// key, ask the Decider, refuse or pass), and a Proxy that puts the Guard in
// front of httputil.ReverseProxy to stream allowed requests to the gateway.
package httpproxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"

	sentinel "github.com/keyipsentinel/sentinel"
)

// Codes of the JSON errors Sentinel answers with, besides the refusal
// reasons (sentinel.Reason values).
const (
	CodeUnavailable           = "sentinel_unavailable"
	CodeInternal              = "sentinel_internal_error"
	CodeDownstreamUnavailable = "downstream_unavailable"
)

// GuardOptions configure a Guard. Decider and Hasher are required.
type GuardOptions struct {
	Decider sentinel.Decider
	Hasher  *sentinel.Hasher
	// Recorder receives refusals and uses; nil records nothing.
	Recorder sentinel.Recorder
	// ClientIP resolves the client address; nil trusts no proxy.
	ClientIP *ClientIP
	// Mode must match the Decider's: in monitor mode the Guard's own
	// refusals (several keys in one request) are recorded, not enforced.
	Mode sentinel.Mode
	// Failsafe is what happens when the Decider fails. Default closed.
	Failsafe sentinel.FailsafeMode
	// KeepUnauthorized keeps a first-use binding even when the downstream
	// answers its request with 401. By default such bindings are removed,
	// so random keys from scanners do not fill the store.
	KeepUnauthorized bool
	Logger           *slog.Logger
	Clock            sentinel.Clock
}

// GuardStats counts what a Guard has done since it started.
type GuardStats struct {
	Allowed, Refused, Monitored, Unkeyed int64
	// FailedClosed and FailedOpen count requests answered by the failsafe
	// mode because no decision could be made.
	FailedClosed, FailedOpen int64
}

// Guard enforces key bindings on requests. Use Wrap to put it in front of a
// handler.
type Guard struct {
	opts     GuardOptions
	log      *slog.Logger
	clock    sentinel.Clock
	degraded atomic.Bool
	stats    struct {
		allowed, refused, monitored, unkeyed, failedClosed, failedOpen atomic.Int64
	}
}

// NewGuard returns a Guard. It returns EINVALID when a required option is
// missing or a mode is unknown.
func NewGuard(opts GuardOptions) (*Guard, error) {
	if opts.Decider == nil || opts.Hasher == nil {
		return nil, sentinel.Errorf(sentinel.EINVALID, "httpproxy: a Guard needs a Decider and a Hasher")
	}
	if opts.Failsafe == "" {
		opts.Failsafe = sentinel.FailsafeClosed
	}
	if err := opts.Failsafe.Validate(); err != nil {
		return nil, err
	}
	if opts.Mode == "" {
		opts.Mode = sentinel.ModeEnforce
	}
	if err := opts.Mode.Validate(); err != nil {
		return nil, err
	}
	if opts.ClientIP == nil {
		opts.ClientIP = NewClientIP(nil, "")
	}
	g := &Guard{opts: opts, log: opts.Logger, clock: opts.Clock}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.clock == nil {
		g.clock = sentinel.SystemClock
	}
	return g, nil
}

// Stats returns the Guard's counters.
func (g *Guard) Stats() GuardStats {
	return GuardStats{
		Allowed: g.stats.allowed.Load(), Refused: g.stats.refused.Load(),
		Monitored: g.stats.monitored.Load(), Unkeyed: g.stats.unkeyed.Load(),
		FailedClosed: g.stats.failedClosed.Load(), FailedOpen: g.stats.failedOpen.Load(),
	}
}

// Wrap returns a handler that lets through to next only requests whose key
// may be used from their client address. Requests without a key pass
// untouched (the gateway answers them itself). Before next runs, X-Real-IP
// and X-Forwarded-For (and the configured client IP header) are set to the
// decided client address, overwriting what the client sent.
func (g *Guard) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.serve(w, r, next)
	})
}

func (g *Guard) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	addr, err := g.opts.ClientIP.Resolve(r)
	if err != nil {
		g.stats.refused.Add(1)
		writeError(w, http.StatusForbidden, string(sentinel.ReasonInvalidClientIP),
			"Sentinel could not determine the client IP address: "+sentinel.ErrorMessage(err))
		return
	}
	g.setClientHeaders(r, addr)

	tok, found, err := ExtractToken(r)
	if !found {
		g.stats.unkeyed.Add(1)
		next.ServeHTTP(w, r)
		return
	}
	req := sentinel.Request{Key: g.opts.Hasher.Hash(tok), Addr: addr, Token: tok}
	if err != nil {
		reason, msg := sentinel.ReasonMultipleKeys, "The request carries more than one different API key (in Authorization, "+
			"x-api-key, x-goog-api-key, the key parameter, Sec-WebSocket-Protocol or mj-api-secret); send exactly one."
		if errors.Is(err, ErrInvalidKey) {
			reason, msg = sentinel.ReasonInvalidKey, "The API key contains characters an API key cannot have "+
				"(only printable ASCII letters, digits and symbols are allowed)."
		}
		g.record(r, req, reason, g.opts.Mode != sentinel.ModeMonitor)
		if g.opts.Mode != sentinel.ModeMonitor {
			g.stats.refused.Add(1)
			writeError(w, http.StatusBadRequest, string(reason), msg)
			return
		}
	}

	d, err := g.opts.Decider.Decide(r.Context(), req)
	if err != nil {
		g.failsafe(w, r, next, req.Token, err)
		return
	}
	if g.degraded.CompareAndSwap(true, false) {
		g.log.Info("deciding again: the stores answer", "failsafe", string(g.opts.Failsafe))
	}
	if d.Reason != "" {
		g.record(r, req, d.Reason, !d.Allow)
	}
	if !d.Allow {
		g.stats.refused.Add(1)
		g.refuse(w, d.Reason, addr)
		return
	}
	if d.Reason != "" {
		g.stats.monitored.Add(1)
	} else {
		g.stats.allowed.Add(1)
	}
	if g.opts.Recorder != nil {
		g.opts.Recorder.RecordUse(sentinel.Use{Key: req.Key, Addr: addr, At: g.clock.Now()})
	}
	if !d.Created || g.opts.KeepUnauthorized {
		next.ServeHTTP(w, r)
		return
	}
	sw := &statusWriter{ResponseWriter: w}
	next.ServeHTTP(sw, r)
	if sw.status == http.StatusUnauthorized {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
		defer cancel()
		if err := g.opts.Decider.Unauthorized(ctx, req, d); err != nil {
			g.log.Warn("could not remove the binding of a key the downstream refused", "key", req.Token, "err", err)
		}
	}
}

func (g *Guard) setClientHeaders(r *http.Request, addr netip.Addr) {
	v := []string{addr.String()}
	r.Header["X-Real-Ip"] = v
	r.Header["X-Forwarded-For"] = v
	if h := g.opts.ClientIP.Header(); h != "X-Real-Ip" && h != "X-Forwarded-For" {
		r.Header[h] = v
	}
}

func (g *Guard) refuse(w http.ResponseWriter, reason sentinel.Reason, addr netip.Addr) {
	var msg string
	switch reason {
	case sentinel.ReasonBanned:
		msg = fmt.Sprintf("This API key has been banned by the operator (request from IP %s).", addr)
	default:
		msg = fmt.Sprintf("This API key is bound to another IP address; requests from IP %s are not allowed. "+
			"Ask the operator to change the key's binding if this address should be allowed.", addr)
	}
	writeError(w, http.StatusForbidden, string(reason), msg)
}

func (g *Guard) failsafe(w http.ResponseWriter, r *http.Request, next http.Handler, tok sentinel.Token, err error) {
	if sentinel.ErrorCode(err) != sentinel.EUNAVAILABLE {
		// Not an outage but a fault (a missing table, a corrupt row): the
		// failsafe mode is for outages, and must not open the door here.
		g.stats.failedClosed.Add(1)
		g.log.Error("cannot decide on a key", "key", tok, "err", err)
		writeError(w, http.StatusInternalServerError, CodeInternal, "Sentinel could not check the API key; the operator has been told.")
		return
	}
	if g.degraded.CompareAndSwap(false, true) {
		g.log.Error("cannot decide on keys: the stores are unavailable; failsafe mode in effect",
			"failsafe", string(g.opts.Failsafe), "err", err)
	}
	if g.opts.Failsafe == sentinel.FailsafeOpen {
		g.stats.failedOpen.Add(1)
		next.ServeHTTP(w, r)
		return
	}
	g.stats.failedClosed.Add(1)
	w.Header().Set("Retry-After", "5")
	writeError(w, http.StatusServiceUnavailable, CodeUnavailable,
		"Sentinel cannot verify API keys right now; try again shortly.")
}

func (g *Guard) record(r *http.Request, req sentinel.Request, reason sentinel.Reason, enforced bool) {
	if g.opts.Recorder == nil {
		return
	}
	g.opts.Recorder.RecordIntercept(sentinel.Intercept{
		Key:       req.Key,
		Hint:      req.Token.Mask(),
		ClientIP:  req.Addr,
		Reason:    reason,
		Enforced:  enforced,
		Method:    r.Method,
		Path:      r.URL.Path, // never the query: it may hold the key
		UserAgent: r.UserAgent(),
		At:        g.clock.Now().UTC(),
	})
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Message string `json:"message"`
	Type    string `json:"type"`
	Code    string `json:"code"`
}

// writeError answers in the JSON shape New API uses for its own errors.
func writeError(w http.ResponseWriter, status int, code, message string) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(errorBody{Error: errorDetail{Message: message, Type: "sentinel_error", Code: code}})
}

// statusWriter remembers the status code written through it. Unwrap lets
// http.ResponseController (which ReverseProxy uses to flush and to hijack
// for WebSocket upgrades) reach the real writer.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		s.status = code // informational 1xx answers come before the real one
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
