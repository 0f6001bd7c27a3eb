// Package prometheus exposes Sentinel's metrics in the Prometheus format,
// built on prometheus/client_golang.
//
// Metrics keeps its own registry (nothing is registered globally) and serves
// it from Handler, or from a Server on its own listener
// (SENTINEL_METRICS_ADDR), never on the public proxy port.
//
// Two kinds of metrics live here. Counters the program already keeps as
// atomics (the proxy middleware's, the recorder's, the binding cache's, the
// admin login's, the alert webhook's) are read at scrape time through the
// funcs in Options, so the hot path pays nothing for them. The rest
// (latency histograms, refusals by reason, open streams, the failsafe
// state, archiver runs) is recorded by calling methods of Metrics: from
// Decided to FailsafeChanged they are the proxy middleware's observer
// (httpproxy.Observer, matched by method set; the program checks it at
// compile time). Every labelled child is resolved once in New, so the
// methods the request path calls do not allocate.
//
// No metric carries a key, a key hint or a client address as a label: they
// would make the series count unbounded and put secrets into the monitoring
// system.
package prometheus

import (
	"time"

	"github.com/keyipsentinel/sentinel"
	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Namespace prefixes every metric Sentinel defines.
const Namespace = "sentinel"

// Bucket layouts, in seconds (unexported: a layout is part of the metric's
// meaning, not a knob). Decisions on warm keys take microseconds and
// cold ones a store round trip (bounded by SENTINEL_STORE_TIMEOUT, 2s by
// default); proxied LLM requests and their first byte take from milliseconds
// to minutes.
var (
	decisionBuckets  = []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}
	requestBuckets   = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}
	firstByteBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2, 4, 8, 15, 30, 60}
)

// ProxyStats is a snapshot of the proxy middleware's counters, the same
// numbers as httpproxy's stats (this package does not import that one; the
// program copies the fields across).
type ProxyStats struct {
	Allowed, Refused, Monitored, Unkeyed int64
	// FailedClosed and FailedOpen count requests the failsafe mode answered.
	FailedClosed, FailedOpen int64
	// Abandoned counts requests whose client left before the decision.
	Abandoned int64
	// CleanupsDone counts first-use bindings removed again because the
	// downstream answered 401; CleanupsFailed and CleanupsDropped those
	// removals that failed or found their queue full.
	CleanupsDone, CleanupsFailed, CleanupsDropped int64
}

// Options say where the scrape-time values come from. A nil func leaves its
// metrics out, so each binary passes what it has.
type Options struct {
	// Version and Revision label sentinel_build_info.
	Version, Revision string
	// Proxy returns the proxy middleware's counters (sentinel-proxy).
	Proxy func() ProxyStats
	// Recorder returns the batch recorder's counters.
	Recorder func() sentinel.RecorderStats
	// Settings returns the live settings (sentinel.LiveSettings.Load): the
	// enforcement and failsafe modes in force are exported from them.
	Settings func() *sentinel.Settings
	// Alerts returns the alert webhook notifier's counters.
	Alerts func() AlertStats
	// Cache returns the binding cache's counters (localcache's or
	// valkey's BindingStore.Stats).
	Cache func() CacheStats
	// Logins returns the admin login's counters (adminapi's Server.Stats).
	Logins func() LoginStats
}

// CacheStats is a snapshot of the binding cache's counters, copied from
// the cache adapter's. Layer and Authority become label values: the
// program passes constants ("local" or "valkey"; "postgres" or "sqlite").
type CacheStats struct {
	Layer, Authority string
	// Hits are lookups answered by the cache, Misses those that asked the
	// authority; Invalidations are entries dropped because the binding
	// changed elsewhere.
	Hits, Misses, Invalidations int64
	// CacheErrors are failed reads of the cache itself (Valkey), answered
	// by the authority instead, and CacheWriteErrors write-throughs it did
	// not take; AuthorityErrors are failed lookups in the authority behind
	// the cache, AuthorityWriteErrors failed writes to it.
	CacheErrors, CacheWriteErrors         int64
	AuthorityErrors, AuthorityWriteErrors int64
}

// LoginStats is a snapshot of the admin login's counters.
type LoginStats struct {
	Failures, Lockouts int64
}

// AlertStats is a snapshot of the alert webhook notifier's counters (the
// program copies them from adapters/webhook's).
type AlertStats struct {
	Queued    int64 // waiting now
	Delivered int64
	Dropped   int64 // pushed out of a full queue
	Failed    int64 // given up after their attempts, or refused for good
	Attempts  int64
}

// Metrics holds Sentinel's collectors on a private registry. Its methods are
// safe for concurrent use; a nil *Metrics is not valid.
type Metrics struct {
	reg *prom.Registry

	decision  [outcomeCount]prom.Observer
	request   [statusClassCount]prom.Observer
	firstByte prom.Observer

	refusals, monitored map[sentinel.Reason]prom.Counter
	failsafe            prom.Gauge

	bindingsCreated     prom.Counter
	streams, websockets prom.Gauge

	archiverOK, archiverFailed prom.Counter
	archived                   prom.Counter
	archiverLastSuccess        prom.Gauge
}

// outcomes of a decision, the label of sentinel_decision_duration_seconds.
const (
	outcomeAllowed = iota
	outcomeRefused
	outcomeMonitored
	outcomeError
	outcomeCount
)

var outcomeNames = [outcomeCount]string{"allowed", "refused", "monitored", "error"}

const statusClassCount = 6 // 1xx..5xx, and "other" at index 0

var statusClassNames = [statusClassCount]string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"}

// reasons are the refusal reasons with a child of their own; any other is
// counted as "other", so a caller cannot grow the series. The last three
// are the proxy middleware's own answers (httpproxy's Code* values).
var reasons = []sentinel.Reason{
	sentinel.ReasonIPNotAllowed, sentinel.ReasonBanned, sentinel.ReasonMultipleKeys,
	sentinel.ReasonInvalidKey, sentinel.ReasonInvalidClientIP, sentinel.ReasonTooManyNewKeys,
	"sentinel_unavailable", "sentinel_busy", "sentinel_internal_error",
}

// New returns Metrics with every collector registered, Go runtime and
// process metrics included.
func New(opts Options) *Metrics {
	reg := prom.NewRegistry()
	m := &Metrics{reg: reg}
	f := factory{reg}

	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	f.gaugeFunc(prom.GaugeOpts{
		Name:        "build_info",
		Help:        "Always 1; the labels name the build.",
		ConstLabels: prom.Labels{"version": orUnknown(opts.Version), "revision": orUnknown(opts.Revision)},
	}, func() float64 { return 1 })

	dec := f.histogramVec(prom.HistogramOpts{
		Name:    "decision_duration_seconds",
		Help:    "Time the decider took to decide a key-bearing request, by outcome (error: no decision, the failsafe mode answered).",
		Buckets: decisionBuckets,
	}, "outcome")
	for i, n := range outcomeNames {
		m.decision[i] = dec.WithLabelValues(n)
	}
	req := f.histogramVec(prom.HistogramOpts{
		Name:    "proxied_request_duration_seconds",
		Help:    "Time from receiving a forwarded request to the end of its response, by status class.",
		Buckets: requestBuckets,
	}, "code")
	for i, n := range statusClassNames {
		m.request[i] = req.WithLabelValues(n)
	}
	m.firstByte = f.histogram(prom.HistogramOpts{
		Name:    "time_to_first_byte_seconds",
		Help:    "Time from receiving a forwarded request to the first byte of the downstream's response body.",
		Buckets: firstByteBuckets,
	})

	ref := f.counterVec(prom.CounterOpts{Name: "refusals_total",
		Help: "Requests Sentinel answered itself instead of the gateway (action=refused), or that the rules refuse and monitor mode let through (action=monitored), by reason; sentinel_* reasons are Sentinel's own 5xx answers."}, "reason", "action")
	m.refusals = make(map[sentinel.Reason]prom.Counter, len(reasons)+1)
	m.monitored = make(map[sentinel.Reason]prom.Counter, len(reasons)+1)
	for _, r := range append(reasons, "other") {
		m.refusals[r] = ref.WithLabelValues(string(r), "refused")
		m.monitored[r] = ref.WithLabelValues(string(r), "monitored")
	}

	m.bindingsCreated = f.counter(prom.CounterOpts{Name: "bindings_created_total", Help: "First-use bindings created."})
	m.streams = f.gauge(prom.GaugeOpts{Name: "open_streams", Help: "Forwarded responses being streamed now (SSE and chunked)."})
	m.websockets = f.gauge(prom.GaugeOpts{Name: "open_websocket_sessions", Help: "WebSocket sessions passing through now."})

	runs := f.counterVec(prom.CounterOpts{Name: "archiver_runs_total", Help: "Archiver runs, by result."}, "result")
	m.archiverOK, m.archiverFailed = runs.WithLabelValues("ok"), runs.WithLabelValues("failed")
	m.archived = f.counter(prom.CounterOpts{Name: "archiver_archived_bindings_total", Help: "Bindings the archiver moved out of the active table."})
	m.archiverLastSuccess = f.gauge(prom.GaugeOpts{Name: "archiver_last_success_timestamp_seconds", Help: "Unix time of the archiver's last successful run."})

	if opts.Proxy != nil {
		reg.MustRegister(proxyCollector{opts.Proxy})
	}
	if opts.Recorder != nil {
		reg.MustRegister(recorderCollector{opts.Recorder})
	}
	if opts.Proxy != nil { // only a proxy has a failsafe; FailsafeChanged sets it
		m.failsafe = f.gauge(prom.GaugeOpts{Name: "failsafe_engaged", Help: "1 while no store can decide and the failsafe mode answers key-bearing requests."})
	} else {
		m.failsafe = prom.NewGauge(prom.GaugeOpts{Name: "failsafe_engaged"}) // unregistered
	}
	if opts.Settings != nil {
		settings := opts.Settings
		for _, fm := range []sentinel.FailsafeMode{sentinel.FailsafeClosed, sentinel.FailsafeOpen} {
			f.gaugeFunc(prom.GaugeOpts{Name: "failsafe_mode", Help: "1 for the failsafe mode in force (SENTINEL_FAILSAFE_MODE or the live setting).", ConstLabels: prom.Labels{"mode": string(fm)}},
				func() float64 { return boolFloat(settings().FailsafeMode == fm) })
		}
		for _, em := range []sentinel.Mode{sentinel.ModeEnforce, sentinel.ModeMonitor} {
			f.gaugeFunc(prom.GaugeOpts{Name: "enforce_mode", Help: "1 for the enforcement mode in force (SENTINEL_ENFORCE_MODE or the live setting); monitor refuses nothing.", ConstLabels: prom.Labels{"mode": string(em)}},
				func() float64 { return boolFloat(settings().EnforceMode == em) })
		}
	}
	if opts.Alerts != nil {
		reg.MustRegister(alertCollector{opts.Alerts})
	}
	if opts.Cache != nil {
		reg.MustRegister(cacheCollector{opts.Cache})
	}
	if opts.Logins != nil {
		reg.MustRegister(loginCollector{opts.Logins})
	}
	return m
}

// Registry returns the registry, for a program registering collectors of
// its own.
func (m *Metrics) Registry() *prom.Registry { return m.reg }

// The methods from Decided to FailsafeChanged are the proxy middleware's
// observer hook (httpproxy.Observer, matched by method set: adapters do not
// import each other), called on the request path. None allocates.

// Decided records how long the decider took for one key-bearing request,
// by what it answered: err non-nil (no decision: the failsafe mode or a
// busy answer followed), a refusal, monitor mode letting a would-be
// refusal through, or an allowance. Refusals and bindings are counted by
// Refused, Monitored and BindingCreated, which the middleware calls too.
func (m *Metrics) Decided(d sentinel.Decision, err error, took time.Duration) {
	o := outcomeAllowed
	switch {
	case err != nil:
		o = outcomeError
	case !d.Allow:
		o = outcomeRefused
	case d.Reason != "":
		o = outcomeMonitored
	}
	m.decision[o].Observe(took.Seconds())
}

// Allowed does nothing: allowed requests are counted at scrape time from
// the middleware's own counter (sentinel_requests_total).
func (m *Metrics) Allowed() {}

// Refused counts a request Sentinel answered itself, by reason: a refusal
// by the rules or before deciding (multiple_keys, invalid_key,
// invalid_client_ip), or one of the middleware's own answers
// (sentinel_unavailable, sentinel_busy, sentinel_internal_error). An
// unknown reason counts as "other", so a caller cannot grow the series.
func (m *Metrics) Refused(r sentinel.Reason) { m.count(m.refusals, r) }

// Monitored counts a request the rules refuse that monitor mode let
// through, by reason.
func (m *Metrics) Monitored(r sentinel.Reason) { m.count(m.monitored, r) }

func (m *Metrics) count(t map[sentinel.Reason]prom.Counter, r sentinel.Reason) {
	if c, ok := t[r]; ok {
		c.Inc()
		return
	}
	t["other"].Inc()
}

// BindingCreated counts a first-use binding.
func (m *Metrics) BindingCreated() { m.bindingsCreated.Inc() }

// Proxied records a forwarded request's duration (to the end of its
// response) and status class.
func (m *Metrics) Proxied(status int, took time.Duration) {
	c := status / 100
	if c < 1 || c >= statusClassCount {
		c = 0
	}
	m.request[c].Observe(took.Seconds())
}

// FirstByte records the time to the first byte (the status line) of a
// forwarded response.
func (m *Metrics) FirstByte(took time.Duration) { m.firstByte.Observe(took.Seconds()) }

// FailsafeChanged sets sentinel_failsafe_engaged: 1 from the moment the
// stores stop answering until decisions succeed again. The answers given
// meanwhile are counted at scrape time (sentinel_failsafe_answers_total).
func (m *Metrics) FailsafeChanged(_ sentinel.FailsafeMode, entered bool, _ int64) {
	m.failsafe.Set(boolFloat(entered))
}

// StreamOpened and StreamClosed bracket a streamed response.
func (m *Metrics) StreamOpened() { m.streams.Inc() }

// StreamClosed ends what StreamOpened began.
func (m *Metrics) StreamClosed() { m.streams.Dec() }

// WebSocketOpened and WebSocketClosed bracket a WebSocket session.
func (m *Metrics) WebSocketOpened() { m.websockets.Inc() }

// WebSocketClosed ends what WebSocketOpened began.
func (m *Metrics) WebSocketClosed() { m.websockets.Dec() }

// ArchiverRan records one archiver run that ended at end, archiving n
// bindings, or failing with err.
func (m *Metrics) ArchiverRan(end time.Time, n int64, err error) {
	if err != nil {
		m.archiverFailed.Inc()
		return
	}
	m.archiverOK.Inc()
	m.archived.Add(float64(n))
	m.archiverLastSuccess.Set(float64(end.UnixNano()) / 1e9)
}

// factory registers what it makes on one registry under the namespace.
type factory struct{ reg *prom.Registry }

func (f factory) counter(o prom.CounterOpts) prom.Counter {
	o.Namespace = Namespace
	c := prom.NewCounter(o)
	f.reg.MustRegister(c)
	return c
}

func (f factory) counterVec(o prom.CounterOpts, labels ...string) *prom.CounterVec {
	o.Namespace = Namespace
	c := prom.NewCounterVec(o, labels)
	f.reg.MustRegister(c)
	return c
}

func (f factory) gauge(o prom.GaugeOpts) prom.Gauge {
	o.Namespace = Namespace
	g := prom.NewGauge(o)
	f.reg.MustRegister(g)
	return g
}

func (f factory) gaugeFunc(o prom.GaugeOpts, fn func() float64) {
	o.Namespace = Namespace
	f.reg.MustRegister(prom.NewGaugeFunc(o, fn))
}

func (f factory) histogram(o prom.HistogramOpts) prom.Observer {
	o.Namespace = Namespace
	h := prom.NewHistogram(o)
	f.reg.MustRegister(h)
	return h
}

func (f factory) histogramVec(o prom.HistogramOpts, labels ...string) *prom.HistogramVec {
	o.Namespace = Namespace
	h := prom.NewHistogramVec(o, labels)
	f.reg.MustRegister(h)
	return h
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
