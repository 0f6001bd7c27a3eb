package test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyipsentinel/sentinel/test/relay"
)

type readyBody struct {
	Status  string            `json:"status"`
	Failing []string          `json:"failing"`
	Checks  map[string]string `json:"checks"`
}

func getReady(t *testing.T, base string) (int, readyBody) {
	t.Helper()
	resp, err := http.Get(base + "/ready")
	require.NoError(t, err)
	defer resp.Body.Close()
	var b readyBody
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&b))
	return resp.StatusCode, b
}

// TestReadyWhilePostgresIsCut: /ready names PostgreSQL while the link to
// it is cut (and /health stays 200: the process is alive), and is ready
// again once the link is back, without a restart. The metrics listener
// runs beside it.
func TestReadyWhilePostgresIsCut(t *testing.T) {
	d := newDeployment(t, "")
	up := newUpstream(t)
	pgURL, err := url.Parse(d.pgDSN)
	require.NoError(t, err)
	pg := relay.Start(t, pgURL.Host)
	metrics := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := start(t, "sentinel-proxy", t.TempDir(), d.env(up.URL, pg.Addr(), "", "SENTINEL_METRICS_ADDR", metrics))

	status, b := getReady(t, p.URL)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, map[string]string{"postgres": "ok", "valkey": "ok"}, b.Checks)
	require.Equal(t, http.StatusOK, send(t, "127.0.0.1", p.URL+"/v1/models", testKey))

	pg.Cut()
	require.Eventually(t, func() bool {
		status, b = getReady(t, p.URL)
		return status == http.StatusServiceUnavailable
	}, 10*time.Second, 50*time.Millisecond, "not ready while PostgreSQL is cut")
	require.Equal(t, "unavailable", b.Status)
	require.Equal(t, []string{"postgres"}, b.Failing)
	resp, err := http.Get(p.URL + "/health")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "alive all the same")
	require.Contains(t, p.stderr.String(), "not ready", "why is logged")

	pg.Restore()
	require.Eventually(t, func() bool {
		status, _ = getReady(t, p.URL)
		return status == http.StatusOK
	}, 20*time.Second, 50*time.Millisecond, "ready again once PostgreSQL answers")

	// The metrics listener serves the middleware's counters.
	resp, err = http.Get("http://" + metrics + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(body), `sentinel_requests_total{outcome="allowed"} 1`)
	require.Contains(t, string(body), `sentinel_build_info{`)
	require.Contains(t, string(body), `version="v9.9.9-test"`)
}

// TestHealthcheckCommand: the image has no curl; each binary probes its
// own /ready.
func TestHealthcheckCommand(t *testing.T) {
	p := start(t, "sentinel-proxy", t.TempDir(), map[string]string{"DOWNSTREAM_URL": newUpstream(t).URL})
	unready := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"status":"unavailable","failing":["postgres"]}`)
	}))
	t.Cleanup(unready.Close)
	for _, tc := range []struct {
		name, url string
		code      int
		out       string
	}{
		{"ready", p.URL + "/ready", 0, "200 OK"},
		{"not 2xx", unready.URL + "/ready", 1, `503 Service Unavailable {"status":"unavailable","failing":["postgres"]}`},
		{"unreachable", fmt.Sprintf("http://127.0.0.1:%d/ready", freePort(t)), 1, "unreachable"},
		{"bad url", "ftp://x", 2, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := startCmd(t, "sentinel-proxy", t.TempDir(), nil, "healthcheck", tc.url).CombinedOutput()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, tc.code, code, "%s", out)
			require.Contains(t, string(out), tc.out)
		})
	}
}

func TestVersionFromLDFlags(t *testing.T) {
	for _, bin := range []string{"sentinel", "sentinel-proxy", "sentinel-admin"} {
		out, err := startCmd(t, bin, t.TempDir(), nil, "version").CombinedOutput()
		require.NoError(t, err, "%s", out)
		require.Equal(t, bin+" v9.9.9-test (0123abc)", strings.TrimSpace(string(out)))
	}
}

// TestDockerfileStampsTheVersionVariables: the image is built with the
// same -X targets as the test binaries, which TestVersionFromLDFlags shows
// to work.
func TestDockerfileStampsTheVersionVariables(t *testing.T) {
	df, err := os.ReadFile("../compose/Dockerfile")
	require.NoError(t, err)
	for _, target := range []string{
		"-X github.com/keyipsentinel/sentinel/cmd/internal/app.version=",
		"-X github.com/keyipsentinel/sentinel/cmd/internal/app.revision=",
	} {
		require.Contains(t, testLDFlags, target)
		require.Contains(t, string(df), target)
	}
}
