package sentinel

import (
	"context"
	"log/slog"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// AlertEventRefusals is the event type of an alert raised because one key
// collected AlertThresholdCount refusals inside one alert window.
const AlertEventRefusals = "key_refusals_threshold"

// AlertWindow is one alert window of a key: [Start, End). Windows are
// aligned to the epoch (Start is the time truncated to the window length),
// so every process of a deployment agrees on the window a refusal falls in
// without talking to the others.
type AlertWindow struct {
	Start, End time.Time
}

// AlertWindowAt returns the window of length d containing t.
func AlertWindowAt(t time.Time, d time.Duration) AlertWindow {
	start := t.UTC().Truncate(d)
	return AlertWindow{Start: start, End: start.Add(d)}
}

// RefusalTally is what the AlertCounter knows about one key's refusals
// inside one window, across every process.
type RefusalTally struct {
	Count int64
	// IPs are the refused client addresses with their counts, most
	// refused first; at most MaxAlertIPs of them (the counter stops
	// tracking new addresses past that, but keeps counting).
	IPs         []IPCount
	First, Last time.Time
}

// MaxAlertIPs bounds the distinct addresses tracked per key and window, so
// a flood from many addresses cannot grow the shared counter.
const MaxAlertIPs = 50

// AlertCounter is the shared state behind "exactly one alert per key and
// window": a refusal tally and a set-if-absent mark, both per key and
// window, shared by every process of a deployment (Valkey in production,
// in-process in the embedded default). Entries expire on their own some
// time after their window ends. Every method may return EUNAVAILABLE.
type AlertCounter interface {
	// AddRefusal counts one refusal of key from ip at time at in window w
	// and returns the window's count so far.
	AddRefusal(ctx context.Context, w AlertWindow, key KeyHash, ip netip.Addr, at time.Time) (int64, error)
	// Refusals returns the window's tally (zero when nothing was counted).
	Refusals(ctx context.Context, w AlertWindow, key KeyHash) (RefusalTally, error)
	// MarkAlerted sets the "alerted" mark of key in w unless it is set and
	// reports whether this call set it: of any number of concurrent
	// callers, across processes, exactly one gets true.
	MarkAlerted(ctx context.Context, w AlertWindow, key KeyHash) (bool, error)
}

// Alert is what is sent when a key passes the refusal threshold. It holds
// no secret: the key appears only as its masked hint and its hash.
type Alert struct {
	Event string // AlertEventRefusals
	Key   KeyHash
	Hint  string // masked key, e.g. "sk-ab…yz"
	// BindingID is the hex key hash, the binding's id in the admin API.
	BindingID string
	// Rule is the binding's rule when the alert was raised, in
	// Rule.Spec form, with its kind; empty when the key has no binding.
	RuleKind RuleKind
	Rule     string
	// Count refusals within the window reached Threshold.
	Count       int64
	Threshold   int
	IPs         []IPCount
	Window      AlertWindow
	First, Last time.Time
	// ConsoleURL links to the binding's page in the console; empty when no
	// public URL is configured.
	ConsoleURL string
}

// Alerter delivers alerts (a webhook notifier). Notify must never block:
// it queues, and delivery happens elsewhere.
type Alerter interface {
	Notify(Alert)
}

// BindingFinder is the part of BindingStore the alert service reads the
// bound rule from.
type BindingFinder interface {
	FindBinding(ctx context.Context, key KeyHash) (Binding, error)
}

// AlertServiceOptions configure an AlertService; zero fields take defaults.
type AlertServiceOptions struct {
	// Bindings, when set, gives the alert the key's bound rule.
	Bindings BindingFinder
	// PublicURL is the console's public base URL (SENTINEL_PUBLIC_URL);
	// alerts link to the binding in the console when it is set (ConsoleBindingURL).
	PublicURL string
	// QueueSize bounds the refusals waiting to be counted. Default 10 000;
	// past it new ones are dropped and counted: the request path never waits.
	QueueSize int
	// Timeout bounds one counter call. Default 1s.
	Timeout time.Duration
	Clock   Clock
	Logger  *slog.Logger
}

// AlertStats counts what an AlertService did.
type AlertStats struct {
	Counted, Dropped, Alerts, Failures int64
}

// AlertService turns refusals into alerts: it counts each refused key's
// refusals per window in the shared AlertCounter and, when the count
// reaches the live threshold, raises exactly one alert for that key and
// window across every process. Refused never blocks; counting happens on
// Run's goroutine.
type AlertService struct {
	counter  AlertCounter
	alerter  Alerter
	settings *LiveSettings
	opts     AlertServiceOptions
	queue    chan Intercept

	mu      sync.Mutex
	stats   AlertStats
	alerted map[KeyHash]time.Time // window start this process knows is alerted
	failing bool
}

// NewAlertService returns a service counting in counter, alerting through
// alerter, with the threshold, window and webhook URL read from settings
// for every refusal (no URL: nothing is counted or sent).
func NewAlertService(counter AlertCounter, alerter Alerter, settings *LiveSettings, opts AlertServiceOptions) *AlertService {
	if opts.QueueSize <= 0 {
		opts.QueueSize = 10_000
	}
	if opts.Timeout <= 0 {
		opts.Timeout = time.Second
	}
	if opts.Clock == nil {
		opts.Clock = SystemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	opts.PublicURL = strings.TrimRight(opts.PublicURL, "/")
	return &AlertService{
		counter: counter, alerter: alerter, settings: settings, opts: opts,
		queue:   make(chan Intercept, opts.QueueSize),
		alerted: map[KeyHash]time.Time{},
	}
}

// Refused queues a refusal for counting. It never blocks: when the queue
// is full the refusal is dropped and counted in Stats.
func (s *AlertService) Refused(i Intercept) {
	if i.Key.IsZero() {
		return // multiple or invalid keys: no key to alert about
	}
	select {
	case s.queue <- i:
	default:
		s.mu.Lock()
		s.stats.Dropped++
		s.mu.Unlock()
	}
}

// Stats returns the service's counters.
func (s *AlertService) Stats() AlertStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Run counts queued refusals until ctx is done. It returns nil.
func (s *AlertService) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case i := <-s.queue:
			s.handle(ctx, i)
		}
	}
}

// Process counts every refusal queued now and returns; for tests and for
// draining at shutdown.
func (s *AlertService) Process(ctx context.Context) {
	for {
		select {
		case i := <-s.queue:
			s.handle(ctx, i)
		default:
			return
		}
	}
}

func (s *AlertService) handle(ctx context.Context, i Intercept) {
	set := s.settings.Load()
	if set.AlertWebhookURL == "" || set.AlertThresholdCount < 1 || set.AlertWindow <= 0 {
		return
	}
	now := s.opts.Clock.Now()
	w := AlertWindowAt(now, set.AlertWindow)
	if s.knownAlerted(i.Key, w) {
		return // this window's alert is out; counting further changes nothing
	}
	at := i.At
	if at.IsZero() {
		at = now
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	n, err := s.counter.AddRefusal(ctx, w, i.Key, i.ClientIP, at.UTC())
	if err != nil {
		s.fail(err)
		return
	}
	s.mu.Lock()
	s.stats.Counted++
	s.mu.Unlock()
	if n < int64(set.AlertThresholdCount) {
		s.recovered()
		return
	}
	first, err := s.counter.MarkAlerted(ctx, w, i.Key)
	if err != nil {
		s.fail(err)
		return
	}
	s.rememberAlerted(i.Key, w)
	if !first {
		s.recovered()
		return // another process (or an earlier refusal here) raised it
	}
	tally, err := s.counter.Refusals(ctx, w, i.Key)
	if err != nil {
		// The mark is set: send what is known rather than nothing.
		tally = RefusalTally{Count: n, IPs: []IPCount{{IP: i.ClientIP, Count: 1}}, First: at.UTC(), Last: at.UTC()}
	}
	s.recovered()
	s.alerter.Notify(s.build(ctx, i, w, set.AlertThresholdCount, tally))
	s.mu.Lock()
	s.stats.Alerts++
	s.mu.Unlock()
}

// build assembles the alert, reading the bound rule when it can.
func (s *AlertService) build(ctx context.Context, i Intercept, w AlertWindow, threshold int, t RefusalTally) Alert {
	a := Alert{
		Event: AlertEventRefusals, Key: i.Key, Hint: i.Hint, BindingID: i.Key.String(),
		Count: t.Count, Threshold: threshold, IPs: t.IPs, Window: w, First: t.First, Last: t.Last,
	}
	if s.opts.Bindings != nil {
		if b, err := s.opts.Bindings.FindBinding(ctx, i.Key); err == nil {
			a.RuleKind, a.Rule = b.Rule.Kind, b.Rule.Spec()
			if a.Hint == "" {
				a.Hint = b.Hint
			}
		}
	}
	a.ConsoleURL = ConsoleBindingURL(s.opts.PublicURL, a.BindingID)
	return a
}

// ConsoleBindingURL returns the console's page of the binding id under the
// public base URL (SENTINEL_PUBLIC_URL), or "" when none is configured.
func ConsoleBindingURL(publicURL, id string) string {
	if publicURL == "" {
		return ""
	}
	return strings.TrimRight(publicURL, "/") + "/admin/ui/bindings?id=" + url.QueryEscape(id)
}

func (s *AlertService) knownAlerted(key KeyHash, w AlertWindow) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	start, ok := s.alerted[key]
	return ok && start.Equal(w.Start)
}

// maxKnownAlerted bounds the keys a process remembers as alerted in the
// current window. Past it a key is simply not remembered: its later
// refusals ask the shared mark again (MarkAlerted), which still sends
// one alert per window; only the saved round trip is lost.
const maxKnownAlerted = 10_000

// rememberAlerted notes that key's alert for w is out, so later refusals
// in w cost no round trip. Entries of past windows are pruned as the map
// grows, and it never holds more than maxKnownAlerted keys.
func (s *AlertService) rememberAlerted(key KeyHash, w AlertWindow) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.alerted) >= maxKnownAlerted {
		for k, start := range s.alerted {
			if start.Before(w.Start) {
				delete(s.alerted, k)
			}
		}
		if len(s.alerted) >= maxKnownAlerted {
			return
		}
	}
	s.alerted[key] = w.Start
}

func (s *AlertService) fail(err error) {
	s.mu.Lock()
	s.stats.Failures++
	was := s.failing
	s.failing = true
	s.mu.Unlock()
	if !was {
		s.opts.Logger.Warn("alerts: counting refusals failed; alerts may be missed until it recovers", "err", err)
	}
}

func (s *AlertService) recovered() {
	s.mu.Lock()
	was := s.failing
	s.failing = false
	s.mu.Unlock()
	if was {
		s.opts.Logger.Info("alerts: counting refusals works again")
	}
}

// AlertingRecorder is a Recorder that also hands every refusal to an
// AlertService: wrap the proxy's recorder in it to raise alerts.
type AlertingRecorder struct {
	Recorder
	Alerts *AlertService
}

// RecordIntercept implements Recorder.
func (r AlertingRecorder) RecordIntercept(i Intercept) {
	r.Recorder.RecordIntercept(i)
	r.Alerts.Refused(i)
}

// SortIPCounts orders counts most refused first, then by address, the
// order RefusalTally.IPs is in. Counters use it.
func SortIPCounts(ips []IPCount) {
	slices.SortFunc(ips, func(a, b IPCount) int {
		if a.Count != b.Count {
			if a.Count > b.Count {
				return -1
			}
			return 1
		}
		return a.IP.Compare(b.IP)
	})
}
