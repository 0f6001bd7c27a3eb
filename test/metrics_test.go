package test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/keyipsentinel/sentinel/adminclient"
	"github.com/keyipsentinel/sentinel/test/relay"
)

// junkKey is a scanner's random key: the gateway answers it 401.
const junkKey = "sk-JunkKeyTheGatewayDoesNotKnow0123456789abcdefgh"

// scrapeMetrics fetches /metrics at addr and returns the raw exposition
// and its series as "name{label=value,...}" -> value (a histogram gives
// its _count).
func scrapeMetrics(t *testing.T, addr string) ([]byte, map[string]float64) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	require.NoError(t, err)
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(ls)
			lbl := ""
			if len(ls) > 0 {
				lbl = "{" + strings.Join(ls, ",") + "}"
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[name+lbl] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[name+lbl] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[name+"_count"+lbl] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return body, out
}

// checkExposition runs promtool's linter over body and asserts that no
// label carries a key, a key hint or a client address.
func checkExposition(t *testing.T, body []byte, secrets ...string) {
	t.Helper()
	tool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool not found (Debian package prometheus); CI needs it")
		}
		t.Skip("promtool not found; apt-get install -y prometheus")
	}
	cmd := exec.Command(tool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "promtool check metrics:\n%s", out)
	require.Empty(t, strings.TrimSpace(string(out)), "promtool check metrics found problems")

	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	require.NoError(t, err)
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				v := l.GetValue()
				require.NotContains(t, v, "sk-", "%s{%s}: a key or hint in a label", name, l.GetName())
				require.NotContains(t, v, "127.0.0.", "%s{%s}: a client address in a label", name, l.GetName())
				for _, s := range secrets {
					require.NotContains(t, v, s, "%s{%s}", name, l.GetName())
					require.NotContains(t, v, s[len(s)-4:], "%s{%s}: a key hint in a label", name, l.GetName())
				}
			}
		}
	}
}

// requireMoved asserts each series moved by exactly its delta between two
// scrapes.
func requireMoved(t *testing.T, before, after map[string]float64, want map[string]float64) {
	t.Helper()
	for series, delta := range want {
		a, ok := after[series]
		if !assertTrue(t, ok, "%s missing from the scrape", series) {
			continue
		}
		if got := a - before[series]; got != delta {
			t.Errorf("%s moved by %v, want %v", series, got, delta)
		}
	}
}

func assertTrue(t *testing.T, ok bool, format string, args ...any) bool {
	t.Helper()
	if !ok {
		t.Errorf(format, args...)
	}
	return ok
}

// TestMetricsOfTheRealProxy scrapes sentinel-proxy's /metrics after a
// scripted sequence (first bind, allow, refuse, a junk key the gateway
// answers 401 and Sentinel forgets, a PostgreSQL cut answered by the
// closed failsafe, the recovery) and finds each counter moved by what the
// sequence did; promtool finds no lint problems, and no label holds a key
// or an address.
func TestMetricsOfTheRealProxy(t *testing.T) {
	d := newDeployment(t, "")
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") == "Bearer "+junkKey {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":{"message":"invalid token"}}`)
			return
		}
		io.WriteString(w, `{"object":"list","data":[]}`)
	}))
	t.Cleanup(up.Close)
	pgURL, err := url.Parse(d.pgDSN)
	require.NoError(t, err)
	pg := relay.Start(t, pgURL.Host)
	metrics := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := start(t, "sentinel-proxy", t.TempDir(), d.env(up.URL, pg.Addr(), "",
		"SENTINEL_METRICS_ADDR", metrics, "SENTINEL_FAILSAFE_MODE", "closed"))
	models := p.URL + "/v1/models"

	_, before := scrapeMetrics(t, metrics)
	require.Equal(t, 0.0, before["sentinel_failsafe_engaged"])

	require.Equal(t, http.StatusOK, send(t, "127.0.0.1", models, testKey), "first bind")
	require.Equal(t, http.StatusOK, send(t, "127.0.0.1", models, testKey), "allow")
	require.Equal(t, http.StatusForbidden, send(t, "127.0.0.2", models, testKey), "refuse")
	require.Equal(t, http.StatusUnauthorized, send(t, "127.0.0.3", models, junkKey), "401: the binding is forgotten")
	require.Eventually(t, func() bool {
		_, m := scrapeMetrics(t, metrics)
		return m["sentinel_bindings_forgotten_total"]-before["sentinel_bindings_forgotten_total"] == 1
	}, 10*time.Second, 20*time.Millisecond, "the junk key's binding is removed")

	pg.Cut()
	fresh := "sk-FreshKeyWhilePostgresIsCut0123456789abcdefghij"
	require.Equal(t, http.StatusServiceUnavailable, send(t, "127.0.0.4", models, fresh), "store cut: failsafe closed")
	_, after := scrapeMetrics(t, metrics)
	require.Equal(t, 1.0, after["sentinel_failsafe_engaged"], "the failsafe is engaged")

	requireMoved(t, before, after, map[string]float64{
		"sentinel_requests_total{outcome=allowed}":         3, // bind, allow, the 401'd junk key
		"sentinel_requests_total{outcome=refused}":         1,
		"sentinel_requests_total{outcome=failsafe_closed}": 1,
		"sentinel_requests_total{outcome=failsafe_open}":   0,
		"sentinel_requests_total{outcome=monitored}":       0,

		"sentinel_refusals_total{action=refused,reason=ip_not_allowed}":       1,
		"sentinel_refusals_total{action=refused,reason=sentinel_unavailable}": 1,
		"sentinel_refusals_total{action=refused,reason=key_banned}":           0,
		"sentinel_refusals_total{action=monitored,reason=ip_not_allowed}":     0,

		"sentinel_decision_duration_seconds_count{outcome=allowed}": 3,
		"sentinel_decision_duration_seconds_count{outcome=refused}": 1,
		"sentinel_decision_duration_seconds_count{outcome=error}":   1,

		"sentinel_proxied_request_duration_seconds_count{code=2xx}": 2,
		"sentinel_proxied_request_duration_seconds_count{code=4xx}": 1,
		"sentinel_time_to_first_byte_seconds_count":                 3,

		"sentinel_bindings_created_total":                         2, // the test key and the junk key
		"sentinel_bindings_forgotten_total":                       1,
		"sentinel_binding_cleanup_failures_total{result=failed}":  0,
		"sentinel_binding_cleanup_failures_total{result=dropped}": 0,
		"sentinel_failsafe_answers_total{mode=closed}":            1,
		"sentinel_store_errors_total{op=find,store=postgres}":     1,
		"sentinel_store_errors_total{op=get,store=valkey}":        0,
		"sentinel_store_errors_total{op=set,store=valkey}":        0,
		"sentinel_store_errors_total{op=write,store=postgres}":    0,
		"sentinel_open_streams":                                   0,
		"sentinel_open_websocket_sessions":                        0,
	})
	hits := after["sentinel_cache_lookups_total{layer=valkey,result=hit}"] - before["sentinel_cache_lookups_total{layer=valkey,result=hit}"]
	misses := after["sentinel_cache_lookups_total{layer=valkey,result=miss}"] - before["sentinel_cache_lookups_total{layer=valkey,result=miss}"]
	require.GreaterOrEqual(t, hits, 2.0, "allow and refuse come from Valkey")
	require.GreaterOrEqual(t, misses, 3.0, "the two first uses and the fresh key ask PostgreSQL")
	require.Equal(t, 1.0, after["sentinel_failsafe_mode{mode=closed}"])

	pg.Restore()
	// A decision that succeeds again ends the episode (the first calls
	// after the restore may still meet dead connections).
	require.Eventually(t, func() bool { return send(t, "127.0.0.1", models, testKey) == http.StatusOK },
		20*time.Second, 20*time.Millisecond, "deciding again once PostgreSQL answers")
	body, after := scrapeMetrics(t, metrics)
	require.Equal(t, 0.0, after["sentinel_failsafe_engaged"], "the failsafe episode is over")
	checkExposition(t, body, testKey, junkKey, fresh)
}

// TestMetricsOfAdminAndArchiver: sentinel-admin and sentinel-archiver
// serve /metrics on SENTINEL_METRICS_ADDR too, with what they have: the
// admin its login failures, the archiver its runs.
func TestMetricsOfAdminAndArchiver(t *testing.T) {
	d := newDeployment(t, "")
	adminMetrics := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	env := d.env("http://127.0.0.1:1", "", "", "SENTINEL_METRICS_ADDR", adminMetrics)
	_, base := startAdmin(t, t.TempDir(), env)
	_, before := scrapeMetrics(t, adminMetrics)
	c, err := adminclient.NewClientWithResponses(base)
	require.NoError(t, err)
	res, err := c.LoginWithResponse(t.Context(), adminclient.LoginJSONRequestBody{Password: "not-the-password"})
	require.NoError(t, err)
	require.Equal(t, http.StatusUnauthorized, res.StatusCode())
	body, after := scrapeMetrics(t, adminMetrics)
	requireMoved(t, before, after, map[string]float64{
		"sentinel_admin_login_failures_total": 1,
		"sentinel_admin_login_lockouts_total": 0,
	})
	_, hasProxy := after["sentinel_requests_total{outcome=allowed}"]
	require.False(t, hasProxy, "the admin has no proxy counters")
	checkExposition(t, body)

	buildArchiver(t)
	archMetrics := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	aenv := d.env("http://127.0.0.1:1", "", "", "SENTINEL_METRICS_ADDR", archMetrics, "SENTINEL_ARCHIVE_INTERVAL", "1h")
	a := startCmd(t, "sentinel-archiver", t.TempDir(), aenv, "run")
	ap := &process{cmd: a, stderr: &syncBuffer{}, done: make(chan error, 1)}
	a.Stdout, a.Stderr = ap.stderr, ap.stderr
	require.NoError(t, a.Start())
	go func() { ap.done <- a.Wait() }()
	t.Cleanup(func() { ap.stop() })
	var m map[string]float64
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + archMetrics + "/metrics")
		if err != nil {
			return false
		}
		resp.Body.Close()
		body, m = scrapeMetrics(t, archMetrics)
		return m["sentinel_archiver_runs_total{result=ok}"] == 1
	}, 20*time.Second, 50*time.Millisecond, "the archiver's first run is counted:\n%s", ap.stderr.String())
	require.Greater(t, m["sentinel_archiver_last_success_timestamp_seconds"], 0.0)
	checkExposition(t, body)
}
