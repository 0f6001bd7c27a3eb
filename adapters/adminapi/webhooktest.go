package adminapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"time"

	"github.com/danielgtaylor/huma/v2"

	sentinel "github.com/keyipsentinel/sentinel"
)

// WebhookTestInput optionally names the URL to test.
type WebhookTestInput struct {
	Body *struct {
		URL string `json:"url,omitempty" maxLength:"2048" doc:"URL to send the sample alert to; default the live alert_webhook_url. Not stored." example:"https://hooks.example.com/services/T000/B000/XXXX"`
	}
}

// WebhookTestOutput is the outcome of a test send.
type WebhookTestOutput struct {
	Body struct {
		Delivered bool   `json:"delivered" doc:"True when the receiver accepted the sample alert."`
		Status    int    `json:"status" doc:"The receiver's HTTP status; 0 when none answered." example:"200"`
		LatencyMS int64  `json:"latency_ms" doc:"How long the attempt took, in milliseconds." example:"87"`
		Host      string `json:"host" doc:"The receiver's host (the URL itself is a secret)." example:"hooks.example.com"`
		Error     string `json:"error,omitempty" doc:"Why the delivery failed, naming the host only."`
	}
}

func (s *Server) registerWebhookTest() {
	huma.Register(s.api, huma.Operation{
		OperationID: "testWebhook", Method: http.MethodPost, Path: Prefix + "/settings/webhook/test",
		Summary: "Send a sample alert to the webhook", Tags: []string{"settings"}, Security: secured,
		Description: "Posts a sample alert, in the webhook's format, to the given URL or the live one, once " +
			"(no retries), and answers with the receiver's status and the latency. Loopback, link-local and " +
			"private addresses are refused unless ALERT_WEBHOOK_ALLOW_PRIVATE is set. Audited with the host only.",
		Errors: []int{http.StatusUnauthorized, http.StatusUnprocessableEntity, http.StatusNotImplemented, http.StatusServiceUnavailable},
	}, s.testWebhook)
}

func (s *Server) testWebhook(ctx context.Context, in *WebhookTestInput) (*WebhookTestOutput, error) {
	if s.opts.WebhookSend == nil {
		return nil, huma.Error501NotImplemented("webhook test sends are not available in this process")
	}
	raw, loc := "", "body.url"
	if in.Body != nil {
		raw = in.Body.URL
	}
	if raw == "" {
		cur, _, err := s.opts.Follower.Current(ctx)
		if err != nil {
			return nil, s.httpError(ctx, err)
		}
		raw, loc = cur.AlertWebhookURL, "settings.alert_webhook_url"
		if raw == "" {
			return nil, invalid(loc, nil, sentinel.Errorf(sentinel.EINVALID, "no webhook URL is configured: set alert_webhook_url or give url"))
		}
	}
	if err := validWebhook(sentinel.Settings{AlertWebhookURL: raw}); err != nil {
		return nil, invalid(loc, nil, err)
	}
	host := ""
	if u, err := url.Parse(raw); err == nil {
		host = u.Hostname()
	}
	status, latency, err := s.opts.WebhookSend(ctx, raw, s.opts.WebhookAllowPrivate)
	out := &WebhookTestOutput{}
	out.Body.Status, out.Body.LatencyMS, out.Body.Host = status, latency.Milliseconds(), host
	if err != nil {
		if sentinel.ErrorCode(err) == sentinel.EINVALID {
			// A refused address or an unusable URL: the input's fault.
			return nil, invalid(loc, nil, err)
		}
		out.Body.Error = err.Error() // the notifier's errors name the host only
	} else {
		out.Body.Delivered = true
	}
	if s.opts.AuditLog != nil {
		a := s.audit(ctx, sentinel.AuditWebhookTest, "settings")
		a.After, _ = json.Marshal(struct {
			Host      string `json:"host"`
			Status    int    `json:"status"`
			Delivered bool   `json:"delivered"`
		}{host, status, out.Body.Delivered})
		if err := s.opts.AuditLog.AppendAudit(ctx, *a); err != nil {
			return nil, s.httpError(ctx, err)
		}
	}
	s.opts.Logger.InfoContext(ctx, "admin sent a test alert", "session", sessionOf(ctx).ID, "host", host,
		"status", status, "latency", latency.Round(time.Millisecond))
	return out, nil
}
