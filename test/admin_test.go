package test

import (
	"context"
	"encoding/csv"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/adminapi"
	"github.com/keyipsentinel/sentinel/adapters/clock"
	"github.com/keyipsentinel/sentinel/adapters/localcache"
	"github.com/keyipsentinel/sentinel/adapters/memory"
	"github.com/keyipsentinel/sentinel/adapters/postgres"
	"github.com/keyipsentinel/sentinel/adapters/sqlite"
	"github.com/keyipsentinel/sentinel/adapters/valkey"
	"github.com/keyipsentinel/sentinel/adminclient"
	"github.com/keyipsentinel/sentinel/test/testenv"
)

const (
	adminPassword = "correct horse battery staple"
	adminSecret   = "0123456789abcdef0123456789abcdef-admin"
	adminKey      = "sk-AdminTestKey0123456789abcdefghijklmnopqrstuvwx"
)

// adminEnv is an admin API on a SQLite file, served over real HTTP.
type adminEnv struct {
	srv        *adminapi.Server
	url        string
	clock      *clock.Manual
	manual     bool // the login counter follows clock (else Valkey's time)
	lockout    time.Duration
	hasher     *sentinel.Hasher
	bindings   sentinel.BindingStore
	intercepts sentinel.InterceptStore
	live       *sentinel.LiveSettings
	daily      sentinel.DailyCounter
	client     *adminclient.ClientWithResponses
	stores     adminStores
}

func defaultSettings() sentinel.Settings {
	return sentinel.Settings{EnforceMode: sentinel.ModeEnforce, FailsafeMode: sentinel.FailsafeClosed,
		AlertThresholdCount: 5, AlertWindow: 300 * time.Second, ArchiveDays: 90}
}

// adminStores are the ports an admin API runs on.
type adminStores struct {
	authority  sentinel.BindingStore
	bindings   sentinel.BindingStore // the cache chain the proxies read
	report     sentinel.BindingReport
	intercepts interface {
		sentinel.InterceptStore
		sentinel.InterceptReport
	}
	audit    sentinel.AuditStore
	settings sentinel.SettingsStore
	notifier sentinel.SettingsNotifier
	daily    sentinel.DailyCounter
	logins   sentinel.WindowCounter
	lockout  time.Duration
	archive  sentinel.ArchiveStore
}

// eachBackend runs test on the embedded default (SQLite, in-process
// counters, manual clock) and on PostgreSQL + Valkey.
func eachBackend(t *testing.T, test func(t *testing.T, e *adminEnv)) {
	t.Run("sqlite", func(t *testing.T) { test(t, newAdminEnv(t, "sqlite")) })
	t.Run("postgres+valkey", func(t *testing.T) { test(t, newAdminEnv(t, "postgres")) })
}

func openAdminStores(t *testing.T, backend string, clk *clock.Manual) adminStores {
	t.Helper()
	ctx := context.Background()
	if backend == "sqlite" {
		db := openSQLite(t, filepath.Join(t.TempDir(), "sentinel.db"))
		auth := sqlite.NewBindingStore(db)
		return adminStores{authority: auth, bindings: localcache.New(auth, localcache.Options{}), report: auth,
			intercepts: sqlite.NewInterceptStore(db), audit: sqlite.NewAuditStore(db),
			settings: sealed(t, sqlite.NewSettingsStore(db)), notifier: memory.NewSettingsNotifier(),
			daily: memory.NewDailyCounter(), logins: memory.NewWindowCounter(clk), lockout: time.Minute,
			archive: sqlite.NewArchiveStore(db)}
	}
	dsn := testenv.Postgres(t)
	redisAddr, _ := testenv.Redis(t)
	db, err := postgres.Open(ctx, dsn, postgres.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	_, err = db.Migrate(ctx)
	require.NoError(t, err)
	c, err := valkey.Connect(valkey.Options{Addr: redisAddr, Prefix: testenv.Unique("t") + ":"})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	auth := postgres.NewBindingStore(db)
	return adminStores{authority: auth, bindings: valkey.NewBindingStore(c, auth, time.Hour), report: auth,
		intercepts: postgres.NewInterceptStore(db), audit: postgres.NewAuditStore(db),
		settings: sealed(t, postgres.NewSettingsStore(db)), notifier: valkey.NewSettingsNotifier(c),
		daily: valkey.NewDailyCounter(c, 40), logins: valkey.NewWindowCounter(c), lockout: time.Second,
		archive: postgres.NewArchiveStore(db)}
}

// newAdminEnv serves the admin API on backend's stores; with, when given,
// adds options (the archiver, the webhook sender) over those stores.
func newAdminEnv(t *testing.T, backend string, with ...func(*adminapi.Options, adminStores)) *adminEnv {
	t.Helper()
	hasher, err := sentinel.NewHasher([]byte("0123456789abcdef0123456789abcdef"))
	require.NoError(t, err)
	live, err := sentinel.NewLiveSettings(defaultSettings())
	require.NoError(t, err)
	clk := clock.NewManual(time.Now().UTC())
	st := openAdminStores(t, backend, clk)
	follower := sentinel.NewSettingsFollower(sentinel.SettingsFollowerOptions{
		Store: st.settings, Notifier: st.notifier, Live: live, Defaults: defaultSettings()})
	e := &adminEnv{stores: st, clock: clk, hasher: hasher, live: live, daily: st.daily, bindings: st.bindings,
		intercepts: st.intercepts, manual: backend == "sqlite", lockout: st.lockout}
	opts := adminapi.Options{
		Bindings: st.bindings, BindingReport: st.report,
		Intercepts: st.intercepts, InterceptReport: st.intercepts, Audit: st.audit,
		Settings: st.settings, Follower: follower, Notifier: st.notifier, Daily: st.daily,
		Logins: st.logins, Hasher: hasher,
		Password: adminPassword, JWTSecret: []byte(adminSecret), SessionTTL: time.Hour,
		LoginMaxFailures: 3, LoginLockout: st.lockout, Clock: clk,
	}
	for _, f := range with {
		f(&opts, st)
	}
	srv, err := adminapi.New(opts)
	require.NoError(t, err)
	e.srv = srv
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	e.url = hs.URL
	e.client, err = adminclient.NewClientWithResponses(hs.URL)
	require.NoError(t, err)
	return e
}

func bearer(tok string) adminclient.RequestEditorFn {
	return func(_ context.Context, r *http.Request) error {
		r.Header.Set("Authorization", "Bearer "+tok)
		return nil
	}
}

func (e *adminEnv) login(t *testing.T) adminclient.RequestEditorFn {
	t.Helper()
	res, err := e.client.LoginWithResponse(t.Context(), adminclient.LoginJSONRequestBody{Password: adminPassword})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode(), string(res.Body))
	require.Equal(t, "bearer", string(res.JSON200.TokenType))
	require.EqualValues(t, 3600, res.JSON200.ExpiresIn)
	return bearer(res.JSON200.AccessToken)
}

// bind stores a binding of key from addr, as a first use would.
func (e *adminEnv) bind(t *testing.T, key, addr string) sentinel.Binding {
	t.Helper()
	tok := sentinel.NormalizeToken(key)
	a := netip.MustParseAddr(addr)
	now := time.Now().UTC()
	b, created, err := e.bindings.CreateBinding(t.Context(), sentinel.Binding{
		Key: e.hasher.Hash(tok), Hint: sentinel.Hint(key), Rule: sentinel.SingleRule(netip.PrefixFrom(a, a.BitLen())),
		Status: sentinel.StatusActive, FirstIP: a, LastIP: a, CreatedAt: now, UpdatedAt: now, LastUsedAt: now})
	require.NoError(t, err)
	require.True(t, created)
	return b
}

func TestAdminLogin(t *testing.T) { eachBackend(t, testAdminLogin) }

func testAdminLogin(t *testing.T, e *adminEnv) {
	ctx := t.Context()
	wrong := adminclient.LoginJSONRequestBody{Password: "wrong"}

	res, err := e.client.LoginWithResponse(ctx, wrong)
	require.NoError(t, err)
	require.Equal(t, http.StatusUnauthorized, res.StatusCode())
	require.NotNil(t, res.ApplicationproblemJSON401)

	// A success clears the count: two more failures do not lock out.
	e.login(t)
	for range 2 {
		res, err = e.client.LoginWithResponse(ctx, wrong)
		require.NoError(t, err)
		require.Equal(t, http.StatusUnauthorized, res.StatusCode())
	}
	// The third failure in a row locks the address out, even for the
	// right password, with Retry-After.
	res, err = e.client.LoginWithResponse(ctx, wrong)
	require.NoError(t, err)
	require.Equal(t, http.StatusTooManyRequests, res.StatusCode())
	require.Equal(t, strconv.Itoa(int(e.lockout/time.Second)), res.HTTPResponse.Header.Get("Retry-After"))
	res, err = e.client.LoginWithResponse(ctx, adminclient.LoginJSONRequestBody{Password: adminPassword})
	require.NoError(t, err)
	require.Equal(t, http.StatusTooManyRequests, res.StatusCode())
	require.Equal(t, adminapi.LoginStats{Failures: 4, Lockouts: 1}, e.srv.Stats(), "counted for metrics")
	if !e.manual {
		// Valkey expires the lockout by its own clock: poll for the release.
		deadline := time.Now().Add(5 * time.Second)
		for res.StatusCode() == http.StatusTooManyRequests && time.Now().Before(deadline) {
			res, err = e.client.LoginWithResponse(ctx, adminclient.LoginJSONRequestBody{Password: adminPassword})
			require.NoError(t, err)
		}
		require.Equal(t, http.StatusOK, res.StatusCode(), "released after the lockout")
		return
	}
	e.clock.Advance(45 * time.Second)
	res, err = e.client.LoginWithResponse(ctx, adminclient.LoginJSONRequestBody{Password: adminPassword})
	require.NoError(t, err)
	require.Equal(t, http.StatusTooManyRequests, res.StatusCode())
	require.Equal(t, "15", res.HTTPResponse.Header.Get("Retry-After"))

	// Released after the lockout period.
	e.clock.Advance(16 * time.Second)
	auth := e.login(t)
	s, err := e.client.GetSessionWithResponse(ctx, auth)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, s.StatusCode())
	require.Len(t, s.JSON200.SessionId, 32)
	require.Equal(t, "127.0.0.1", s.JSON200.ClientIp)
}

func TestAdminConcurrentGuessesAreBounded(t *testing.T) {
	eachBackend(t, testAdminConcurrentGuessesAreBounded)
}

// testAdminConcurrentGuessesAreBounded: guesses sent at once cannot slip
// past the lockout while it is being set: no more than the allowed
// failures get their password compared (answered 401); every other
// guess is refused with 429 without a comparison.
func testAdminConcurrentGuessesAreBounded(t *testing.T, e *adminEnv) {
	const guesses = 24
	codes := make(chan int, guesses)
	var wg sync.WaitGroup
	for range guesses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := e.client.LoginWithResponse(t.Context(), adminclient.LoginJSONRequestBody{Password: "wrong"})
			if err != nil {
				codes <- 0
				return
			}
			codes <- res.StatusCode()
		}()
	}
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	require.LessOrEqual(t, count[http.StatusUnauthorized], 2, "at most LoginMaxFailures-1 guesses compared and refused as wrong: %v", count)
	require.Equal(t, guesses, count[http.StatusUnauthorized]+count[http.StatusTooManyRequests], "%v", count)
}

func TestAdminRejectsBadTokens(t *testing.T) { eachBackend(t, testAdminRejectsBadTokens) }

func testAdminRejectsBadTokens(t *testing.T, e *adminEnv) {
	now := e.clock.Now()
	claims := func(exp time.Time) jwt.RegisteredClaims {
		return jwt.RegisteredClaims{Issuer: "key-ip-sentinel", Audience: jwt.ClaimStrings{"sentinel-admin"},
			ID: "abc", IssuedAt: jwt.NewNumericDate(now.Add(-time.Minute)), ExpiresAt: jwt.NewNumericDate(exp)}
	}
	sign := func(secret string, c jwt.Claims) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(secret))
		require.NoError(t, err)
		return s
	}
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims(now.Add(time.Hour))).SignedString(jwt.UnsafeAllowNoneSignatureType)
	require.NoError(t, err)
	hs512, err := jwt.NewWithClaims(jwt.SigningMethodHS512, claims(now.Add(time.Hour))).SignedString([]byte(adminSecret))
	require.NoError(t, err)
	noExp := claims(now)
	noExp.ExpiresAt = nil
	otherAud := claims(now.Add(time.Hour))
	otherAud.Audience = jwt.ClaimStrings{"new-api-dashboard"}

	// The good token is a real login's: sessions also carry a mark of the
	// password they were opened with, which a hand-made token lacks.
	logged, err := e.client.LoginWithResponse(t.Context(), adminclient.LoginJSONRequestBody{Password: adminPassword})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, logged.StatusCode())
	good := logged.JSON200.AccessToken
	tokens := map[string]string{
		"no password mark": sign(adminSecret, claims(now.Add(time.Hour))),
		"missing":          "",
		"other secret":     sign("another-secret-another-secret-0000", claims(now.Add(time.Hour))),
		"alg none":         none,
		"alg HS512":        hs512,
		"expired":          sign(adminSecret, claims(now.Add(-time.Second))),
		"no expiry":        sign(adminSecret, noExp),
		"other aud":        sign(adminSecret, otherAud),
		"garbage":          "not.a.jwt",
	}
	ctx := t.Context()
	b := e.bind(t, adminKey, "203.0.113.7")
	id := b.Key.String()
	routes := map[string]func(ed adminclient.RequestEditorFn) (int, error){
		"session": func(ed adminclient.RequestEditorFn) (int, error) {
			r, err := e.client.GetSessionWithResponse(ctx, ed)
			return code(r, err)
		},
		"list bindings": func(ed adminclient.RequestEditorFn) (int, error) {
			r, err := e.client.ListBindingsWithResponse(ctx, &adminclient.ListBindingsParams{}, ed)
			return code(r, err)
		},
		"get binding": func(ed adminclient.RequestEditorFn) (int, error) {
			r, err := e.client.GetBindingWithResponse(ctx, id, ed)
			return code(r, err)
		},
		"lookup": func(ed adminclient.RequestEditorFn) (int, error) {
			r, err := e.client.LookupBindingWithResponse(ctx, adminclient.LookupBindingJSONRequestBody{Key: adminKey}, ed)
			return code(r, err)
		},
		"unbind": func(ed adminclient.RequestEditorFn) (int, error) {
			r, err := e.client.UnbindWithResponse(ctx, adminclient.UnbindJSONRequestBody{Id: id}, ed)
			return code(r, err)
		},
		"set rule": func(ed adminclient.RequestEditorFn) (int, error) {
			r, err := e.client.SetBindingRuleWithResponse(ctx, adminclient.SetBindingRuleJSONRequestBody{Id: id,
				Rule: adminclient.RuleInput{Kind: "all"}}, ed)
			return code(r, err)
		},
		"ban": func(ed adminclient.RequestEditorFn) (int, error) {
			r, err := e.client.BanWithResponse(ctx, adminclient.BanJSONRequestBody{Id: id}, ed)
			return code(r, err)
		},
		"unban": func(ed adminclient.RequestEditorFn) (int, error) {
			r, err := e.client.UnbanWithResponse(ctx, adminclient.UnbanJSONRequestBody{Id: id}, ed)
			return code(r, err)
		},
		"logs": func(ed adminclient.RequestEditorFn) (int, error) {
			r, err := e.client.ListLogsWithResponse(ctx, &adminclient.ListLogsParams{}, ed)
			return code(r, err)
		},
		"export": func(ed adminclient.RequestEditorFn) (int, error) {
			r, err := e.client.ExportLogsWithResponse(ctx, &adminclient.ExportLogsParams{}, ed)
			return code(r, err)
		},
		"dashboard": func(ed adminclient.RequestEditorFn) (int, error) {
			r, err := e.client.GetDashboardWithResponse(ctx, &adminclient.GetDashboardParams{}, ed)
			return code(r, err)
		},
		"get settings": func(ed adminclient.RequestEditorFn) (int, error) {
			r, err := e.client.GetSettingsWithResponse(ctx, ed)
			return code(r, err)
		},
		"put settings": func(ed adminclient.RequestEditorFn) (int, error) {
			r, err := e.client.PutSettingsWithResponse(ctx, adminclient.PutSettingsJSONRequestBody{}, ed)
			return code(r, err)
		},
		"audit": func(ed adminclient.RequestEditorFn) (int, error) {
			r, err := e.client.ListAuditWithResponse(ctx, &adminclient.ListAuditParams{}, ed)
			return code(r, err)
		},
	}
	for route, call := range routes {
		for name, tok := range tokens {
			t.Run(route+"/"+name, func(t *testing.T) {
				ed := bearer(tok)
				if tok == "" {
					ed = func(context.Context, *http.Request) error { return nil }
				}
				status, err := call(ed)
				require.NoError(t, err)
				require.Equal(t, http.StatusUnauthorized, status)
			})
		}
	}
	// Nothing changed, and the right token works.
	got, err := e.bindings.FindBinding(ctx, b.Key)
	require.NoError(t, err)
	require.Equal(t, b.Version, got.Version)
	status, err := routes["session"](bearer(good))
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status)
	e.clock.Advance(time.Hour)
	status, err = routes["session"](bearer(good))
	require.NoError(t, err)
	require.Equal(t, http.StatusUnauthorized, status, "a session expires with the manual clock")
}

type statusCoder interface{ StatusCode() int }

func code(r statusCoder, err error) (int, error) {
	if err != nil {
		return 0, err
	}
	return r.StatusCode(), nil
}

func TestAdminBindingsLifecycle(t *testing.T) { eachBackend(t, testAdminBindingsLifecycle) }

func testAdminBindingsLifecycle(t *testing.T, e *adminEnv) {
	ctx := t.Context()
	auth := e.login(t)
	b := e.bind(t, adminKey, "203.0.113.7")
	e.bind(t, "sk-OtherKey0123456789abcdefghijklmnopqrstuvwxyzAB", "198.51.100.9")
	id := b.Key.String()

	list, err := e.client.ListBindingsWithResponse(ctx, &adminclient.ListBindingsParams{Ip: ptr("203.0.113.0/24")}, auth)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, list.StatusCode(), string(list.Body))
	require.EqualValues(t, 1, list.JSON200.Total)
	require.Equal(t, id, list.JSON200.Items[0].Id)
	require.Equal(t, "sk-Admi…uvwx", list.JSON200.Items[0].KeyHint)
	require.NotContains(t, string(list.Body), "AdminTestKey")

	for _, pasted := range []string{adminKey, "Bearer " + adminKey, adminKey + "-7", "sk-admintestkey0123456789ABCDEFGHIJKLMNOPQRSTUVWX"} {
		res, err := e.client.LookupBindingWithResponse(ctx, adminclient.LookupBindingJSONRequestBody{Key: pasted}, auth)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, res.StatusCode(), string(res.Body))
		require.Equal(t, id, res.JSON200.Id)
	}
	res, err := e.client.LookupBindingWithResponse(ctx, adminclient.LookupBindingJSONRequestBody{Key: "sk-NeverSeen0123456789"}, auth)
	require.NoError(t, err)
	require.Equal(t, http.StatusNotFound, res.StatusCode())

	set, err := e.client.SetBindingRuleWithResponse(ctx, adminclient.SetBindingRuleJSONRequestBody{Id: id,
		Rule: adminclient.RuleInput{Kind: "single", Prefixes: &[]string{"203.0.113.0/24"}}}, auth)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, set.StatusCode(), string(set.Body))
	require.Equal(t, []string{"203.0.113.0/24"}, set.JSON200.Rule.Prefixes)
	got, err := e.bindings.FindBinding(ctx, b.Key)
	require.NoError(t, err)
	require.True(t, got.Rule.Allows(netip.MustParseAddr("203.0.113.200")))

	ban, err := e.client.BanWithResponse(ctx, adminclient.BanJSONRequestBody{Id: id}, auth)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, ban.StatusCode())
	require.Equal(t, "banned", string(ban.JSON200.Status))
	got, err = e.bindings.FindBinding(ctx, b.Key)
	require.NoError(t, err)
	require.Equal(t, sentinel.StatusBanned, got.Status, "the cache heard the ban")
	unban, err := e.client.UnbanWithResponse(ctx, adminclient.UnbanJSONRequestBody{Id: id}, auth)
	require.NoError(t, err)
	require.Equal(t, "active", string(unban.JSON200.Status))

	ub, err := e.client.UnbindWithResponse(ctx, adminclient.UnbindJSONRequestBody{Id: id}, auth)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, ub.StatusCode(), string(ub.Body))
	_, err = e.bindings.FindBinding(ctx, b.Key)
	require.Equal(t, sentinel.ENOTFOUND, sentinel.ErrorCode(err))
	gb, err := e.client.GetBindingWithResponse(ctx, id, auth)
	require.NoError(t, err)
	require.Equal(t, http.StatusNotFound, gb.StatusCode())

	audit, err := e.client.ListAuditWithResponse(ctx, &adminclient.ListAuditParams{}, auth)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, audit.StatusCode(), string(audit.Body))
	var actions []string
	for _, a := range audit.JSON200.Items {
		actions = append(actions, string(a.Action))
		require.Equal(t, id, a.BindingId)
		require.Equal(t, "127.0.0.1", a.ClientIp)
		require.Len(t, a.SessionId, 32)
	}
	require.Equal(t, []string{"unbind", "unban", "ban", "set_rule"}, actions)
	first := audit.JSON200.Items[3]
	require.Equal(t, "203.0.113.7", first.Before.(map[string]any)["rule"].(map[string]any)["prefixes"].([]any)[0])
	require.Equal(t, "203.0.113.0/24", first.After.(map[string]any)["rule"].(map[string]any)["prefixes"].([]any)[0])
	require.Nil(t, audit.JSON200.Items[0].After)
}

func ptr[T any](v T) *T { return &v }

func TestAdminBadInput(t *testing.T) { eachBackend(t, testAdminBadInput) }

func testAdminBadInput(t *testing.T, e *adminEnv) {
	auth := e.login(t)
	b := e.bind(t, adminKey, "203.0.113.7")
	id := b.Key.String()
	ctx := t.Context()
	type call func() (statusCoder, error)
	rule := func(r adminclient.RuleInput) call {
		return func() (statusCoder, error) {
			return e.client.SetBindingRuleWithResponse(ctx, adminclient.SetBindingRuleJSONRequestBody{Id: id, Rule: r}, auth)
		}
	}
	raw := func(method, path, body string) call {
		return func() (statusCoder, error) {
			req, err := http.NewRequestWithContext(ctx, method, e.url+path, strings.NewReader(body))
			if err != nil {
				return nil, err
			}
			req.Header.Set("Content-Type", "application/json")
			_ = auth(ctx, req)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				return nil, err
			}
			return adminclient.ParseGetSessionResponse(res)
		}
	}
	since, until := time.Now(), time.Now().Add(-time.Hour)
	cases := []struct {
		name   string
		call   call
		status int
		field  string
	}{
		{"unknown rule kind", rule(adminclient.RuleInput{Kind: "everyone"}), 422, "body.rule.kind"},
		{"malformed CIDR", rule(adminclient.RuleInput{Kind: "single", Prefixes: &[]string{"10.0.0.0/33"}}), 422, "body.rule.prefixes[0]"},
		{"single with two", rule(adminclient.RuleInput{Kind: "single", Prefixes: &[]string{"10.0.0.1", "10.0.0.2"}}), 422, "body.rule.prefixes"},
		{"all with one", rule(adminclient.RuleInput{Kind: "all", Prefixes: &[]string{"10.0.0.1"}}), 422, "body.rule.prefixes"},
		{"learn limit 1", rule(adminclient.RuleInput{Kind: "learn", Limit: ptr[int64](1)}), 422, "body.rule.limit"},
		{"multiple empty", rule(adminclient.RuleInput{Kind: "multiple"}), 422, "body.rule.prefixes"},
		{"bad id", func() (statusCoder, error) {
			return e.client.BanWithResponse(ctx, adminclient.BanJSONRequestBody{Id: "xyz"}, auth)
		}, 422, "body.id"},
		{"unknown id", func() (statusCoder, error) {
			return e.client.BanWithResponse(ctx, adminclient.BanJSONRequestBody{Id: strings.Repeat("a", 64)}, auth)
		}, 404, ""},
		{"wrong type", raw("PUT", "/admin/api/bindings/ip", `{"id":"`+id+`","rule":{"kind":"all","limit":"x"}}`), 422, "body.rule.limit"},
		{"page_size 0", func() (statusCoder, error) {
			return e.client.ListBindingsWithResponse(ctx, &adminclient.ListBindingsParams{PageSize: ptr[int64](0)}, auth)
		}, 422, "query.page_size"},
		{"page_size 10000", func() (statusCoder, error) {
			return e.client.ListLogsWithResponse(ctx, &adminclient.ListLogsParams{PageSize: ptr[int64](10000)}, auth)
		}, 422, "query.page_size"},
		{"bad ip filter", func() (statusCoder, error) {
			return e.client.ListBindingsWithResponse(ctx, &adminclient.ListBindingsParams{Ip: ptr("300.1.1.1")}, auth)
		}, 422, "query.ip"},
		{"bad status", raw("GET", "/admin/api/bindings?status=gone", ""), 422, "query.status"},
		{"since after until", func() (statusCoder, error) {
			return e.client.ListLogsWithResponse(ctx, &adminclient.ListLogsParams{Since: &since, Until: &until}, auth)
		}, 422, "query.until"},
		{"audit since after until", func() (statusCoder, error) {
			return e.client.ListAuditWithResponse(ctx, &adminclient.ListAuditParams{Since: &since, Until: &until}, auth)
		}, 422, "query.until"},
		{"days 9", raw("GET", "/admin/api/dashboard?days=9", ""), 422, "query.days"},
		{"bad enforce mode", raw("PUT", "/admin/api/settings", `{"enforce_mode":"sometimes"}`), 422, "body.enforce_mode"},
		{"threshold 0", raw("PUT", "/admin/api/settings", `{"alert_threshold_count":0}`), 422, "body.alert_threshold_count"},
		{"bad webhook", raw("PUT", "/admin/api/settings", `{"alert_webhook_url":"ftp://x"}`), 422, "body.alert_webhook_url"},
		{"unknown field", raw("PUT", "/admin/api/settings", `{"enforce":"monitor"}`), 422, "body.enforce"},
		{"key in query", raw("GET", "/admin/api/bindings?key="+adminKey, ""), 400, "query.key"},
		{"key in login query", raw("POST", "/admin/api/login?key=x", `{"password":"x"}`), 400, "query.key"},
		{"empty lookup", func() (statusCoder, error) {
			return e.client.LookupBindingWithResponse(ctx, adminclient.LookupBindingJSONRequestBody{Key: " "}, auth)
		}, 422, "body.key"},
		{"empty password", func() (statusCoder, error) {
			return e.client.LoginWithResponse(ctx, adminclient.LoginJSONRequestBody{Password: ""})
		}, 422, "body.password"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := c.call()
			require.NoError(t, err)
			body := string(reflect.ValueOf(res).Elem().FieldByName("Body").Bytes())
			require.Equal(t, c.status, res.StatusCode(), body)
			if c.field != "" {
				require.Contains(t, body, `"location":"`+c.field+`"`)
			}
		})
	}
	got, err := e.bindings.FindBinding(ctx, b.Key)
	require.NoError(t, err)
	require.Equal(t, b.Version, got.Version, "nothing changed")
	s, err := e.client.GetSettingsWithResponse(ctx, auth)
	require.NoError(t, err)
	require.Equal(t, "enforce", string(s.JSON200.EnforceMode))
}

func TestAdminSettings(t *testing.T) { eachBackend(t, testAdminSettings) }

func testAdminSettings(t *testing.T, e *adminEnv) {
	auth := e.login(t)
	ctx := t.Context()
	put, err := e.client.PutSettingsWithResponse(ctx, adminclient.PutSettingsJSONRequestBody{
		EnforceMode:     ptr(adminclient.PutSettingsInputBodyEnforceMode("monitor")),
		AlertWebhookUrl: ptr("https://hooks.example.com/services/T000/SECRET-TOKEN"),
	}, auth)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, put.StatusCode(), string(put.Body))
	require.NotContains(t, string(put.Body), "SECRET-TOKEN")
	require.Equal(t, sentinel.ModeMonitor, e.live.Load().EnforceMode, "this process took the change at once")
	require.Equal(t, "https://hooks.example.com/services/T000/SECRET-TOKEN", e.live.Load().AlertWebhookURL)

	get, err := e.client.GetSettingsWithResponse(ctx, auth)
	require.NoError(t, err)
	require.Equal(t, "monitor", string(get.JSON200.EnforceMode))
	require.True(t, get.JSON200.AlertWebhookSet)
	require.Equal(t, "hooks.example.com", get.JSON200.AlertWebhookHost)
	require.EqualValues(t, 300, get.JSON200.AlertThresholdSeconds, "fields never set follow the environment")
	require.NotContains(t, string(get.Body), "SECRET-TOKEN")

	audit, err := e.client.ListAuditWithResponse(ctx, &adminclient.ListAuditParams{}, auth)
	require.NoError(t, err)
	require.Len(t, audit.JSON200.Items, 1)
	require.Equal(t, "settings", string(audit.JSON200.Items[0].Action))
	require.NotContains(t, string(audit.Body), "SECRET-TOKEN")
}

func TestAdminLogsAndDashboard(t *testing.T) { eachBackend(t, testAdminLogsAndDashboard) }

func testAdminLogsAndDashboard(t *testing.T, e *adminEnv) {
	auth := e.login(t)
	ctx := t.Context()
	b := e.bind(t, adminKey, "203.0.113.7")
	now := time.Now().UTC()
	var is []sentinel.Intercept
	for n := range 5 {
		is = append(is, sentinel.Intercept{Key: b.Key, Hint: b.Hint, ClientIP: netip.MustParseAddr("198.51.100.23"),
			Reason: sentinel.ReasonIPNotAllowed, Enforced: true, Method: "POST", Path: "/v1/chat/completions",
			UserAgent: "t", At: now.Add(-time.Duration(n) * time.Minute)})
	}
	is = append(is, sentinel.Intercept{Key: b.Key, Hint: b.Hint, ClientIP: netip.MustParseAddr("192.0.2.1"),
		Reason: sentinel.ReasonIPNotAllowed, Enforced: true, Method: "GET", Path: `=HYPERLINK("x")`, UserAgent: "@evil", At: now})
	require.NoError(t, e.intercepts.AddIntercepts(ctx, is))

	logs, err := e.client.ListLogsWithResponse(ctx, &adminclient.ListLogsParams{Ip: ptr("198.51.100.0/24"), PageSize: ptr[int64](2)}, auth)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, logs.StatusCode(), string(logs.Body))
	require.EqualValues(t, 5, logs.JSON200.Total)
	require.Len(t, logs.JSON200.Items, 2)

	exp, err := e.client.ExportLogsWithResponse(ctx, &adminclient.ExportLogsParams{}, auth)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, exp.StatusCode())
	require.Contains(t, exp.HTTPResponse.Header.Get("Content-Type"), "text/csv")
	rows, err := csv.NewReader(strings.NewReader(string(exp.Body))).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 7)
	require.Equal(t, "id", rows[0][0])
	require.Equal(t, `'=HYPERLINK("x")`, rows[1][8])
	require.Equal(t, "'@evil", rows[1][9])

	// Proxy-fed counts, through the Tally.
	tally := sentinel.NewTally(e.daily, sentinel.TallyOptions{Clock: e.clock})
	for range 7 {
		tally.Allowed()
	}
	for range 3 {
		tally.Refused()
	}
	tally.NewBinding()
	require.NoError(t, tally.Flush(ctx))
	d, err := e.client.GetDashboardWithResponse(ctx, &adminclient.GetDashboardParams{}, auth)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, d.StatusCode(), string(d.Body))
	assert.Equal(t, adminclient.DayCounts{Allowed: 7, Refused: 3, NewBindings: 1}, d.JSON200.Today)
	assert.Len(t, d.JSON200.Series, 7)
	assert.EqualValues(t, 1, d.JSON200.Bindings.Total)
	assert.EqualValues(t, 1, d.JSON200.Bindings.ByRule["single"])
	require.Len(t, d.JSON200.TopRefusedKeys, 1)
	assert.EqualValues(t, 6, d.JSON200.TopRefusedKeys[0].Count)
	require.Len(t, d.JSON200.TopRefusedIps, 2)
	assert.Equal(t, "198.51.100.23", d.JSON200.TopRefusedIps[0].Ip)
}

func TestAdminErrorsNeverEchoSecrets(t *testing.T) { eachBackend(t, testAdminErrorsNeverEchoSecrets) }

// testAdminErrorsNeverEchoSecrets: a refused admin request's problem body
// names the bad field but never repeats its value, which may be the
// password, a pasted key or a webhook URL with its token.
func testAdminErrorsNeverEchoSecrets(t *testing.T, e *adminEnv) {
	edit := e.login(t)
	const secret = "TopSecretValue0123456789abcdefghij"
	long := "sk-" + secret + strings.Repeat("x", 600)
	for _, c := range []struct{ name, method, path, body string }{
		{"malformed login body", http.MethodPost, "/admin/api/login", `{"password": "` + secret},
		{"login password of a wrong type", http.MethodPost, "/admin/api/login", `{"password": ["` + secret + `"]}`},
		{"over-long lookup key", http.MethodPost, "/admin/api/bindings/lookup", `{"key": "` + long + `"}`},
		{"malformed lookup body", http.MethodPost, "/admin/api/bindings/lookup", `{"key": "` + secret + `", }`},
		{"bad webhook URL", http.MethodPut, "/admin/api/settings", `{"alert_webhook_url": "ftp://h/` + secret + `"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), c.method, e.url+c.path, strings.NewReader(c.body))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			require.NoError(t, edit(t.Context(), req))
			res, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer res.Body.Close()
			b, err := io.ReadAll(res.Body)
			require.NoError(t, err)
			require.GreaterOrEqual(t, res.StatusCode, 400, string(b))
			require.NotContains(t, string(b), secret)
		})
	}
}

// sealed wraps a settings store as the binaries do: the webhook URL is
// stored encrypted.
func sealed(t *testing.T, s sentinel.SettingsStore) sentinel.SettingsStore {
	t.Helper()
	ss, err := sentinel.SealSettings(s, []byte("0123456789abcdef0123456789abcdef"))
	require.NoError(t, err)
	return ss
}
