package prometheus_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// fakeProgram stands in for the proxy's and the recorder's atomics.
type fakeProgram struct {
	allowed, refused, monitored, unkeyed, failedClosed, failedOpen atomic.Int64
	abandoned, cleanupsDone, cleanupsFailed, cleanupsDropped       atomic.Int64
	written, pending, failures                                     atomic.Int64
	delivered, alertsFailed, attempts                              atomic.Int64
	hits, misses, invalidations, cacheErrors, authErrors           atomic.Int64
	cacheWriteErrors, authWriteErrors                              atomic.Int64
	loginFailures, lockouts                                        atomic.Int64
}

func newMetrics(t *testing.T) (*prometheus.Metrics, *fakeProgram) {
	t.Helper()
	p := &fakeProgram{}
	m := prometheus.New(prometheus.Options{
		Version:  "v1.2.3",
		Revision: "abc123",
		Proxy: func() prometheus.ProxyStats {
			return prometheus.ProxyStats{
				Allowed: p.allowed.Load(), Refused: p.refused.Load(), Monitored: p.monitored.Load(),
				Unkeyed: p.unkeyed.Load(), FailedClosed: p.failedClosed.Load(), FailedOpen: p.failedOpen.Load(),
				Abandoned: p.abandoned.Load(), CleanupsDone: p.cleanupsDone.Load(),
				CleanupsFailed: p.cleanupsFailed.Load(), CleanupsDropped: p.cleanupsDropped.Load(),
			}
		},
		Recorder: func() sentinel.RecorderStats {
			return sentinel.RecorderStats{InterceptsWritten: p.written.Load(), InterceptsPending: p.pending.Load(), WriteFailures: p.failures.Load()}
		},
		Cache: func() prometheus.CacheStats {
			return prometheus.CacheStats{Layer: "valkey", Authority: "postgres", Hits: p.hits.Load(), Misses: p.misses.Load(),
				Invalidations: p.invalidations.Load(), CacheErrors: p.cacheErrors.Load(), AuthorityErrors: p.authErrors.Load(),
				CacheWriteErrors: p.cacheWriteErrors.Load(), AuthorityWriteErrors: p.authWriteErrors.Load()}
		},
		Logins: func() prometheus.LoginStats {
			return prometheus.LoginStats{Failures: p.loginFailures.Load(), Lockouts: p.lockouts.Load()}
		},
		Settings: func() *sentinel.Settings {
			return &sentinel.Settings{EnforceMode: sentinel.ModeMonitor, FailsafeMode: sentinel.FailsafeClosed}
		},
		Alerts: func() prometheus.AlertStats {
			return prometheus.AlertStats{Queued: 3, Delivered: p.delivered.Load(), Failed: p.alertsFailed.Load(), Attempts: p.attempts.Load()}
		},
	})
	return m, p
}

// scrape fetches the handler's text exposition through a real HTTP server.
func scrape(t *testing.T, h http.Handler) []byte {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, body)
	}
	return body
}

// values parses an exposition into "name{label=value,...}" -> value; a
// histogram contributes its _count.
func values(t *testing.T, body []byte) map[string]float64 {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse exposition: %v", err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			key := name + labelString(m.GetLabel())
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[key] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[name+"_count"+labelString(m.GetLabel())] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

func labelString(ls []*dto.LabelPair) string {
	if len(ls) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, l := range ls {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(l.GetName() + "=" + l.GetValue())
	}
	b.WriteByte('}')
	return b.String()
}

func TestScrapeAfterScriptedSequence(t *testing.T) {
	m, p := newMetrics(t)
	before := values(t, scrape(t, m.Handler()))

	// The middleware's observer calls, as httpproxy makes them.
	// allow: a known key from its own address.
	p.allowed.Add(1)
	m.Decided(sentinel.Decision{Allow: true}, nil, 200*time.Microsecond)
	m.Allowed()
	m.FirstByte(15 * time.Millisecond)
	m.Proxied(200, 40*time.Millisecond)
	// refuse: the key from a second address.
	p.refused.Add(1)
	m.Decided(sentinel.Decision{Reason: sentinel.ReasonIPNotAllowed}, nil, 300*time.Microsecond)
	m.Refused(sentinel.ReasonIPNotAllowed)
	// monitor mode lets a banned key through.
	p.monitored.Add(1)
	m.Decided(sentinel.Decision{Allow: true, Reason: sentinel.ReasonBanned}, nil, time.Millisecond)
	m.Monitored(sentinel.ReasonBanned)
	// refused before deciding: two different keys.
	p.refused.Add(1)
	m.Refused(sentinel.ReasonMultipleKeys)
	m.Refused("not_a_reason")
	// first bind, then New API answers 401: the binding is forgotten.
	p.allowed.Add(1)
	m.Decided(sentinel.Decision{Allow: true, Created: true}, nil, 2*time.Millisecond)
	m.BindingCreated()
	m.Proxied(401, 5*time.Millisecond)
	p.cleanupsDone.Add(1)
	p.cleanupsDropped.Add(1)
	// a client gives up before its key is decided.
	p.abandoned.Add(1)
	// store cut: no decision, failsafe closed answers 503.
	m.FailsafeChanged(sentinel.FailsafeClosed, true, 0)
	p.failedClosed.Add(1)
	m.Decided(sentinel.Decision{}, sentinel.Errorf(sentinel.EUNAVAILABLE, "stores down"), 2*time.Second)
	m.Refused("sentinel_unavailable")
	p.authErrors.Add(1)
	p.cacheErrors.Add(2)
	p.cacheWriteErrors.Add(1)
	p.authWriteErrors.Add(1)
	p.hits.Add(3)
	p.misses.Add(1)
	p.invalidations.Add(1)
	m.StreamOpened()
	m.StreamOpened()
	m.StreamClosed()
	m.WebSocketOpened()
	p.unkeyed.Add(1)
	p.written.Add(2)
	p.pending.Store(4)
	p.failures.Add(1)
	p.loginFailures.Add(1)
	p.lockouts.Add(1)
	p.delivered.Add(1) // one alert goes through; another fails after two attempts
	p.alertsFailed.Add(1)
	p.attempts.Add(3)
	m.ArchiverRan(time.Unix(1700000000, 0), 7, nil)
	m.ArchiverRan(time.Unix(1700000100, 0), 0, errors.New("store down"))

	after := values(t, scrape(t, m.Handler()))
	want := map[string]float64{
		"sentinel_requests_total{outcome=allowed}":                            2,
		"sentinel_requests_total{outcome=refused}":                            2,
		"sentinel_requests_total{outcome=monitored}":                          1,
		"sentinel_requests_total{outcome=unkeyed}":                            1,
		"sentinel_requests_total{outcome=failsafe_closed}":                    1,
		"sentinel_requests_total{outcome=failsafe_open}":                      0,
		"sentinel_failsafe_answers_total{mode=closed}":                        1,
		"sentinel_failsafe_engaged":                                           1,
		"sentinel_decision_duration_seconds_count{outcome=allowed}":           2,
		"sentinel_decision_duration_seconds_count{outcome=refused}":           1,
		"sentinel_decision_duration_seconds_count{outcome=monitored}":         1,
		"sentinel_decision_duration_seconds_count{outcome=error}":             1,
		"sentinel_refusals_total{action=refused,reason=ip_not_allowed}":       1,
		"sentinel_refusals_total{action=monitored,reason=key_banned}":         1,
		"sentinel_refusals_total{action=refused,reason=key_banned}":           0,
		"sentinel_refusals_total{action=refused,reason=multiple_keys}":        1,
		"sentinel_refusals_total{action=refused,reason=other}":                1,
		"sentinel_refusals_total{action=refused,reason=invalid_key}":          0,
		"sentinel_refusals_total{action=refused,reason=sentinel_unavailable}": 1,
		"sentinel_bindings_created_total":                                     1,
		"sentinel_bindings_forgotten_total":                                   1,
		"sentinel_binding_cleanup_failures_total{result=dropped}":             1,
		"sentinel_binding_cleanup_failures_total{result=failed}":              0,
		"sentinel_requests_total{outcome=abandoned}":                          1,
		"sentinel_proxied_request_duration_seconds_count{code=2xx}":           1,
		"sentinel_proxied_request_duration_seconds_count{code=4xx}":           1,
		"sentinel_time_to_first_byte_seconds_count":                           1,
		"sentinel_open_streams":                                               1,
		"sentinel_open_websocket_sessions":                                    1,
		"sentinel_cache_lookups_total{layer=valkey,result=hit}":               3,
		"sentinel_cache_lookups_total{layer=valkey,result=miss}":              1,
		"sentinel_cache_invalidations_total{layer=valkey}":                    1,
		"sentinel_store_errors_total{op=find,store=postgres}":                 1,
		"sentinel_store_errors_total{op=get,store=valkey}":                    2,
		"sentinel_store_errors_total{op=set,store=valkey}":                    1,
		"sentinel_store_errors_total{op=write,store=postgres}":                1,
		"sentinel_recorder_written_total{kind=intercept}":                     2,
		"sentinel_recorder_queue_depth{kind=intercept}":                       4,
		"sentinel_recorder_write_failures_total":                              1,
		"sentinel_admin_login_failures_total":                                 1,
		"sentinel_admin_login_lockouts_total":                                 1,
		"sentinel_alert_webhook_alerts_total{result=delivered}":               1,
		"sentinel_alert_webhook_alerts_total{result=failed}":                  1,
		"sentinel_alert_webhook_alerts_total{result=dropped}":                 0,
		"sentinel_alert_webhook_attempts_total":                               3,
		"sentinel_archiver_runs_total{result=ok}":                             1,
		"sentinel_archiver_runs_total{result=failed}":                         1,
		"sentinel_archiver_archived_bindings_total":                           7,
		"sentinel_archiver_last_success_timestamp_seconds":                    1700000000,
	}
	for series, v := range map[string]float64{ // not moved by the sequence: read from the program
		"sentinel_alert_webhook_queue_depth":                  3,
		"sentinel_failsafe_mode{mode=closed}":                 1,
		"sentinel_failsafe_mode{mode=open}":                   0,
		"sentinel_enforce_mode{mode=monitor}":                 1,
		"sentinel_enforce_mode{mode=enforce}":                 0,
		"sentinel_build_info{revision=abc123,version=v1.2.3}": 1,
	} {
		if got, ok := after[series]; !ok || got != v {
			t.Errorf("%s = %v (present: %v), want %v", series, got, ok, v)
		}
	}
	for series, delta := range want {
		t.Run(series, func(t *testing.T) {
			a, ok := after[series]
			if !ok {
				t.Fatalf("series missing from the scrape")
			}
			if got := a - before[series]; got != delta {
				t.Errorf("moved by %v, want %v", got, delta)
			}
		})
	}
}

func TestScrapeOmitsWhatTheProgramDoesNotHave(t *testing.T) {
	m := prometheus.New(prometheus.Options{})
	got := values(t, scrape(t, m.Handler()))
	for _, absent := range []string{
		"sentinel_requests_total{outcome=allowed}", "sentinel_recorder_write_failures_total",
		"sentinel_failsafe_engaged", "sentinel_alert_webhook_queue_depth", "sentinel_cache_lookups_total{layer=local,result=hit}",
		"sentinel_admin_login_failures_total",
	} {
		if _, ok := got[absent]; ok {
			t.Errorf("%s exported without a source", absent)
		}
	}
	if got["sentinel_build_info{revision=unknown,version=unknown}"] != 1 {
		t.Errorf("build info without a version: want version and revision \"unknown\"")
	}
}

// TestNoKeyOrAddressLabels guards cardinality and secrecy: every label
// Sentinel's own metrics carry is one of a known, bounded set.
func TestNoKeyOrAddressLabels(t *testing.T) {
	m, _ := newMetrics(t)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(scrape(t, m.Handler())))
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{"outcome": true, "action": true, "reason": true, "code": true, "layer": true, "result": true,
		"store": true, "op": true, "kind": true, "mode": true, "version": true, "revision": true, "le": true}
	for name, f := range fams {
		if !strings.HasPrefix(name, prometheus.Namespace+"_") {
			continue
		}
		for _, mt := range f.GetMetric() {
			for _, l := range mt.GetLabel() {
				if !allowed[l.GetName()] {
					t.Errorf("%s has label %q, not in the bounded set", name, l.GetName())
				}
			}
		}
	}
}

func TestHotPathDoesNotAllocate(t *testing.T) {
	m, _ := newMetrics(t)
	refused := sentinel.Decision{Reason: sentinel.ReasonIPNotAllowed}
	errDown := sentinel.Errorf(sentinel.EUNAVAILABLE, "down")
	tests := []struct {
		name string
		fn   func()
	}{
		{"Decided allowed", func() { m.Decided(sentinel.Decision{Allow: true}, nil, time.Microsecond) }},
		{"Decided refused", func() { m.Decided(refused, nil, time.Microsecond) }},
		{"Decided error", func() { m.Decided(sentinel.Decision{}, errDown, time.Microsecond) }},
		{"Allowed", m.Allowed},
		{"Refused", func() { m.Refused(sentinel.ReasonInvalidKey) }},
		{"Refused unknown", func() { m.Refused("sentinel_busy") }},
		{"Monitored", func() { m.Monitored(sentinel.ReasonIPNotAllowed) }},
		{"BindingCreated", m.BindingCreated},
		{"Proxied", func() { m.Proxied(200, time.Millisecond) }},
		{"FirstByte", func() { m.FirstByte(time.Millisecond) }},
		{"FailsafeChanged", func() { m.FailsafeChanged(sentinel.FailsafeOpen, true, 0) }},
		{"Streams", func() { m.StreamOpened(); m.StreamClosed() }},
		{"WebSockets", func() { m.WebSocketOpened(); m.WebSocketClosed() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(1000, tt.fn); n != 0 {
				t.Errorf("%v allocations per call, want 0", n)
			}
		})
	}
}

func TestPromtoolFindsNoLintProblems(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool not found (Debian package prometheus); CI needs it")
		}
		t.Skip("promtool not found; apt-get install -y prometheus")
	}
	m, _ := newMetrics(t)
	m.Decided(sentinel.Decision{Allow: true}, nil, time.Microsecond)
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(scrape(t, m.Handler()))
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

func TestServerServesMetricsUntilCancelled(t *testing.T) {
	m, _ := newMetrics(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- prometheus.NewServer(ln.Addr().String(), m).Serve(ctx, ln) }()

	resp, err := http.Get("http://" + ln.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("sentinel_build_info")) {
		t.Fatalf("GET /metrics: %d, build info present: %v", resp.StatusCode, bytes.Contains(body, []byte("sentinel_build_info")))
	}
	resp, err = http.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /: %d, want 404 (only /metrics is served)", resp.StatusCode)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve after cancel: %v", err)
	}
}

func TestRunReportsAListenError(t *testing.T) {
	m, _ := newMetrics(t)
	err := prometheus.NewServer("127.0.0.1:notaport", m).Run(context.Background())
	if err == nil {
		t.Fatal("Run on a bad address: no error")
	}
}

func BenchmarkDecided(b *testing.B) {
	m := prometheus.New(prometheus.Options{})
	d := sentinel.Decision{Allow: true}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Decided(d, nil, time.Microsecond)
		}
	})
}

// BenchmarkPerRequest is what one streamed, key-bearing request costs in
// metrics: its decision, its first byte, its stream, its end.
func BenchmarkPerRequest(b *testing.B) {
	m := prometheus.New(prometheus.Options{})
	d := sentinel.Decision{Allow: true}
	b.ReportAllocs()
	for b.Loop() {
		m.Decided(d, nil, 3*time.Microsecond)
		m.Allowed()
		m.FirstByte(200 * time.Millisecond)
		m.StreamOpened()
		m.StreamClosed()
		m.Proxied(200, 2*time.Second)
	}
}
