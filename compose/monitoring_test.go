package compose_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool not found (Debian package prometheus); CI needs it")
		}
		t.Skip("promtool not found; apt-get install -y prometheus")
	}
	return p
}

func TestPrometheusScrapeConfig(t *testing.T) {
	out, err := exec.Command(promtool(t), "check", "config", "prometheus.yml").CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check config: %v\n%s", err, out)
	}
	b, err := os.ReadFile("prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, job := range []string{"sentinel-proxy", "sentinel-admin", "sentinel-archiver"} {
		if !strings.Contains(string(b), "job_name: "+job) {
			t.Errorf("prometheus.yml does not scrape %s", job)
		}
	}
}

// dashboardExprs returns every query of the Grafana dashboard.
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	var exprs []string
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	if d.UID == "" || len(exprs) < 10 {
		t.Fatalf("dashboard uid %q with %d queries: want a uid and a real dashboard", d.UID, len(exprs))
	}
	return exprs
}

// TestDashboardUsesExportedMetrics: every sentinel_ metric the dashboard
// queries is one adapters/prometheus exports, so a renamed metric cannot
// leave an empty panel behind.
func TestDashboardUsesExportedMetrics(t *testing.T) {
	m := prometheus.New(prometheus.Options{
		Proxy:    func() prometheus.ProxyStats { return prometheus.ProxyStats{} },
		Recorder: func() sentinel.RecorderStats { return sentinel.RecorderStats{} },
		Cache:    func() prometheus.CacheStats { return prometheus.CacheStats{Layer: "valkey", Authority: "postgres"} },
		Logins:   func() prometheus.LoginStats { return prometheus.LoginStats{} },
		Settings: func() *sentinel.Settings {
			return &sentinel.Settings{EnforceMode: sentinel.ModeMonitor, FailsafeMode: sentinel.FailsafeClosed}
		},
		Alerts: func() prometheus.AlertStats { return prometheus.AlertStats{} },
	})
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	name := regexp.MustCompile(`\bsentinel_[a-z_]+`)
	used := map[string]bool{}
	for _, e := range dashboardExprs(t) {
		for _, n := range name.FindAllString(e, -1) {
			for _, suffix := range []string{"_bucket", "_count", "_sum"} {
				if base, ok := strings.CutSuffix(n, suffix); ok && fams[base] != nil {
					n = base
				}
			}
			used[n] = true
			if fams[n] == nil {
				t.Errorf("the dashboard queries %s, which Sentinel does not export", n)
			}
		}
	}
	for n := range fams {
		if strings.HasPrefix(n, "sentinel_") && !used[n] && n != "sentinel_build_info" {
			t.Errorf("%s is exported but on no dashboard panel", n)
		}
	}
}

// TestDashboardQueriesAreValidPromQL runs the queries through promtool as
// recording rules (Grafana's $__rate_interval made a real duration).
func TestDashboardQueriesAreValidPromQL(t *testing.T) {
	tool := promtool(t)
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, e := range dashboardExprs(t) {
		e = strings.ReplaceAll(e, "$__rate_interval", "5m")
		q, _ := json.Marshal(e) // a JSON string is a YAML string
		fmt.Fprintf(&b, "      - record: dashboard:query%d\n        expr: %s\n", i, q)
	}
	path := filepath.Join(t.TempDir(), "rules.yml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tool, "check", "rules", path).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules on the dashboard's queries: %v\n%s", err, out)
	}
}
