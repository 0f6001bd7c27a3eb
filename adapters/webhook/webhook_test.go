package webhook_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"flag"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/clock"
	"github.com/keyipsentinel/sentinel/adapters/webhook"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// received is one request a test receiver got.
type received struct {
	Header http.Header
	Query  url.Values
	Path   string
	Body   []byte
}

// receiver is a real HTTP server recording what it gets; status decides
// each answer.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []received
	status func(n int) int
}

func newReceiver(t *testing.T, status func(n int) int) *receiver {
	t.Helper()
	r := &receiver{status: status}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{Header: req.Header.Clone(), Query: req.URL.Query(), Path: req.URL.Path, Body: body})
		n := len(r.got)
		r.mu.Unlock()
		code := http.StatusOK
		if r.status != nil {
			code = r.status(n)
		}
		w.WriteHeader(code)
		io.WriteString(w, `{"code":0,"errcode":0}`)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

var testNow = time.Date(2026, 12, 1, 9, 3, 27, 0, time.UTC)

func testAlert() sentinel.Alert {
	var key sentinel.KeyHash
	for i := range key {
		key[i] = byte(i)
	}
	w := sentinel.AlertWindowAt(testNow, 5*time.Minute)
	return sentinel.Alert{
		Event: sentinel.AlertEventRefusals, Key: key, Hint: "sk-ab…yz", BindingID: key.String(),
		RuleKind: sentinel.RuleSingle, Rule: "203.0.113.7", Count: 5, Threshold: 5,
		IPs: []sentinel.IPCount{
			{IP: netip.MustParseAddr("198.51.100.23"), Count: 3},
			{IP: netip.MustParseAddr("2001:db8::1"), Count: 2},
		},
		Window: w, First: w.Start.Add(12 * time.Second), Last: testNow,
		ConsoleURL: "https://sentinel.example.com/admin/ui/bindings?id=" + key.String(),
	}
}

// golden compares got (JSON) with testdata/name, rewriting it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	var pretty bytes.Buffer
	require.NoError(t, json.Indent(&pretty, got, "", "  "))
	pretty.WriteByte('\n')
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, pretty.Bytes(), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create %s", path)
	assert.Equal(t, string(want), pretty.String())
}

// TestFormats posts the same alert in every format to a real receiver and
// compares the bodies with golden files. The field names are those of the
// services' documentation:
//   - Slack, "Sending messages using incoming webhooks" and Block Kit:
//     "text", "blocks"; blocks "header" (plain_text), "section" ("text",
//     "fields" of "mrkdwn"), "actions" with a "button" ("text", "url").
//   - Feishu/Lark, "Custom bot guide": "msg_type": "text",
//     "content": {"text"}, and with signature verification "timestamp"
//     (seconds, a string) and "sign" =
//     base64(HmacSHA256(key = timestamp + "\n" + secret, message = "")).
//   - DingTalk, "Custom robot" (markdown message): "msgtype": "markdown",
//     "markdown": {"title", "text"}; signing adds the query parameters
//     "timestamp" (milliseconds) and "sign" =
//     urlEncode(base64(HmacSHA256(key = secret, timestamp + "\n" + secret))).
func TestFormats(t *testing.T) {
	const secret = "SECtest-secret"
	tests := []struct {
		name   string
		format webhook.Format
		secret string
		check  func(t *testing.T, r received)
	}{
		{name: "generic.json", format: webhook.FormatGeneric, secret: secret, check: func(t *testing.T, r received) {
			ts := r.Header.Get(webhook.HeaderTimestamp)
			assert.Equal(t, "1796115807", ts)
			require.NoError(t, webhook.VerifySignature(secret, ts, r.Body, r.Header.Get(webhook.HeaderSignature), testNow, time.Minute))
		}},
		{name: "slack.json", format: webhook.FormatSlack},
		{name: "feishu.json", format: webhook.FormatFeishu, secret: secret, check: func(t *testing.T, r received) {
			var m struct{ Timestamp, Sign string }
			require.NoError(t, json.Unmarshal(r.Body, &m))
			assert.Equal(t, "1796115807", m.Timestamp)
			mac := hmac.New(sha256.New, []byte(m.Timestamp+"\n"+secret))
			assert.Equal(t, base64.StdEncoding.EncodeToString(mac.Sum(nil)), m.Sign)
		}},
		{name: "feishu-unsigned.json", format: webhook.FormatFeishu},
		{name: "dingtalk.json", format: webhook.FormatDingTalk, secret: secret, check: func(t *testing.T, r received) {
			ts := r.Query.Get("timestamp")
			assert.Equal(t, "1796115807000", ts)
			mac := hmac.New(sha256.New, []byte(secret))
			mac.Write([]byte(ts + "\n" + secret))
			assert.Equal(t, base64.StdEncoding.EncodeToString(mac.Sum(nil)), r.Query.Get("sign"))
			assert.Equal(t, "tok", r.Query.Get("access_token"), "the robot's own parameters are kept")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv := newReceiver(t, nil)
			n := webhook.New(webhook.Options{Format: tt.format, Secret: tt.secret, AllowPrivate: true, Clock: clock.NewManual(testNow)})
			res, err := n.Send(context.Background(), rcv.srv.URL+"/hook?access_token=tok", testAlert())
			require.NoError(t, err)
			assert.Equal(t, http.StatusOK, res.Status)
			got := rcv.requests()
			require.Len(t, got, 1)
			assert.Equal(t, "application/json; charset=utf-8", got[0].Header.Get("Content-Type"))
			golden(t, tt.name, got[0].Body)
			if tt.check != nil {
				tt.check(t, got[0])
			}
		})
	}
}

func TestDetectFormat(t *testing.T) {
	tests := []struct {
		url  string
		want webhook.Format
	}{
		{"https://hooks.slack.com/services/T000/B000/XXXX", webhook.FormatSlack},
		{"https://open.feishu.cn/open-apis/bot/v2/hook/abc", webhook.FormatFeishu},
		{"https://open.larksuite.com/open-apis/bot/v2/hook/abc", webhook.FormatFeishu},
		{"https://oapi.dingtalk.com/robot/send?access_token=abc", webhook.FormatDingTalk},
		{"https://HOOKS.SLACK.COM/services/x", webhook.FormatSlack},
		{"https://alerts.example.com/sentinel", webhook.FormatGeneric},
		{"https://hooks.slack.com.evil.example/x", webhook.FormatGeneric},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			u, err := url.Parse(tt.url)
			require.NoError(t, err)
			assert.Equal(t, tt.want, webhook.DetectFormat(u))
		})
	}
	for _, bad := range []string{"teams", "json "} {
		_, err := webhook.ParseFormat(bad)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "ALERT_WEBHOOK_FORMAT")
	}
	f, err := webhook.ParseFormat("Lark")
	require.NoError(t, err)
	assert.Equal(t, webhook.FormatFeishu, f)
}

func TestVerifySignature(t *testing.T) {
	body := []byte(`{"event":"key_refusals_threshold"}`)
	ts := "1796115807"
	sig := webhook.Sign("right", ts, body)
	tests := []struct {
		name     string
		secret   string
		ts       string
		body     []byte
		sig      string
		now      time.Time
		wantFail bool
	}{
		{name: "genuine", secret: "right", ts: ts, body: body, sig: sig, now: testNow},
		{name: "another secret", secret: "wrong", ts: ts, body: body, sig: sig, now: testNow, wantFail: true},
		{name: "changed body", secret: "right", ts: ts, body: []byte(`{"event":"x"}`), sig: sig, now: testNow, wantFail: true},
		{name: "changed timestamp", secret: "right", ts: "1796115808", body: body, sig: sig, now: testNow, wantFail: true},
		{name: "replayed later", secret: "right", ts: ts, body: body, sig: sig, now: testNow.Add(10 * time.Minute), wantFail: true},
		{name: "within tolerance", secret: "right", ts: ts, body: body, sig: sig, now: testNow.Add(4 * time.Minute)},
		{name: "not a number", secret: "right", ts: "yesterday", body: body, sig: sig, now: testNow, wantFail: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := webhook.VerifySignature(tt.secret, tt.ts, tt.body, tt.sig, tt.now, 5*time.Minute)
			if tt.wantFail {
				require.Error(t, err)
				assert.Equal(t, sentinel.EINVALID, sentinel.ErrorCode(err))
			} else {
				require.NoError(t, err)
			}
		})
	}
}

func TestPrivate(t *testing.T) {
	tests := []struct {
		addr string
		want bool
	}{
		{"127.0.0.1", true}, {"::1", true}, {"10.1.2.3", true}, {"172.16.0.1", true}, {"192.168.1.1", true},
		{"169.254.169.254", true}, {"fe80::1", true}, {"fc00::1", true}, {"0.0.0.0", true}, {"::", true},
		{"224.0.0.1", true}, {"ff02::1", true}, {"100.64.0.1", true}, {"::ffff:127.0.0.1", true},
		{"203.0.113.7", false}, {"8.8.8.8", false}, {"2606:4700::1111", false},
		// Translated addresses are judged by the IPv4 address they carry.
		{"64:ff9b::127.0.0.1", true}, {"64:ff9b::10.0.0.1", true}, {"64:ff9b::8.8.8.8", false},
		{"2002:c0a8:0101::1", true}, {"2002:0808:0808::1", false}, {"::169.254.169.254", true},
		{"64:ff9b:1::1", true}, // local-use NAT64: the carried IPv4 cannot be told
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			assert.Equal(t, tt.want, webhook.Private(netip.MustParseAddr(tt.addr)))
		})
	}
}

// TestRefusesLoopbackUnlessAllowed: the check is made on the address the
// dialer connects to; the receiver never sees the request, and the error
// names the host but not the URL's secret path or query.
func TestRefusesLoopbackUnlessAllowed(t *testing.T) {
	rcv := newReceiver(t, nil)
	target := rcv.srv.URL + "/secret-token-path?access_token=secret-token"
	for _, name := range []string{"by address", "by name"} {
		t.Run(name, func(t *testing.T) {
			u := target
			if name == "by name" {
				u = strings.Replace(target, "127.0.0.1", "localhost", 1)
			}
			n := webhook.New(webhook.Options{})
			_, err := n.Send(context.Background(), u, testAlert())
			require.Error(t, err)
			assert.Equal(t, sentinel.EINVALID, sentinel.ErrorCode(err))
			assert.Contains(t, err.Error(), "ALERT_WEBHOOK_ALLOW_PRIVATE")
			assert.NotContains(t, err.Error(), "secret-token")
		})
	}
	assert.Empty(t, rcv.requests())

	n := webhook.New(webhook.Options{AllowPrivate: true})
	_, err := n.Send(context.Background(), target, testAlert())
	require.NoError(t, err)
	assert.Len(t, rcv.requests(), 1)
}

func TestErrorsNameTheHostOnly(t *testing.T) {
	rcv := newReceiver(t, func(int) int { return http.StatusForbidden })
	n := webhook.New(webhook.Options{AllowPrivate: true})
	_, err := n.Send(context.Background(), rcv.srv.URL+"/T000/secret-token", testAlert())
	require.Error(t, err)
	assert.Contains(t, err.Error(), strings.TrimPrefix(rcv.srv.URL, "http://"))
	assert.Contains(t, err.Error(), "403")
	assert.NotContains(t, err.Error(), "secret-token")
}

// poll waits for cond, failing after a deadline.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDeliveredAfterReceiverRecovers: the receiver's port refuses
// connections at first, then a server starts on it; the alert is delivered
// by a retry, within the attempts allowed.
func TestDeliveredAfterReceiverRecovers(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close()) // down: connections are refused

	n := webhook.New(webhook.Options{URL: "http://" + addr + "/hook", AllowPrivate: true,
		InitialBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, MaxAttempts: 50})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	n.Notify(testAlert())
	poll(t, "two attempts failed", func() bool { return n.Stats().Attempts >= 2 })
	require.Zero(t, n.Stats().Delivered)

	l, err = net.Listen("tcp", addr) // up again on the same port
	require.NoError(t, err)
	var got sync.WaitGroup
	got.Add(1)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		got.Done()
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	poll(t, "the alert is delivered", func() bool { return n.Stats().Delivered == 1 })
	got.Wait()
	st := n.Stats()
	assert.Zero(t, st.Failed)
	assert.LessOrEqual(t, st.Attempts, int64(50))
}

func TestServerErrorsRetriedClientErrorsNot(t *testing.T) {
	tests := []struct {
		name              string
		status            func(n int) int
		wantRequests      int
		delivered, failed int64
	}{
		{name: "503 then 200", status: func(n int) int {
			if n < 3 {
				return http.StatusServiceUnavailable
			}
			return http.StatusOK
		}, wantRequests: 3, delivered: 1},
		{name: "429 then 200", status: func(n int) int {
			if n < 2 {
				return http.StatusTooManyRequests
			}
			return http.StatusOK
		}, wantRequests: 2, delivered: 1},
		{name: "404 is final", status: func(int) int { return http.StatusNotFound }, wantRequests: 1, failed: 1},
		{name: "always 500, budget of 4", status: func(int) int { return http.StatusInternalServerError }, wantRequests: 4, failed: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv := newReceiver(t, tt.status)
			n := webhook.New(webhook.Options{URL: rcv.srv.URL, AllowPrivate: true,
				InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, MaxAttempts: 4})
			n.Notify(testAlert())
			left := n.Drain(context.Background())
			assert.Zero(t, left)
			assert.Len(t, rcv.requests(), tt.wantRequests)
			st := n.Stats()
			assert.Equal(t, tt.delivered, st.Delivered)
			assert.Equal(t, tt.failed, st.Failed)
		})
	}
}

// TestOverflowDropsOldest: a full queue drops its oldest alert and counts
// it; the newest are delivered in order.
func TestOverflowDropsOldest(t *testing.T) {
	rcv := newReceiver(t, nil)
	n := webhook.New(webhook.Options{URL: rcv.srv.URL, AllowPrivate: true, QueueSize: 3})
	for i := 1; i <= 5; i++ {
		a := testAlert()
		a.Count = int64(i)
		n.Notify(a)
	}
	st := n.Stats()
	assert.EqualValues(t, 2, st.Dropped)
	assert.EqualValues(t, 3, st.Queued)
	require.Zero(t, n.Drain(context.Background()))
	var counts []int64
	for _, r := range rcv.requests() {
		var g struct{ Count int64 }
		require.NoError(t, json.Unmarshal(r.Body, &g))
		counts = append(counts, g.Count)
	}
	assert.Equal(t, []int64{3, 4, 5}, counts)
}

// TestDrainIsBounded: with a receiver that never answers, Drain returns at
// its deadline and reports what is left.
func TestDrainIsBounded(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	n := webhook.New(webhook.Options{URL: srv.URL, AllowPrivate: true, AttemptTimeout: time.Minute})
	n.Notify(testAlert())
	n.Notify(testAlert())
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	assert.Equal(t, 2, n.Drain(ctx), "both alerts are still queued")
	assert.EqualValues(t, 2, n.Stats().Queued)
}

func TestSendWithoutURL(t *testing.T) {
	n := webhook.New(webhook.Options{})
	for _, u := range []string{"", "ftp://example.com/x", "not a url"} {
		_, err := n.Send(context.Background(), u, testAlert())
		require.Error(t, err)
		assert.Equal(t, sentinel.EINVALID, sentinel.ErrorCode(err))
	}
}

// TestChatAppErrors: Feishu and DingTalk answer 200 with an error code in
// the body (Feishu "code", DingTalk "errcode"); that is a failed delivery.
func TestChatAppErrors(t *testing.T) {
	tests := []struct {
		format webhook.Format
		answer string
		ok     bool
	}{
		{webhook.FormatFeishu, `{"code":19021,"msg":"sign match fail or timestamp is not within one hour from current time"}`, false},
		{webhook.FormatFeishu, `{"code":0,"msg":"success"}`, true},
		{webhook.FormatFeishu, `{"StatusCode":0,"StatusMessage":"success"}`, true},
		{webhook.FormatDingTalk, `{"errcode":310000,"errmsg":"sign not match"}`, false},
		{webhook.FormatDingTalk, `{"errcode":0,"errmsg":"ok"}`, true},
		{webhook.FormatGeneric, `{"code":1}`, true},
	}
	for _, tt := range tests {
		t.Run(string(tt.format)+" "+tt.answer, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, tt.answer)
			}))
			t.Cleanup(srv.Close)
			n := webhook.New(webhook.Options{Format: tt.format, AllowPrivate: true})
			res, err := n.Send(context.Background(), srv.URL, testAlert())
			assert.Equal(t, http.StatusOK, res.Status)
			if tt.ok {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
				assert.Contains(t, err.Error(), "refused the message")
			}
		})
	}
}
