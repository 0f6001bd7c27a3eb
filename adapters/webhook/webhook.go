// Package webhook delivers Sentinel's alerts to an HTTP webhook: Sentinel's
// own signed JSON, or the incoming-webhook bodies of Slack, Feishu/Lark and
// DingTalk. Alerts wait in a bounded queue (the oldest is dropped, and
// counted, when it is full) and are delivered from a goroutine the caller
// owns, with a timeout per attempt and exponential backoff with jitter, so
// a slow or dead receiver never delays a proxied request.
//
// The webhook URL is a secret (it carries the receiver's token): only its
// host ever appears in logs and errors. Addresses in loopback, link-local,
// private, unspecified and multicast ranges are refused unless
// AllowPrivate is set, checked on the address actually dialled, so a name
// that resolves (or re-resolves) to an internal address is refused too.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"sync"
	"syscall"
	"time"

	sentinel "github.com/keyipsentinel/sentinel"
)

// Options configure a Notifier; zero fields take defaults.
type Options struct {
	// Settings, when set, gives the URL at each delivery (live setting
	// alert_webhook_url), so a change applies to queued alerts too.
	Settings *sentinel.LiveSettings
	// URL is used when Settings is nil (ALERT_WEBHOOK_URL).
	URL string
	// Format (ALERT_WEBHOOK_FORMAT); FormatAuto detects it from the host.
	Format Format
	// Secret (ALERT_WEBHOOK_SECRET) signs generic alerts and, for Feishu
	// and DingTalk, is the bot's signing secret.
	Secret string
	// AllowPrivate (ALERT_WEBHOOK_ALLOW_PRIVATE) allows receivers on
	// loopback, link-local and private addresses.
	AllowPrivate bool
	// QueueSize bounds the alerts waiting for delivery. Default 1000.
	QueueSize int
	// AttemptTimeout bounds one delivery attempt. Default 5s.
	AttemptTimeout time.Duration
	// MaxAttempts per alert before it is given up. Default 8.
	MaxAttempts int
	// InitialBackoff and MaxBackoff bound the wait between attempts, which
	// doubles from the first to the second, with jitter. Defaults 500ms, 30s.
	InitialBackoff, MaxBackoff time.Duration
	// Clock stamps signatures.
	Clock  sentinel.Clock
	Logger *slog.Logger
}

// Stats counts what a Notifier did.
type Stats struct {
	Queued    int64 // waiting now
	Delivered int64
	Dropped   int64 // pushed out of a full queue
	Failed    int64 // given up after their attempts, or refused for good
	Attempts  int64
}

// Result is the outcome of one delivery attempt.
type Result struct {
	Status  int // the receiver's HTTP status; 0 when none answered
	Latency time.Duration
}

// Notifier is the sentinel.Alerter posting to a webhook.
type Notifier struct {
	opts   Options
	client *http.Client
	log    *slog.Logger

	mu      sync.Mutex
	queue   []sentinel.Alert
	stats   Stats
	wake    chan struct{}
	sending sync.Mutex // one deliverer at a time: Run, or Drain after it
}

var _ sentinel.Alerter = (*Notifier)(nil)

// New returns a Notifier. Call Run to deliver and Drain when stopping.
func New(opts Options) *Notifier {
	if opts.QueueSize <= 0 {
		opts.QueueSize = 1000
	}
	if opts.AttemptTimeout <= 0 {
		opts.AttemptTimeout = 5 * time.Second
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 8
	}
	if opts.InitialBackoff <= 0 {
		opts.InitialBackoff = 500 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 30 * time.Second
	}
	if opts.Clock == nil {
		opts.Clock = sentinel.SystemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	dialer := &net.Dialer{Timeout: opts.AttemptTimeout, KeepAlive: 30 * time.Second}
	if !opts.AllowPrivate {
		dialer.Control = refusePrivate
	}
	transport := &http.Transport{
		Proxy:                 nil, // an environment proxy would be dialled instead of the checked address
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   opts.AttemptTimeout,
		ResponseHeaderTimeout: opts.AttemptTimeout,
		MaxIdleConns:          4,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &Notifier{
		opts: opts, log: opts.Logger, wake: make(chan struct{}, 1),
		client: &http.Client{
			Transport: transport,
			// A redirect could lead anywhere; a webhook has no reason to send one.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// refusePrivate is the dialer's Control: it sees the address about to be
// connected, after name resolution, so DNS tricks cannot get past it.
func refusePrivate(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return sentinel.Errorf(sentinel.EINVALID, "webhook: cannot check the address dialled")
	}
	if a := ap.Addr().Unmap(); Private(a) {
		return sentinel.Errorf(sentinel.EINVALID,
			"webhook: the URL resolves to %s, a loopback, private, link-local or otherwise internal address; "+
				"set ALERT_WEBHOOK_ALLOW_PRIVATE=true to allow it", a)
	}
	return nil
}

// internalRanges are ranges beyond the netip predicates that reach inside
// a network: "this network", carrier-grade NAT, IETF protocol assignments,
// benchmarking, and IPv6 unique-local is covered by IsPrivate.
var internalRanges = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
}

// Private reports whether a is an address a webhook may not reach unless
// private receivers are allowed.
func Private(a netip.Addr) bool {
	a = a.Unmap()
	if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() || !a.IsValid() {
		return true
	}
	for _, p := range internalRanges {
		if p.Contains(a) {
			return true
		}
	}
	// A translated address reaches the IPv4 address it carries: judge that
	// one, and refuse one whose IPv4 cannot be told (local-use NAT64).
	if sentinel.EmbedsIPv4(a) {
		v4, ok := sentinel.EmbeddedIPv4(a)
		return !ok || Private(v4)
	}
	return false
}

// Notify implements sentinel.Alerter: it queues a and returns at once. A
// full queue drops its oldest alert.
func (n *Notifier) Notify(a sentinel.Alert) {
	n.mu.Lock()
	if len(n.queue) >= n.opts.QueueSize {
		n.queue[0] = sentinel.Alert{}
		n.queue = n.queue[1:]
		n.stats.Dropped++
	}
	n.queue = append(n.queue, a)
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// Stats returns the notifier's counters.
func (n *Notifier) Stats() Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.stats
	s.Queued = int64(len(n.queue))
	return s
}

// Run delivers queued alerts until ctx is done. An alert being retried
// when ctx ends goes back to the front of the queue for Drain. It returns
// nil.
func (n *Notifier) Run(ctx context.Context) error {
	for {
		n.sending.Lock()
		n.deliverQueued(ctx)
		n.sending.Unlock()
		select {
		case <-ctx.Done():
			return nil
		case <-n.wake:
		}
	}
}

// Drain delivers what is queued, retrying as usual, until the queue is
// empty or ctx is done (give it the shutdown deadline), after Run has
// returned. It returns how many alerts were left undelivered.
func (n *Notifier) Drain(ctx context.Context) int {
	n.sending.Lock()
	defer n.sending.Unlock()
	n.deliverQueued(ctx)
	n.mu.Lock()
	defer n.mu.Unlock()
	if left := len(n.queue); left > 0 {
		n.log.Warn("webhook: shutdown deadline reached; alerts left undelivered", "alerts", left)
		return left
	}
	return 0
}

func (n *Notifier) deliverQueued(ctx context.Context) {
	for ctx.Err() == nil {
		n.mu.Lock()
		if len(n.queue) == 0 {
			n.mu.Unlock()
			return
		}
		a := n.queue[0]
		n.queue[0] = sentinel.Alert{}
		n.queue = n.queue[1:]
		n.mu.Unlock()
		if !n.deliver(ctx, a) {
			n.mu.Lock()
			n.queue = append([]sentinel.Alert{a}, n.queue...) // interrupted: keep it first
			n.mu.Unlock()
			return
		}
	}
}

// deliver tries a until it is delivered, refused for good or out of
// attempts (true), or ctx is done first (false).
func (n *Notifier) deliver(ctx context.Context, a sentinel.Alert) bool {
	wait := n.opts.InitialBackoff
	for attempt := 1; ; attempt++ {
		raw := n.url()
		_, err := n.Send(ctx, raw, a)
		n.mu.Lock()
		n.stats.Attempts++
		n.mu.Unlock()
		if err == nil {
			n.mu.Lock()
			n.stats.Delivered++
			n.mu.Unlock()
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		if !retryable(err) || attempt >= n.opts.MaxAttempts {
			n.mu.Lock()
			n.stats.Failed++
			n.mu.Unlock()
			n.log.Warn("webhook: alert not delivered; giving up on it", "host", hostOf(raw), "attempts", attempt, "err", err)
			return true
		}
		if attempt == 1 {
			n.log.Info("webhook: delivery failed; retrying with backoff", "host", hostOf(raw), "err", err)
		}
		// Full jitter in the upper half keeps a fleet from retrying in step.
		t := time.NewTimer(wait/2 + rand.N(wait/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
		wait = min(2*wait, n.opts.MaxBackoff)
	}
}

func (n *Notifier) url() string {
	if n.opts.Settings != nil {
		return n.opts.Settings.Load().AlertWebhookURL
	}
	return n.opts.URL
}

// deliveryError is a failed attempt; temporary ones are retried.
type deliveryError struct {
	msg       string
	temporary bool
	err       error
}

func (e *deliveryError) Error() string { return e.msg }
func (e *deliveryError) Unwrap() error { return e.err }

func retryable(err error) bool {
	var de *deliveryError
	return errors.As(err, &de) && de.temporary
}

// CloseIdleConnections closes the notifier's idle connections to
// receivers, for a notifier made for one send (the admin API's test).
func (n *Notifier) CloseIdleConnections() { n.client.CloseIdleConnections() }

// Send makes one attempt to post a to rawURL and returns the receiver's
// status and the latency: the admin API's test send uses it directly. Its
// errors name the URL's host only. It returns EINVALID for a bad URL or a
// refused address, and EUNAVAILABLE when the receiver cannot be reached
// or answers with an error.
func (n *Notifier) Send(ctx context.Context, rawURL string, a sentinel.Alert) (Result, error) {
	if rawURL == "" {
		return Result{}, sentinel.Errorf(sentinel.EINVALID, "webhook: no webhook URL is configured")
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Result{}, sentinel.Errorf(sentinel.EINVALID, "webhook: the webhook URL must be an http:// or https:// URL with a host")
	}
	host := u.Host
	req, err := n.request(ctx, u, a)
	if err != nil {
		return Result{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, n.opts.AttemptTimeout)
	defer cancel()
	start := time.Now()
	resp, err := n.client.Do(req.WithContext(ctx))
	res := Result{Latency: time.Since(start)}
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error would print the whole URL, token included
		}
		var se *sentinel.Error
		if errors.As(err, &se) {
			return res, se
		}
		return res, &deliveryError{msg: "webhook " + host + ": " + err.Error(), temporary: true, err: err}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	res.Status = resp.StatusCode
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		temporary := resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout
		return res, &deliveryError{msg: fmt.Sprintf("webhook %s: answered %d", host, resp.StatusCode), temporary: temporary}
	}
	if err := bodyError(formatOf(n.opts.Format, u), body); err != nil {
		return res, &deliveryError{msg: "webhook " + host + ": " + err.Error()}
	}
	return res, nil
}

// bodyError reads the application error Feishu and DingTalk report with
// status 200: Feishu's "code" (older bots "StatusCode"), DingTalk's
// "errcode"; 0 means success.
func bodyError(f Format, body []byte) error {
	var r struct {
		Code       *int   `json:"code"`
		StatusCode *int   `json:"StatusCode"`
		Msg        string `json:"msg"`
		ErrCode    *int   `json:"errcode"`
		ErrMsg     string `json:"errmsg"`
	}
	switch f {
	case FormatFeishu:
		if json.Unmarshal(body, &r) == nil {
			if r.Code != nil && *r.Code != 0 {
				return fmt.Errorf("refused the message: code %d %q", *r.Code, clip(r.Msg))
			}
			if r.StatusCode != nil && *r.StatusCode != 0 {
				return fmt.Errorf("refused the message: code %d", *r.StatusCode)
			}
		}
	case FormatDingTalk:
		if json.Unmarshal(body, &r) == nil && r.ErrCode != nil && *r.ErrCode != 0 {
			return fmt.Errorf("refused the message: errcode %d %q", *r.ErrCode, clip(r.ErrMsg))
		}
	}
	return nil
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200]
	}
	return s
}

func formatOf(f Format, u *url.URL) Format {
	if f == FormatAuto {
		return DetectFormat(u)
	}
	return f
}

// request builds the POST of a to u in the configured format.
func (n *Notifier) request(ctx context.Context, u *url.URL, a sentinel.Alert) (*http.Request, error) {
	now := n.opts.Clock.Now()
	f := formatOf(n.opts.Format, u)
	var (
		body []byte
		err  error
	)
	switch f {
	case FormatSlack:
		body, err = slackBody(a)
	case FormatFeishu:
		body, err = feishuBody(a, n.opts.Secret, now)
	case FormatDingTalk:
		body, err = dingtalkBody(a)
		u = dingtalkURL(u, n.opts.Secret, now)
	default:
		body, err = genericBody(a)
	}
	if err != nil {
		return nil, sentinel.WrapError(sentinel.EINTERNAL, err, "webhook: encode the alert")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, sentinel.Errorf(sentinel.EINVALID, "webhook %s: cannot build the request", u.Host)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "key-ip-sentinel-webhook")
	if f == FormatGeneric {
		ts := strconv.FormatInt(now.Unix(), 10)
		req.Header.Set(HeaderTimestamp, ts)
		if n.opts.Secret != "" {
			req.Header.Set(HeaderSignature, Sign(n.opts.Secret, ts, body))
		}
	}
	return req, nil
}

func hostOf(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Host
	}
	return "(unparsable URL)"
}

// SampleAlert is the alert the admin API's test send posts: it looks like
// a real one and names no real key.
func SampleAlert(now time.Time, publicURL string) sentinel.Alert {
	w := sentinel.AlertWindowAt(now, 5*time.Minute)
	var key sentinel.KeyHash
	a := sentinel.Alert{
		Event: sentinel.AlertEventRefusals, Key: key, Hint: "sk-test…test", BindingID: key.String(),
		RuleKind: sentinel.RuleSingle, Rule: "203.0.113.7", Count: 5, Threshold: 5,
		IPs: []sentinel.IPCount{
			{IP: netip.MustParseAddr("198.51.100.23"), Count: 3},
			{IP: netip.MustParseAddr("2001:db8::1"), Count: 2},
		},
		Window: w, First: w.Start, Last: now.UTC(),
	}
	a.ConsoleURL = sentinel.ConsoleBindingURL(publicURL, a.BindingID)
	return a
}
