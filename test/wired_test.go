package test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/adminapi"
	"github.com/keyipsentinel/sentinel/adapters/webhook"
	"github.com/keyipsentinel/sentinel/adminclient"
)

const wiredKey = "sk-WiredTestKey0123456789abcdefghijklmnopqrstuv"

// adminEnvFor is the environment giving a process the admin API's
// secrets and an admin port of its own; it returns the admin base URL.
func adminEnvFor(t *testing.T, env map[string]string) string {
	t.Helper()
	port := freePort(t)
	env["ADMIN_HOST"], env["ADMIN_PORT"] = "127.0.0.1", strconv.Itoa(port)
	env["ADMIN_PASSWORD"], env["ADMIN_JWT_SECRET"] = adminPassword, adminSecret
	if env["SENTINEL_HMAC_SECRET"] == "" {
		env["SENTINEL_HMAC_SECRET"] = prodSecret
	}
	return fmt.Sprintf("http://127.0.0.1:%d", port)
}

// waitAdmin waits until the admin API at base answers its health check.
func waitAdmin(t *testing.T, p *process, base string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/admin/api/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		require.False(t, time.Now().After(deadline), "admin API did not become healthy:\n%s", p.stderr.String())
		time.Sleep(20 * time.Millisecond)
	}
}

// startAdmin runs sentinel-admin serve and waits for its API.
func startAdmin(t *testing.T, dir string, env map[string]string) (*process, string) {
	t.Helper()
	base := adminEnvFor(t, env)
	cmd := startCmd(t, "sentinel-admin", dir, env, "serve")
	p := &process{cmd: cmd, stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.stderr, p.stderr
	require.NoError(t, cmd.Start())
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("sentinel-admin output:\n%s", p.stderr.String())
		}
	})
	waitAdmin(t, p, base)
	return p, base
}

func adminLogin(t *testing.T, base string) (*adminclient.ClientWithResponses, adminclient.RequestEditorFn) {
	t.Helper()
	c, err := adminclient.NewClientWithResponses(base)
	require.NoError(t, err)
	res, err := c.LoginWithResponse(t.Context(), adminclient.LoginJSONRequestBody{Password: adminPassword})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode(), string(res.Body))
	return c, bearer(res.JSON200.AccessToken)
}

// sendBody is send returning the body too (which says why a refusal or
// a 503 was given).
func sendBody(t testing.TB, ip, url, key string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	c := clientFrom(ip)
	defer c.CloseIdleConnections()
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// eventually polls until send from ip gets want, within a second.
func eventually(t *testing.T, ip, url, key string, want int, msg string) {
	t.Helper()
	require.Eventually(t, func() bool { return send(t, ip, url, key) == want }, time.Second, 5*time.Millisecond, msg)
}

// TestAdminLifecycleWithRealProxy drives the all-in-one sentinel: proxied
// requests from real loopback addresses, admin changes through the
// generated client on the admin listener of the same process.
func TestAdminLifecycleWithRealProxy(t *testing.T) {
	up := newUpstream(t)
	dir := t.TempDir()
	env := map[string]string{"DOWNSTREAM_URL": up.URL, "SENTINEL_DATA_DIR": filepath.Join(dir, "data"), "SENTINEL_LAST_USED_INTERVAL": "100ms"}
	base := adminEnvFor(t, env)
	p := start(t, "sentinel", dir, env)
	waitAdmin(t, p, base)
	ctx := t.Context()
	models := p.URL + "/v1/models"

	// The two listeners keep to their own work.
	for _, path := range []string{"/admin/api/health", "/Admin/api/login", "/admin/./api/session", "//admin/api/", "/adm%C4%B0n/api/health"} {
		resp, err := http.Get(p.URL + path)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusNotFound, resp.StatusCode, "the proxy listener never serves the admin API: %s", path)
		require.Contains(t, string(body), "served on the admin address", "refused by Sentinel, not forwarded: %s", path)
	}
	// Both listeners answer the probes Compose and load balancers use.
	for _, u := range []string{p.URL + "/health", p.URL + "/ready", base + "/health", base + "/ready"} {
		resp, err := http.Get(u)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, u)
	}
	resp, err := http.Get(base + "/admin/api/health")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	before := len(up.addresses())
	code, _ := sendBody(t, "127.0.0.1", base+"/v1/models", wiredKey)
	require.Equal(t, http.StatusNotFound, code, "the admin listener never proxies")
	require.Len(t, up.addresses(), before)
	resp, err = http.Get(base + "/admin/ui/")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'")

	// A proxied first use binds.
	require.Equal(t, http.StatusOK, send(t, "127.0.0.1", models, wiredKey))
	c, auth := adminLogin(t, base)
	list, err := c.ListBindingsWithResponse(ctx, &adminclient.ListBindingsParams{}, auth)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, list.StatusCode(), string(list.Body))
	require.EqualValues(t, 1, list.JSON200.Total)
	b := list.JSON200.Items[0]
	id := b.Id
	require.Equal(t, "127.0.0.1", b.FirstIp)
	require.NotContains(t, string(list.Body), strings.TrimPrefix(wiredKey, "sk-")[:12], "the key never shows")
	require.Contains(t, b.KeyHint, "…")

	look, err := c.LookupBindingWithResponse(ctx, adminclient.LookupBindingJSONRequestBody{Key: "Bearer " + wiredKey}, auth)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, look.StatusCode(), string(look.Body))
	require.Equal(t, id, look.JSON200.Id)
	for _, tc := range []struct {
		ip   string
		want int64
	}{{"127.0.0.0/24", 1}, {"127.0.0.1", 1}, {"127.0.1.0/24", 0}} {
		l, err := c.ListBindingsWithResponse(ctx, &adminclient.ListBindingsParams{Ip: ptr(tc.ip)}, auth)
		require.NoError(t, err)
		require.Equal(t, tc.want, int64(l.JSON200.Total), "ip=%s", tc.ip)
	}

	// Rule → a CIDR: inside passes, outside is refused.
	set, err := c.SetBindingRuleWithResponse(ctx, adminclient.SetBindingRuleJSONRequestBody{Id: id,
		Rule: adminclient.RuleInput{Kind: "single", Prefixes: &[]string{"127.0.0.0/30"}}}, auth)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, set.StatusCode(), string(set.Body))
	eventually(t, "127.0.0.2", models, wiredKey, http.StatusOK, "an address inside the new CIDR passes")
	require.Equal(t, http.StatusForbidden, send(t, "127.0.0.9", models, wiredKey), "an address outside is refused")

	// Ban, then unban.
	ban, err := c.BanWithResponse(ctx, adminclient.BanJSONRequestBody{Id: id}, auth)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, ban.StatusCode(), string(ban.Body))
	require.Eventually(t, func() bool {
		code, body := sendBody(t, "127.0.0.1", models, wiredKey)
		return code == http.StatusForbidden && strings.Contains(body, "key_banned")
	}, time.Second, 5*time.Millisecond, "a banned key is refused with key_banned from its bound address")
	unban, err := c.UnbanWithResponse(ctx, adminclient.UnbanJSONRequestBody{Id: id}, auth)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, unban.StatusCode())
	eventually(t, "127.0.0.1", models, wiredKey, http.StatusOK, "unbanned")

	// Unbind: the next use from a new address binds afresh.
	ub, err := c.UnbindWithResponse(ctx, adminclient.UnbindJSONRequestBody{Id: id}, auth)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, ub.StatusCode(), string(ub.Body))
	eventually(t, "127.0.0.77", models, wiredKey, http.StatusOK, "binds afresh from a new address")
	require.Equal(t, http.StatusForbidden, send(t, "127.0.0.1", models, wiredKey), "the old address is now refused")
	got, err := c.GetBindingWithResponse(ctx, id, auth)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, got.StatusCode())
	require.Equal(t, "127.0.0.77", got.JSON200.FirstIp)

	audit, err := c.ListAuditWithResponse(ctx, &adminclient.ListAuditParams{}, auth)
	require.NoError(t, err)
	var actions []string
	for _, a := range audit.JSON200.Items {
		actions = append(actions, string(a.Action))
		assert.Equal(t, id, a.BindingId)
		assert.Equal(t, "127.0.0.1", a.ClientIp)
	}
	require.Equal(t, []string{"unbind", "unban", "ban", "set_rule"}, actions)
	items := audit.JSON200.Items
	rule := func(v any) any { return v.(map[string]any)["rule"].(map[string]any)["prefixes"].([]any)[0] }
	require.Equal(t, "127.0.0.1", rule(items[3].Before))
	require.Equal(t, "127.0.0.0/30", rule(items[3].After))
	require.Equal(t, "active", items[2].Before.(map[string]any)["status"])
	require.Equal(t, "banned", items[2].After.(map[string]any)["status"])
	require.Equal(t, "banned", items[1].Before.(map[string]any)["status"])
	require.Equal(t, "active", items[1].After.(map[string]any)["status"])
	require.NotNil(t, items[0].Before)
	require.Nil(t, items[0].After)
}

// TestTwoProxiesFollowOneAdmin runs two sentinel-proxy processes and one
// sentinel-admin on PostgreSQL + Valkey: a ban and a settings change made
// through the admin API reach both proxies within a second.
func TestTwoProxiesFollowOneAdmin(t *testing.T) {
	d := newDeployment(t, "")
	up := newUpstream(t)
	procs := startProxies(t, 2, func() string { return t.TempDir() }, d.env(up.URL, "", ""))
	adminEnv := d.env(up.URL, "", "", "ADMIN_SESSION_TTL", "1h")
	_, base := startAdmin(t, t.TempDir(), adminEnv)
	c, auth := adminLogin(t, base)
	ctx := t.Context()

	require.Equal(t, http.StatusOK, send(t, "127.0.4.1", procs[0].URL+"/v1/models", wiredKey))
	for _, p := range procs {
		require.Equal(t, http.StatusOK, send(t, "127.0.4.1", p.URL+"/v1/models", wiredKey))
	}
	id := d.keyHash(t, wiredKey).String()

	ban, err := c.BanWithResponse(ctx, adminclient.BanJSONRequestBody{Id: id}, auth)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, ban.StatusCode(), string(ban.Body))
	start := time.Now()
	for _, p := range procs {
		eventually(t, "127.0.4.1", p.URL+"/v1/models", wiredKey, http.StatusForbidden, "the ban reaches "+p.URL)
	}
	t.Logf("ban honoured by both proxies after %v", time.Since(start))
	unban, err := c.UnbanWithResponse(ctx, adminclient.UnbanJSONRequestBody{Id: id}, auth)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, unban.StatusCode())
	for _, p := range procs {
		eventually(t, "127.0.4.1", p.URL+"/v1/models", wiredKey, http.StatusOK, "the unban reaches "+p.URL)
		require.Equal(t, http.StatusForbidden, send(t, "127.0.4.2", p.URL+"/v1/models", wiredKey), "enforcing: another address is refused")
	}

	put, err := c.PutSettingsWithResponse(ctx, adminclient.PutSettingsJSONRequestBody{
		EnforceMode: ptr(adminclient.PutSettingsInputBodyEnforceMode("monitor"))}, auth)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, put.StatusCode(), string(put.Body))
	start = time.Now()
	for _, p := range procs {
		eventually(t, "127.0.4.2", p.URL+"/v1/models", wiredKey, http.StatusOK, "monitor mode reaches "+p.URL)
	}
	t.Logf("enforce → monitor followed by both proxies after %v", time.Since(start))
}

// TestLogsExportStreamsWithFlatMemory exports 1 000 and then 100 000
// intercept rows from PostgreSQL through a real sentinel-admin each and
// reads each process's peak RSS (VmHWM) after the export: a streamed
// export does not grow with the row count. The figures are logged; the
// assertion is a generous ratio, not a wall-clock or byte bound.
func TestLogsExportStreamsWithFlatMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("inserts 100 000 rows")
	}
	peaks := map[int]int64{}
	for _, rows := range []int{1_000, 100_000} {
		d := newDeployment(t, "")
		seedIntercepts(t, d, rows)
		p, base := startAdmin(t, t.TempDir(), d.env("http://127.0.0.1:1", "", ""))
		c, auth := adminLogin(t, base)
		res, err := c.ExportLogs(t.Context(), &adminclient.ExportLogsParams{}, auth)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, res.StatusCode)
		lines, neutralised := 0, 0
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			lines++
			if strings.Contains(sc.Text(), `'=HYPERLINK(""x"")`) {
				neutralised++
			}
		}
		require.NoError(t, sc.Err())
		res.Body.Close()
		require.Equal(t, rows+1, lines, "a header and every row")
		require.Equal(t, rows, neutralised, "every formula cell is prefixed with '")
		peaks[rows] = vmHWM(t, p.cmd.Process.Pid)
		t.Logf("export of %d rows: sentinel-admin peak RSS (VmHWM) %d kB", rows, peaks[rows])
	}
	require.Less(t, peaks[100_000], 2*peaks[1_000], "peak RSS must not grow with the row count")
}

func seedIntercepts(t *testing.T, d *deployment, n int) {
	t.Helper()
	now := time.Now().UTC()
	batch := make([]sentinel.Intercept, 0, 5000)
	for i := range n {
		batch = append(batch, sentinel.Intercept{
			Key: d.keyHash(t, fmt.Sprintf("sk-Export%08d-abcdefghijklmnopqrstuvwxyz", i%500)), Hint: "sk-Expo…wxyz",
			ClientIP: netip.AddrFrom4([4]byte{127, 0, byte(i >> 8), byte(i)}), Reason: sentinel.ReasonIPNotAllowed, Enforced: true,
			Method: "GET", Path: `=HYPERLINK("x")`, UserAgent: "export-test", At: now.Add(-time.Duration(i) * time.Millisecond),
		})
		if len(batch) == cap(batch) || i == n-1 {
			require.NoError(t, d.intercept.AddIntercepts(t.Context(), batch))
			batch = batch[:0]
		}
	}
}

// vmHWM reads a process's peak resident set size in kB.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			require.NoError(t, err)
			return n
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

func TestAdminArchiveAndWebhookTest(t *testing.T) {
	eachBackendWith(t, testAdminArchiveAndWebhookTest)
}

// eachBackendWith runs test on both backends with the archiver and a
// webhook sender allowed to reach this machine's test receivers.
func eachBackendWith(t *testing.T, test func(t *testing.T, e *adminEnv)) {
	with := func(o *adminapi.Options, st adminStores) {
		live, err := sentinel.NewLiveSettings(defaultSettings())
		require.NoError(t, err)
		o.Archive = sentinel.NewArchiver(st.archive, live, sentinel.ArchiverOptions{})
		o.AuditLog = st.audit.(sentinel.AuditWriter)
		o.WebhookAllowPrivate = true
		o.WebhookSend = func(ctx context.Context, u string, allowPrivate bool) (int, time.Duration, error) {
			r, err := webhook.New(webhook.Options{AllowPrivate: allowPrivate}).Send(ctx, u, webhook.SampleAlert(time.Now(), ""))
			return r.Status, r.Latency, err
		}
	}
	t.Run("sqlite", func(t *testing.T) { test(t, newAdminEnv(t, "sqlite", with)) })
	t.Run("postgres+valkey", func(t *testing.T) { test(t, newAdminEnv(t, "postgres", with)) })
}

func testAdminArchiveAndWebhookTest(t *testing.T, e *adminEnv) {
	ctx := t.Context()
	auth := e.login(t)
	b := e.bind(t, adminKey, "203.0.113.7")
	archived, err := e.stores.archive.ArchiveBindings(ctx, time.Now().Add(time.Hour), 10, time.Now().UTC())
	require.NoError(t, err)
	require.Len(t, archived, 1)

	list, err := e.client.ListBindingsWithResponse(ctx, &adminclient.ListBindingsParams{Archived: ptr(true)}, auth)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, list.StatusCode(), string(list.Body))
	require.EqualValues(t, 1, list.JSON200.Total)
	item := list.JSON200.Items[0]
	require.Equal(t, b.Key.String(), item.Id)
	require.NotNil(t, item.ArchiveId)
	require.NotNil(t, item.ArchivedAt)
	bad, err := e.client.ListBindingsWithResponse(ctx, &adminclient.ListBindingsParams{Archived: ptr(true), Ip: ptr("10.0.0.0/8")}, auth)
	require.NoError(t, err)
	require.Equal(t, http.StatusUnprocessableEntity, bad.StatusCode())
	require.Contains(t, string(bad.Body), "query.ip")

	for _, tc := range []struct {
		name string
		id   int64
		want int
	}{{"unknown id", *item.ArchiveId + 1000, http.StatusNotFound}, {"restores", *item.ArchiveId, http.StatusOK}} {
		res, err := e.client.RestoreBindingWithResponse(ctx, adminclient.RestoreBindingJSONRequestBody{Id: tc.id}, auth)
		require.NoError(t, err, tc.name)
		require.Equal(t, tc.want, res.StatusCode(), "%s: %s", tc.name, res.Body)
	}
	got, err := e.bindings.FindBinding(ctx, b.Key)
	require.NoError(t, err)
	require.True(t, got.Rule.Allows(netip.MustParseAddr("203.0.113.7")), "restored with its rule")

	// A key that bound afresh after being archived cannot be restored over.
	_, err = e.stores.archive.ArchiveBindings(ctx, time.Now().Add(time.Hour), 10, time.Now().UTC())
	require.NoError(t, err)
	e.bind(t, adminKey, "198.51.100.1")
	list, err = e.client.ListBindingsWithResponse(ctx, &adminclient.ListBindingsParams{Archived: ptr(true)}, auth)
	require.NoError(t, err)
	conflict, err := e.client.RestoreBindingWithResponse(ctx, adminclient.RestoreBindingJSONRequestBody{Id: *list.JSON200.Items[0].ArchiveId}, auth)
	require.NoError(t, err)
	require.Equal(t, http.StatusConflict, conflict.StatusCode(), string(conflict.Body))

	// Webhook test send: to a given receiver, then to the live URL.
	var hits atomic.Int32
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if strings.Contains(r.URL.Path, "down") {
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	t.Cleanup(receiver.Close)
	secretURL := receiver.URL + "/hook/SECRET-TOKEN"
	noURL, err := e.client.TestWebhookWithResponse(ctx, adminclient.TestWebhookJSONRequestBody{}, auth)
	require.NoError(t, err)
	require.Equal(t, http.StatusUnprocessableEntity, noURL.StatusCode(), "no URL given and none configured")
	ok, err := e.client.TestWebhookWithResponse(ctx, adminclient.TestWebhookJSONRequestBody{Url: ptr(secretURL)}, auth)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, ok.StatusCode(), string(ok.Body))
	require.True(t, ok.JSON200.Delivered)
	require.EqualValues(t, 200, ok.JSON200.Status)
	require.Equal(t, "127.0.0.1", ok.JSON200.Host)
	require.EqualValues(t, 1, hits.Load())
	down, err := e.client.TestWebhookWithResponse(ctx, adminclient.TestWebhookJSONRequestBody{Url: ptr(receiver.URL + "/down/SECRET-TOKEN")}, auth)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, down.StatusCode())
	require.False(t, down.JSON200.Delivered)
	require.EqualValues(t, 502, down.JSON200.Status)
	require.NotContains(t, string(down.Body), "SECRET-TOKEN")
	put, err := e.client.PutSettingsWithResponse(ctx, adminclient.PutSettingsJSONRequestBody{AlertWebhookUrl: ptr(secretURL)}, auth)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, put.StatusCode())
	live, err := e.client.TestWebhookWithResponse(ctx, adminclient.TestWebhookJSONRequestBody{}, auth)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, live.StatusCode(), string(live.Body))
	require.True(t, live.JSON200.Delivered)
	require.EqualValues(t, 3, hits.Load())

	audit, err := e.client.ListAuditWithResponse(ctx, &adminclient.ListAuditParams{}, auth)
	require.NoError(t, err)
	var actions []string
	for _, a := range audit.JSON200.Items {
		actions = append(actions, string(a.Action))
		if a.Action == "webhook_test" || a.Action == "settings" {
			require.Empty(t, a.BindingId, "%s concerns no binding", a.Action)
		} else {
			require.NotEmpty(t, a.BindingId, "%s names its binding", a.Action)
		}
	}
	require.Equal(t, []string{"webhook_test", "settings", "webhook_test", "webhook_test", "restore"}, actions)
	require.NotContains(t, string(audit.Body), "SECRET-TOKEN", "the webhook is audited by host only")
	require.Equal(t, "127.0.0.1", audit.JSON200.Items[0].After.(map[string]any)["host"])
}

// TestWebhookTestRefusesPrivateAddresses: without
// ALERT_WEBHOOK_ALLOW_PRIVATE a receiver on loopback is refused with 422.
func TestWebhookTestRefusesPrivateAddresses(t *testing.T) {
	var hits atomic.Int32
	receiver := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	t.Cleanup(receiver.Close)
	e := newAdminEnv(t, "sqlite", func(o *adminapi.Options, st adminStores) {
		o.AuditLog = st.audit.(sentinel.AuditWriter)
		o.WebhookSend = func(ctx context.Context, u string, allowPrivate bool) (int, time.Duration, error) {
			r, err := webhook.New(webhook.Options{AllowPrivate: allowPrivate}).Send(ctx, u, webhook.SampleAlert(time.Now(), ""))
			return r.Status, r.Latency, err
		}
	})
	res, err := e.client.TestWebhookWithResponse(t.Context(), adminclient.TestWebhookJSONRequestBody{Url: ptr(receiver.URL + "/x")}, e.login(t))
	require.NoError(t, err)
	require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode(), string(res.Body))
	require.Contains(t, string(res.Body), "body.url")
	require.Zero(t, hits.Load())
}

// TestStoredSettingsHoldFromTheFirstRequest: a setting changed through the
// admin API is in force on a restarted sentinel's very first request.
func TestStoredSettingsHoldFromTheFirstRequest(t *testing.T) {
	up := newUpstream(t)
	dir := t.TempDir()
	env := map[string]string{"DOWNSTREAM_URL": up.URL, "SENTINEL_DATA_DIR": filepath.Join(dir, "data")}
	base := adminEnvFor(t, env)
	p := start(t, "sentinel", dir, env)
	waitAdmin(t, p, base)
	require.Equal(t, http.StatusOK, send(t, "127.0.0.1", p.URL+"/v1/models", wiredKey))
	c, auth := adminLogin(t, base)
	put, err := c.PutSettingsWithResponse(t.Context(), adminclient.PutSettingsJSONRequestBody{
		EnforceMode: ptr(adminclient.PutSettingsInputBodyEnforceMode("monitor"))}, auth)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, put.StatusCode(), string(put.Body))
	require.NoError(t, p.stop())

	p = start(t, "sentinel", dir, env)
	require.Equal(t, http.StatusOK, send(t, "127.0.0.2", p.URL+"/v1/models", wiredKey), "monitor mode from the first request")
}
