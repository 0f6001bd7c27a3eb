package webhook_test

import (
	"context"
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/clock"
	"github.com/keyipsentinel/sentinel/adapters/memory"
	"github.com/keyipsentinel/sentinel/adapters/postgres"
	"github.com/keyipsentinel/sentinel/adapters/valkey"
	"github.com/keyipsentinel/sentinel/adapters/webhook"
	"github.com/keyipsentinel/sentinel/sentineltest"
	"github.com/keyipsentinel/sentinel/test/testenv"
)

// proxyProcess is what one proxy process holds for alerts: its own
// counter client, alert service and notifier.
type proxyProcess struct {
	alerts   *sentinel.AlertService
	notifier *webhook.Notifier
}

func liveSettings(t *testing.T, url string, threshold int, window time.Duration) *sentinel.LiveSettings {
	t.Helper()
	l, err := sentinel.NewLiveSettings(sentinel.Settings{
		EnforceMode: sentinel.ModeEnforce, FailsafeMode: sentinel.FailsafeClosed,
		AlertThresholdCount: threshold, AlertWindow: window, AlertWebhookURL: url, ArchiveDays: 90,
	})
	require.NoError(t, err)
	return l
}

// TestOneAlertPerWindowAcrossProcesses: two proxy processes share one
// PostgreSQL (where the bound rule is read from) and one Valkey; refusals of one key alternate between them; exactly one alert
// reaches the receiver per window, carrying the tally of both.
func TestOneAlertPerWindowAcrossProcesses(t *testing.T) {
	addr, prefix := testenv.Redis(t)
	db, err := postgres.Open(context.Background(), testenv.Postgres(t), postgres.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	_, err = db.Migrate(context.Background())
	require.NoError(t, err)
	bindings := postgres.NewBindingStore(db)
	rcv := newReceiver(t, nil)
	clk := clock.NewManual(time.Date(2026, 12, 1, 9, 0, 1, 0, time.UTC))
	settings := liveSettings(t, rcv.srv.URL+"/hook", 5, time.Minute)
	var key sentinel.KeyHash
	key[0] = 7
	b := sentineltest.NewBinding(t, key, "203.0.113.7")
	_, _, err = bindings.CreateBinding(context.Background(), b)
	require.NoError(t, err)
	var procs []proxyProcess
	for range 2 {
		c, err := valkey.Connect(valkey.Options{Addr: addr, Prefix: prefix})
		require.NoError(t, err)
		t.Cleanup(c.Close)
		n := webhook.New(webhook.Options{Settings: settings, AllowPrivate: true, Secret: "s3cret", Clock: clk})
		s := sentinel.NewAlertService(valkey.NewAlertCounter(c), n, settings,
			sentinel.AlertServiceOptions{Clock: clk, PublicURL: "https://sentinel.example.com/", Bindings: bindings})
		procs = append(procs, proxyProcess{alerts: s, notifier: n})
	}
	refuse := func(i int, ip string) {
		p := procs[i%2]
		p.alerts.Refused(sentinel.Intercept{Key: key, Hint: "sk-ab…yz", ClientIP: netip.MustParseAddr(ip),
			Reason: sentinel.ReasonIPNotAllowed, Enforced: true, At: clk.Now()})
		p.alerts.Process(context.Background())
		clk.Advance(time.Second)
	}
	for i := range 12 { // 12 refusals in the first window, threshold 5
		ip := "198.51.100.1"
		if i%3 == 0 {
			ip = "198.51.100.2"
		}
		refuse(i, ip)
	}
	for _, p := range procs {
		require.Zero(t, p.notifier.Drain(context.Background()))
	}
	got := rcv.requests()
	require.Len(t, got, 1, "one alert for the window, not one per process or per refusal")
	var body struct {
		Event     string                      `json:"event"`
		Hint      string                      `json:"key_hint"`
		Rule      struct{ Kind, Spec string } `json:"rule"`
		BindingID string                      `json:"binding_id"`
		Count     int64                       `json:"count"`
		IPs       []struct {
			IP    string `json:"ip"`
			Count int64  `json:"count"`
		} `json:"ips"`
		Window struct{ Start, End time.Time } `json:"window"`
		First  time.Time                      `json:"first_refusal_at"`
		Last   time.Time                      `json:"last_refusal_at"`
		Link   string                         `json:"console_url"`
	}
	require.NoError(t, json.Unmarshal(got[0].Body, &body))
	assert.Equal(t, sentinel.AlertEventRefusals, body.Event)
	assert.Equal(t, key.String(), body.BindingID)
	assert.Equal(t, "sk-ab…yz", body.Hint)
	assert.Equal(t, "single", body.Rule.Kind)
	assert.Equal(t, "203.0.113.7", body.Rule.Spec)
	assert.EqualValues(t, 5, body.Count, "the fifth refusal, in either process, raises it")
	require.Len(t, body.IPs, 2)
	assert.Equal(t, "198.51.100.1", body.IPs[0].IP)
	assert.EqualValues(t, 3, body.IPs[0].Count)
	assert.EqualValues(t, 2, body.IPs[1].Count)
	assert.Equal(t, time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC), body.Window.Start)
	assert.Equal(t, time.Date(2026, 12, 1, 9, 1, 0, 0, time.UTC), body.Window.End)
	assert.Equal(t, time.Date(2026, 12, 1, 9, 0, 1, 0, time.UTC), body.First)
	assert.Equal(t, time.Date(2026, 12, 1, 9, 0, 5, 0, time.UTC), body.Last)
	assert.Equal(t, "https://sentinel.example.com/admin/ui/bindings?id="+key.String(), body.Link)
	require.NoError(t, webhook.VerifySignature("s3cret", got[0].Header.Get(webhook.HeaderTimestamp), got[0].Body,
		got[0].Header.Get(webhook.HeaderSignature), clk.Now(), time.Minute))

	clk.Set(time.Date(2026, 12, 1, 9, 1, 0, 0, time.UTC)) // the next window
	for i := range 4 {
		refuse(i, "198.51.100.3")
	}
	for _, p := range procs {
		require.Zero(t, p.notifier.Drain(context.Background()))
	}
	require.Len(t, rcv.requests(), 1, "four refusals stay below the threshold")
	refuse(4, "198.51.100.3")
	for _, p := range procs {
		require.Zero(t, p.notifier.Drain(context.Background()))
	}
	require.Len(t, rcv.requests(), 2, "the second window gets its own alert")
}

// TestAlertServiceInProcess runs the embedded default's counter: no
// webhook URL counts nothing, a threshold change applies at once.
func TestAlertServiceInProcess(t *testing.T) {
	rcv := newReceiver(t, nil)
	clk := clock.NewManual(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	settings := liveSettings(t, "", 3, time.Minute)
	n := webhook.New(webhook.Options{Settings: settings, AllowPrivate: true, Clock: clk})
	s := sentinel.NewAlertService(memory.NewAlertCounter(), n, settings, sentinel.AlertServiceOptions{Clock: clk})
	var key sentinel.KeyHash
	key[1] = 1
	refuse := func(times int) {
		for range times {
			s.Refused(sentinel.Intercept{Key: key, ClientIP: netip.MustParseAddr("203.0.113.9"), At: clk.Now()})
		}
		s.Process(context.Background())
		require.Zero(t, n.Drain(context.Background()))
	}
	refuse(5)
	assert.Empty(t, rcv.requests(), "no webhook URL: no alert")
	assert.Zero(t, s.Stats().Counted)

	set := *settings.Load()
	set.AlertWebhookURL = rcv.srv.URL
	require.NoError(t, settings.Store(set))
	refuse(2)
	assert.Empty(t, rcv.requests())
	refuse(5)
	assert.Len(t, rcv.requests(), 1)
	assert.EqualValues(t, 1, s.Stats().Alerts)
}
