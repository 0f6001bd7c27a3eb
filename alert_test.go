package sentinel_test

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/clock"
	"github.com/keyipsentinel/sentinel/adapters/memory"
)

// alertSink is an Alerter keeping what it is given.
type alertSink struct {
	mu     sync.Mutex
	alerts []sentinel.Alert
}

func (s *alertSink) Notify(a sentinel.Alert) {
	s.mu.Lock()
	s.alerts = append(s.alerts, a)
	s.mu.Unlock()
}

func (s *alertSink) got() []sentinel.Alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sentinel.Alert(nil), s.alerts...)
}

// flakyCounter fails while down is set.
type flakyCounter struct {
	sentinel.AlertCounter
	mu   sync.Mutex
	down bool
}

func (f *flakyCounter) setDown(d bool) { f.mu.Lock(); f.down = d; f.mu.Unlock() }

func (f *flakyCounter) AddRefusal(ctx context.Context, w sentinel.AlertWindow, k sentinel.KeyHash, ip netip.Addr, at time.Time) (int64, error) {
	f.mu.Lock()
	down := f.down
	f.mu.Unlock()
	if down {
		return 0, sentinel.Errorf(sentinel.EUNAVAILABLE, "counter down")
	}
	return f.AlertCounter.AddRefusal(ctx, w, k, ip, at)
}

// bindingFinder answers with one binding.
type bindingFinder struct{ b sentinel.Binding }

func (f bindingFinder) FindBinding(_ context.Context, k sentinel.KeyHash) (sentinel.Binding, error) {
	if k != f.b.Key {
		return sentinel.Binding{}, sentinel.Errorf(sentinel.ENOTFOUND, "no binding")
	}
	return f.b, nil
}

// recorderSink is a Recorder keeping intercepts.
type recorderSink struct{ intercepts, uses int }

func (r *recorderSink) RecordIntercept(sentinel.Intercept) { r.intercepts++ }
func (r *recorderSink) RecordUse(sentinel.Use)             { r.uses++ }

func alertSettings(t *testing.T, threshold int, window time.Duration) *sentinel.LiveSettings {
	t.Helper()
	l, err := sentinel.NewLiveSettings(sentinel.Settings{
		EnforceMode: sentinel.ModeEnforce, FailsafeMode: sentinel.FailsafeClosed,
		AlertThresholdCount: threshold, AlertWindow: window, AlertWebhookURL: "https://alerts.example.com/hook",
	})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestAlertWindowAt(t *testing.T) {
	tests := []struct {
		at         string
		window     time.Duration
		start, end string
	}{
		{"2026-12-01T09:03:27Z", 5 * time.Minute, "2026-12-01T09:00:00Z", "2026-12-01T09:05:00Z"},
		{"2026-12-01T09:05:00Z", 5 * time.Minute, "2026-12-01T09:05:00Z", "2026-12-01T09:10:00Z"},
		{"2026-12-01T10:03:27+01:00", time.Minute, "2026-12-01T09:03:00Z", "2026-12-01T09:04:00Z"},
		{"2026-12-01T09:03:27Z", time.Hour, "2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.at+"/"+tt.window.String(), func(t *testing.T) {
			at, _ := time.Parse(time.RFC3339, tt.at)
			w := sentinel.AlertWindowAt(at, tt.window)
			if got := w.Start.Format(time.RFC3339); got != tt.start {
				t.Errorf("start = %s, want %s", got, tt.start)
			}
			if got := w.End.Format(time.RFC3339); got != tt.end {
				t.Errorf("end = %s, want %s", got, tt.end)
			}
		})
	}
}

func TestAlertServiceOneAlertPerWindow(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewManual(time.Date(2026, 12, 1, 9, 0, 10, 0, time.UTC))
	var key sentinel.KeyHash
	key[0] = 1
	rule := sentinel.SingleRule(netip.MustParsePrefix("203.0.113.7/32"))
	sink := &alertSink{}
	s := sentinel.NewAlertService(memory.NewAlertCounter(), sink, alertSettings(t, 3, time.Minute), sentinel.AlertServiceOptions{
		Clock: clk, PublicURL: "https://sentinel.example.com/", Bindings: bindingFinder{sentinel.Binding{Key: key, Hint: "sk-ab…yz", Rule: rule}},
	})
	refuse := func(n int, ip string) {
		for range n {
			s.Refused(sentinel.Intercept{Key: key, ClientIP: netip.MustParseAddr(ip), At: clk.Now()})
			clk.Advance(time.Second)
		}
		s.Process(ctx)
	}
	refuse(2, "198.51.100.1")
	if n := len(sink.got()); n != 0 {
		t.Fatalf("%d alerts below the threshold", n)
	}
	refuse(1, "198.51.100.2")
	refuse(10, "198.51.100.3")
	got := sink.got()
	if len(got) != 1 {
		t.Fatalf("%d alerts in one window, want 1", len(got))
	}
	a := got[0]
	if a.Event != sentinel.AlertEventRefusals || a.Count != 3 || a.Threshold != 3 || a.BindingID != key.String() {
		t.Errorf("alert = %+v", a)
	}
	if a.Hint != "sk-ab…yz" || a.RuleKind != sentinel.RuleSingle || a.Rule != "203.0.113.7" {
		t.Errorf("hint %q, rule %s %q: want the binding's", a.Hint, a.RuleKind, a.Rule)
	}
	if want := "https://sentinel.example.com/admin/ui/bindings?id=" + key.String(); a.ConsoleURL != want {
		t.Errorf("console URL %q, want %q", a.ConsoleURL, want)
	}
	if len(a.IPs) != 2 || a.IPs[0].IP.String() != "198.51.100.1" || a.IPs[0].Count != 2 || a.IPs[1].Count != 1 {
		t.Errorf("IPs = %v", a.IPs)
	}
	wantFirst, wantLast := time.Date(2026, 12, 1, 9, 0, 10, 0, time.UTC), time.Date(2026, 12, 1, 9, 0, 12, 0, time.UTC)
	if !a.First.Equal(wantFirst) || !a.Last.Equal(wantLast) {
		t.Errorf("first/last = %v/%v, want %v/%v", a.First, a.Last, wantFirst, wantLast)
	}
	if !a.Window.Start.Equal(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)) {
		t.Errorf("window start %v", a.Window.Start)
	}

	clk.Set(time.Date(2026, 12, 1, 9, 1, 0, 0, time.UTC))
	refuse(3, "198.51.100.4")
	if n := len(sink.got()); n != 2 {
		t.Fatalf("%d alerts after the second window filled, want 2", n)
	}
}

func TestAlertServiceNeverBlocks(t *testing.T) {
	sink := &alertSink{}
	s := sentinel.NewAlertService(memory.NewAlertCounter(), sink, alertSettings(t, 1, time.Minute),
		sentinel.AlertServiceOptions{QueueSize: 4})
	var key sentinel.KeyHash
	key[0] = 2
	for range 10 { // nobody runs the service: the queue fills
		s.Refused(sentinel.Intercept{Key: key})
	}
	s.Refused(sentinel.Intercept{}) // no key: ignored, not queued
	if st := s.Stats(); st.Dropped != 6 {
		t.Errorf("dropped %d, want 6", st.Dropped)
	}
	s.Process(context.Background())
	// The first raises the alert; the window's later refusals cost nothing.
	if st := s.Stats(); st.Counted != 1 || st.Alerts != 1 {
		t.Errorf("stats %+v, want 1 counted and 1 alert", st)
	}
}

func TestAlertServiceCounterDown(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewManual(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	counter := &flakyCounter{AlertCounter: memory.NewAlertCounter(), down: true}
	sink := &alertSink{}
	s := sentinel.NewAlertService(counter, sink, alertSettings(t, 2, time.Minute), sentinel.AlertServiceOptions{Clock: clk})
	var key sentinel.KeyHash
	key[0] = 3
	for range 5 {
		s.Refused(sentinel.Intercept{Key: key})
	}
	s.Process(ctx)
	if st := s.Stats(); st.Failures != 5 || len(sink.got()) != 0 {
		t.Fatalf("stats %+v, alerts %d: want 5 failures and no alert", st, len(sink.got()))
	}
	counter.setDown(false)
	for range 2 {
		s.Refused(sentinel.Intercept{Key: key})
	}
	s.Process(ctx)
	if len(sink.got()) != 1 {
		t.Fatalf("%d alerts once the counter is back, want 1", len(sink.got()))
	}
}

func TestAlertingRecorder(t *testing.T) {
	inner := &recorderSink{}
	sink := &alertSink{}
	s := sentinel.NewAlertService(memory.NewAlertCounter(), sink, alertSettings(t, 1, time.Minute), sentinel.AlertServiceOptions{})
	var r sentinel.Recorder = sentinel.AlertingRecorder{Recorder: inner, Alerts: s}
	var key sentinel.KeyHash
	key[0] = 4
	r.RecordIntercept(sentinel.Intercept{Key: key})
	r.RecordUse(sentinel.Use{Key: key})
	s.Process(context.Background())
	if inner.intercepts != 1 || inner.uses != 1 || len(sink.got()) != 1 {
		t.Errorf("inner %+v, alerts %d", inner, len(sink.got()))
	}
}
