// Package httpproxy is Sentinel's HTTP side: a Middleware that works as
// net/http middleware around any handler (find the client address and the
// key, ask the Decider, refuse or pass), and a Proxy that puts the
// Middleware in front of its forwarding (forward.go, ReverseProxy's work
// for less) to stream allowed requests to the gateway.
package httpproxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
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
	// CodeBusy answers a request whose key could not be decided because of
	// load (the authority's bound of calls in flight, or the decision
	// deadline passed while the stores answer): 503, never the failsafe.
	CodeBusy = "sentinel_busy"
)

// DefaultDecisionTimeout is the deadline of one decision when
// MiddlewareOptions.DecisionTimeout is zero (SENTINEL_STORE_TIMEOUT's default).
const DefaultDecisionTimeout = 2 * time.Second

// DefaultCleanupQueue is how many junk-key clean-ups may wait for Run when
// MiddlewareOptions.CleanupQueue is zero.
const DefaultCleanupQueue = 1024

// MiddlewareOptions configure a Middleware. Decider, Hasher and Settings
// are required.
type MiddlewareOptions struct {
	Decider sentinel.Decider
	Hasher  *sentinel.Hasher
	// Settings is where the enforcement and failsafe modes are read on
	// every request: the same LiveSettings the Decider reads, so the two
	// never disagree and a change applies at once. In monitor mode the
	// Middleware's own refusals (several keys in one request) are
	// recorded, not enforced; the failsafe mode is what happens when the
	// Decider fails.
	Settings *sentinel.LiveSettings
	// Recorder receives refusals and uses; nil records nothing.
	Recorder sentinel.Recorder
	// ClientIPResolver resolves the client address; nil trusts no proxy.
	ClientIPResolver *ClientIPResolver
	// DecisionTimeout is the one deadline of a decision, every store call
	// it makes included (SENTINEL_STORE_TIMEOUT); default
	// DefaultDecisionTimeout. It also bounds each junk-key clean-up.
	DecisionTimeout time.Duration
	// KeepUnauthorized keeps a first-use binding even when the downstream
	// answers its request with 401. By default such bindings are removed,
	// after the 401 has been sent, by Run: the caller must run it.
	KeepUnauthorized bool
	// CleanupQueue bounds the clean-ups waiting for Run; when it is full
	// a clean-up is dropped (counted in Stats), leaving a harmless binding.
	// Default DefaultCleanupQueue.
	CleanupQueue int
	// Extractor reads the request's credentials (subprotocol mode,
	// management credentials); the zero value is the default.
	Extractor Extractor
	// Lookup is where off-path candidates (Credentials.OffPath) are looked
	// up, never bound: the cached binding store the Decider reads. Nil
	// reads them strictly, as keys (several different ones: refused).
	Lookup sentinel.BindingStore
	// BindAnyRoute makes first-use bindings on every route. By default
	// they are made only on the routes where New API authenticates keys
	// (KeyRoute); elsewhere a bound key is still checked, and an unbound
	// one passes without anything being written.
	BindAnyRoute bool
	// Intercepts, when set, bounds the intercept rows one client prefix
	// may cause per minute (SENTINEL_INTERCEPTS_PER_IP); past it refusals
	// are still enforced but not recorded (counted in Stats).
	Intercepts *sentinel.RateBudget
	// Observer is told what happens to each request; nil tells nobody.
	Observer Observer
	Logger   *slog.Logger
	Clock    sentinel.Clock
}

// MiddlewareStats counts what a Middleware has done since it started.
type MiddlewareStats struct {
	Allowed, Refused, Monitored, Unkeyed int64
	// FailedClosed and FailedOpen count requests answered by the failsafe
	// mode because no decision could be made.
	FailedClosed, FailedOpen int64
	// Abandoned counts requests whose client went away before the
	// decision was made: neither an outage nor a failsafe answer.
	Abandoned int64
	// CleanupsDone, CleanupsFailed and CleanupsDropped count the removals
	// of bindings whose first request the downstream answered 401.
	CleanupsDone, CleanupsFailed, CleanupsDropped int64
	// Busy counts requests answered 503 because of load, not an outage
	// (the failsafe mode was not applied); TooManyNewKeys the first uses
	// refused past the client's new-binding budget.
	Busy, TooManyNewKeys int64
	// InterceptsCapped counts intercepts not recorded because their
	// client was past its intercept budget.
	InterceptsCapped int64
	// FailsafeEntered counts the times the stores became unavailable and
	// the failsafe mode took over (each logged once, and its end once
	// with the number of requests the failsafe answered).
	FailsafeEntered int64
}

// Middleware enforces key bindings on requests. Use Wrap to put it in
// front of a handler, and Run to remove junk keys' bindings.
type Middleware struct {
	opts     MiddlewareOptions
	log      *slog.Logger
	clock    sentinel.Clock
	resolver *ClientIPResolver
	obs      Observer
	degraded atomic.Bool
	// answered counts the requests the failsafe answered in this episode.
	answered atomic.Int64
	cleanups chan cleanup
	stats    struct {
		allowed, refused, monitored, unkeyed, failedClosed, failedOpen, abandoned atomic.Int64
		cleanupsDone, cleanupsFailed, cleanupsDropped                             atomic.Int64
		busy, tooManyNewKeys, interceptsCapped, failsafeEntered                   atomic.Int64
	}
}

// cleanup is a first-use binding to remove because the downstream
// answered its request with 401.
type cleanup struct {
	req sentinel.Request
	d   sentinel.Decision
}

// NewMiddleware returns a Middleware. It returns EINVALID when a required
// option is missing or out of range.
func NewMiddleware(opts MiddlewareOptions) (*Middleware, error) {
	if opts.Decider == nil || opts.Hasher == nil {
		return nil, sentinel.Errorf(sentinel.EINVALID, "httpproxy: a Middleware needs a Decider and a Hasher")
	}
	if opts.Settings == nil {
		return nil, sentinel.Errorf(sentinel.EINVALID, "httpproxy: a Middleware needs live settings (MiddlewareOptions.Settings) to read the modes from")
	}
	if opts.DecisionTimeout < 0 {
		return nil, sentinel.Errorf(sentinel.EINVALID, "httpproxy: decision timeout must not be negative, got %v", opts.DecisionTimeout)
	}
	if opts.DecisionTimeout == 0 {
		opts.DecisionTimeout = DefaultDecisionTimeout
	}
	if opts.CleanupQueue < 0 {
		return nil, sentinel.Errorf(sentinel.EINVALID, "httpproxy: clean-up queue must not be negative, got %d", opts.CleanupQueue)
	}
	if opts.CleanupQueue == 0 {
		opts.CleanupQueue = DefaultCleanupQueue
	}
	g := &Middleware{opts: opts, log: opts.Logger, clock: opts.Clock, resolver: opts.ClientIPResolver,
		cleanups: make(chan cleanup, opts.CleanupQueue)}
	if g.resolver == nil {
		g.resolver = NewClientIPResolver(nil, "")
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.clock == nil {
		g.clock = sentinel.SystemClock{}
	}
	g.obs = opts.Observer
	if g.obs == nil {
		g.obs = NopObserver{}
	}
	if err := opts.Extractor.WSProtocolKeys.Validate(); err != nil {
		return nil, err
	}
	return g, nil
}

// Stats returns the Middleware's counters.
func (g *Middleware) Stats() MiddlewareStats {
	return MiddlewareStats{
		Allowed: g.stats.allowed.Load(), Refused: g.stats.refused.Load(),
		Monitored: g.stats.monitored.Load(), Unkeyed: g.stats.unkeyed.Load(),
		FailedClosed: g.stats.failedClosed.Load(), FailedOpen: g.stats.failedOpen.Load(),
		Abandoned:    g.stats.abandoned.Load(),
		CleanupsDone: g.stats.cleanupsDone.Load(), CleanupsFailed: g.stats.cleanupsFailed.Load(),
		CleanupsDropped: g.stats.cleanupsDropped.Load(),
		Busy:            g.stats.busy.Load(), TooManyNewKeys: g.stats.tooManyNewKeys.Load(),
		InterceptsCapped: g.stats.interceptsCapped.Load(), FailsafeEntered: g.stats.failsafeEntered.Load(),
	}
}

// Run removes the bindings of keys the downstream refused with 401, one
// after the other, each bounded by the decision timeout, until ctx is
// done; it then returns nil. The caller owns the goroutine it runs in.
// Clean-ups still queued when it returns are dropped: the bindings stay,
// which is harmless.
func (g *Middleware) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case c := <-g.cleanups:
			g.forget(ctx, c)
		}
	}
}

func (g *Middleware) forget(ctx context.Context, c cleanup) {
	ctx, cancel := context.WithTimeout(ctx, g.opts.DecisionTimeout)
	defer cancel()
	if err := g.opts.Decider.Unauthorized(ctx, c.req, c.d); err != nil {
		g.stats.cleanupsFailed.Add(1)
		g.log.Warn("could not remove the binding of a key the downstream refused", "key", c.req.Token, "err", err)
		return
	}
	g.stats.cleanupsDone.Add(1)
}

// Wrap returns a handler that lets through to next only requests whose key
// may be used from their client address. Requests without a key pass
// untouched (the gateway answers them itself). A key's first use makes its
// binding only on a route where New API authenticates keys (KeyRoute,
// unless BindAnyRoute); elsewhere a bound key is checked and an unbound one
// passes with nothing written. Before next runs, X-Real-IP
// and X-Forwarded-For (and the configured client IP header) are set to the
// decided client address, overwriting what the client sent.
func (g *Middleware) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.serve(w, r, next)
	})
}

// serve decides, then hands r to next from a small frame: decide's large
// frame is gone before next runs. Every frame under a streamed answer
// counts: the deepest point of serving a stream (writing its head, see
// forward's flush of its head) must stay within 8 KiB of stack, or the runtime
// doubles the serving goroutine's stack to 16 KiB for as long as the
// stream is open (TestStreamStackFits8KiB).
func (g *Middleware) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	start := time.Now()
	forward, cl := g.decide(w, r, start)
	if !forward {
		return
	}
	if cl == nil {
		g.pass(w, r, next, start)
		return
	}
	g.passWatching(w, r, next, start, cl)
}

// passWatching passes r on, removing the binding cl made should the
// downstream answer 401.
func (g *Middleware) passWatching(w http.ResponseWriter, r *http.Request, next http.Handler, start time.Time, cl *cleanup) {
	sw := &statusWriter{ResponseWriter: w}
	g.pass(sw, r, next, start)
	if sw.status == http.StatusUnauthorized {
		// Removed by Run, so the client's 401 does not wait for the store.
		select {
		case g.cleanups <- *cl:
		default:
			if g.stats.cleanupsDropped.Add(1) == 1 {
				g.log.Warn("the clean-up queue of keys the downstream refused is full (is Run running?); their bindings stay")
			}
		}
	}
}

// decide answers r itself (refusals, errors) and returns false, or
// returns true when r is to be forwarded, with the binding to clean up
// should the downstream answer 401.
//
//go:noinline
func (g *Middleware) decide(w http.ResponseWriter, r *http.Request, start time.Time) (forward bool, _ *cleanup) {
	addr, err := g.resolver.Resolve(r)
	if err != nil {
		g.stats.refused.Add(1)
		g.obs.Refused(sentinel.ReasonInvalidClientIP)
		writeError(w, http.StatusForbidden, string(sentinel.ReasonInvalidClientIP),
			"Sentinel could not determine the client IP address: "+sentinel.ErrorMessage(err))
		return false, nil
	}
	conn := connOf(r.Context()) // nil outside a Server
	g.setClientHeaders(r, conn, addr)

	creds, err := g.opts.Extractor.Extract(r)
	if err == nil && len(creds.OffPath) > 0 {
		var late bool
		creds, late, err = g.resolveOffPath(r, creds)
		if err != nil && !errors.Is(err, ErrMultipleKeys) {
			if r.Context().Err() != nil {
				g.stats.abandoned.Add(1)
				return false, nil
			}
			return g.failsafe(w, creds.Token, err, late), nil
		}
	}
	if !creds.Found && err == nil {
		g.stats.unkeyed.Add(1)
		return true, nil
	}
	req := sentinel.Request{Key: g.hash(conn, creds.Token), Addr: addr, Token: creds.Token,
		WroteSK: creds.WroteSK(), LookupOnly: !g.opts.BindAnyRoute && !KeyRoute(r.URL.Path)}
	if err != nil {
		reason, msg := sentinel.ReasonMultipleKeys, "The request carries more than one different API key (in Authorization, "+
			"x-api-key, x-goog-api-key, the key parameter, Sec-WebSocket-Protocol or mj-api-secret); send exactly one."
		if errors.Is(err, ErrInvalidKey) {
			reason, msg = sentinel.ReasonInvalidKey, "The API key contains characters an API key cannot have "+
				"(only printable ASCII letters, digits and symbols are allowed)."
		}
		enforce := g.opts.Settings.Load().EnforceMode != sentinel.ModeMonitor
		g.record(r, req, reason, enforce)
		if enforce {
			g.stats.refused.Add(1)
			g.obs.Refused(reason)
			writeError(w, http.StatusBadRequest, string(reason), msg)
			return false, nil
		}
		g.obs.Monitored(reason)
		if !creds.Found {
			g.stats.unkeyed.Add(1)
			return true, nil
		}
	}

	// The decision's time and deadline count from the request's start
	// (serve's): the client address and the key, microseconds before, are
	// part of it, and a clock read is 30-60 ns of a request's 20 µs.
	ctx := newDecisionContext(r.Context(), start, g.opts.DecisionTimeout)
	d, err := g.opts.Decider.Decide(ctx, req)
	ctx.release()
	g.obs.Decided(d, err, time.Since(start))
	if err != nil && (errors.Is(err, context.Canceled) || r.Context().Err() != nil) {
		// The client went away: nobody to answer, and no outage either.
		g.stats.abandoned.Add(1)
		return false, nil
	}
	if err != nil {
		return g.failsafe(w, req.Token, err, !time.Now().Before(ctx.deadline)), nil
	}
	g.recovered()
	if d.Reason == sentinel.ReasonTooManyNewKeys {
		if !d.Allow {
			g.stats.tooManyNewKeys.Add(1)
			g.obs.Refused(d.Reason)
			w.Header().Set("Retry-After", "60")
			writeError(w, http.StatusTooManyRequests, string(d.Reason),
				"Too many new API keys were used from this address in the last minute; try again later.")
			return false, nil
		}
		d.Reason = "" // monitor mode: let it through unbound, nothing to record
	}
	if d.Reason != "" {
		g.record(r, req, d.Reason, !d.Allow)
	}
	if !d.Allow {
		g.stats.refused.Add(1)
		g.obs.Refused(d.Reason)
		g.refuse(w, d.Reason, addr)
		return false, nil
	}
	if d.Reason != "" {
		g.stats.monitored.Add(1)
		g.obs.Monitored(d.Reason)
	} else {
		g.stats.allowed.Add(1)
		g.obs.Allowed()
	}
	if d.Created {
		g.obs.BindingCreated()
	}
	if g.opts.Recorder != nil && !d.Unbound {
		g.opts.Recorder.RecordUse(sentinel.Use{Key: req.Key, Addr: addr, At: g.clock.Now()})
	}
	if !d.Created || g.opts.KeepUnauthorized {
		return true, nil
	}
	return true, &cleanup{req: req, d: d}
}

// pass hands r to next, telling the Observer about the answer.
func (g *Middleware) pass(w http.ResponseWriter, r *http.Request, next http.Handler, start time.Time) {
	if g.opts.Observer == nil {
		next.ServeHTTP(w, r)
		return
	}
	ow := observedWriters.Get().(*observedWriter)
	ow.ResponseWriter, ow.obs, ow.start = w, g.obs, start
	defer ow.done()
	next.ServeHTTP(ow, r)
}

// resolveOffPath settles the off-path candidates against the cached store
// (lookups only), or strictly when there is none. late reports that the
// lookups ran into the decision deadline (load, not an outage).
func (g *Middleware) resolveOffPath(r *http.Request, c Credentials) (_ Credentials, late bool, err error) {
	if g.opts.Lookup == nil {
		for _, t := range c.OffPath {
			if c, err = c.Promote(t); err != nil {
				return c, false, err
			}
		}
		c.OffPath = nil
		return c, false, nil
	}
	ctx := newDecisionContext(r.Context(), time.Now(), g.opts.DecisionTimeout)
	c, err = c.ResolveOffPath(ctx, g.opts.Hasher, BoundIn(g.opts.Lookup))
	ctx.release()
	return c, err != nil && !time.Now().Before(ctx.deadline), err
}

// recovered ends a failsafe episode, logging it once with its count.
func (g *Middleware) recovered() {
	if g.degraded.Load() && g.degraded.CompareAndSwap(true, false) {
		n := g.answered.Swap(0)
		mode := g.opts.Settings.Load().FailsafeMode
		g.log.Info("deciding again: the stores answer", "failsafe", string(mode), "answered_by_failsafe", n)
		g.obs.FailsafeChanged(mode, false, n)
	}
}

// hash is the key's hash. Under the Server, a connection keeps the last
// key it hashed and its hash: a client sends the same key on every request
// of its keep-alive connection (every SDK's pool), which then pays the
// HMAC (about 1.5 % of a small request's CPU) once. The key is compared in
// constant time: behind a front proxy one connection carries many
// clients' requests. c is the request's Server connection, or nil.
func (g *Middleware) hash(c *serverConn, t sentinel.Token) sentinel.KeyHash {
	if c == nil {
		return g.opts.Hasher.Hash(t)
	}
	if m := &c.lastKey; m.hasher == g.opts.Hasher && sameToken(m.token, t) {
		return m.hash
	}
	k := g.opts.Hasher.Hash(t)
	c.lastKey = connKey{hasher: g.opts.Hasher, token: t, hash: k}
	return k
}

// connKey is the last key a connection's requests were decided on.
type connKey struct {
	hasher *sentinel.Hasher
	token  sentinel.Token
	hash   sentinel.KeyHash
}

// sameToken reports whether a and b are equal, in a time that depends
// on their lengths only.
func sameToken(a, b sentinel.Token) bool {
	if len(a) != len(b) {
		return false
	}
	var v byte
	for i := range len(a) {
		v |= a[i] ^ b[i]
	}
	return v == 0
}

// setClientHeaders sets the client headers to addr; c is the Server
// connection r came on, or nil.
func (g *Middleware) setClientHeaders(r *http.Request, c *serverConn, addr netip.Addr) {
	var s string
	if c != nil && addr == c.peer {
		if c.peerText == "" {
			c.peerText = addr.String()
		}
		s = c.peerText // the connection's own peer, formatted once
	} else {
		s = addr.String()
	}
	v := []string{s}
	r.Header["X-Real-Ip"] = v
	r.Header["X-Forwarded-For"] = v
	if h := g.resolver.Header(); h != "X-Real-Ip" && h != "X-Forwarded-For" {
		r.Header[h] = v
	}
}

func (g *Middleware) refuse(w http.ResponseWriter, reason sentinel.Reason, addr netip.Addr) {
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

// failsafe answers a request no decision could be made on. Only an
// outage of the stores (EUNAVAILABLE, before the deadline) is the failsafe
// mode's business: a call refused for load (sentinel.ErrBusy) or a
// deadline that passed while the stores answer other requests is answered
// 503 sentinel_busy whatever the mode, so load can never open the door for
// a key bound elsewhere; anything else is a fault, answered 500.
func (g *Middleware) failsafe(w http.ResponseWriter, tok sentinel.Token, err error, late bool) (forward bool) {
	if sentinel.ErrorCode(err) != sentinel.EUNAVAILABLE {
		// Not an outage but a fault (a missing table, a corrupt row): the
		// failsafe mode is for outages, and must not open the door here.
		g.stats.failedClosed.Add(1)
		g.obs.Refused(CodeInternal)
		g.log.Error("cannot decide on a key", "key", tok, "err", err)
		writeError(w, http.StatusInternalServerError, CodeInternal, "Sentinel could not check the API key; the operator has been told.")
		return false
	}
	if late || errors.Is(err, sentinel.ErrBusy) || errors.Is(err, context.DeadlineExceeded) {
		g.stats.busy.Add(1)
		g.obs.Refused(CodeBusy)
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, CodeBusy,
			"Sentinel is too busy to verify this API key right now; try again shortly.")
		return false
	}
	failsafe := g.opts.Settings.Load().FailsafeMode
	if !g.degraded.Load() && g.degraded.CompareAndSwap(false, true) {
		g.stats.failsafeEntered.Add(1)
		g.log.Error("cannot decide on keys: the stores are unavailable; failsafe mode in effect",
			"failsafe", string(failsafe), "err", err)
		g.obs.FailsafeChanged(failsafe, true, 0)
	}
	g.answered.Add(1)
	if failsafe == sentinel.FailsafeOpen {
		g.stats.failedOpen.Add(1)
		return true
	}
	g.stats.failedClosed.Add(1)
	g.obs.Refused(CodeUnavailable)
	w.Header().Set("Retry-After", "5")
	writeError(w, http.StatusServiceUnavailable, CodeUnavailable,
		"Sentinel cannot verify API keys right now; try again shortly.")
	return false
}

func (g *Middleware) record(r *http.Request, req sentinel.Request, reason sentinel.Reason, enforced bool) {
	if g.opts.Recorder == nil {
		return
	}
	if !g.opts.Intercepts.Take(sentinel.Granularity{}.Prefix(req.Addr)) {
		g.stats.interceptsCapped.Add(1)
		return
	}
	hint := req.Hint
	if hint == "" {
		hint = req.Token.MaskAs(req.WroteSK)
	}
	g.opts.Recorder.RecordIntercept(sentinel.Intercept{
		Key:       req.Key,
		Hint:      hint,
		ClientIP:  req.Addr,
		Reason:    reason,
		Enforced:  enforced,
		Method:    r.Method,
		Path:      r.URL.Path, // never the query: it may hold the key
		UserAgent: r.UserAgent(),
		RequestID: RequestIDFrom(r),
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

// writeError answers in the JSON shape New API uses for its own errors,
// with its length: head and body leave in one write.
func writeError(w http.ResponseWriter, status int, code, message string) {
	body, _ := json.Marshal(errorBody{Error: errorDetail{Message: message, Type: "sentinel_error", Code: code}})
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// statusWriter remembers the status code written through it. Unwrap lets
// http.ResponseController (which forward uses to flush and to hijack
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
