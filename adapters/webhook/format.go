package webhook

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	sentinel "github.com/keyipsentinel/sentinel"
)

// Format is the body an alert is sent as.
type Format string

// Formats (ALERT_WEBHOOK_FORMAT). FormatAuto picks one from the URL's host.
const (
	FormatAuto     Format = ""
	FormatGeneric  Format = "generic"  // Sentinel's own JSON, signed with X-Sentinel-Signature
	FormatSlack    Format = "slack"    // Slack incoming webhook
	FormatFeishu   Format = "feishu"   // Feishu / Lark custom bot
	FormatDingTalk Format = "dingtalk" // DingTalk custom robot
)

// ParseFormat returns the format named s ("" or "auto" is FormatAuto), or
// EINVALID naming ALERT_WEBHOOK_FORMAT.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(strings.TrimSpace(s))); f {
	case FormatAuto, FormatGeneric, FormatSlack, FormatFeishu, FormatDingTalk:
		return f, nil
	case "auto":
		return FormatAuto, nil
	case "lark":
		return FormatFeishu, nil
	}
	return "", sentinel.Errorf(sentinel.EINVALID,
		"ALERT_WEBHOOK_FORMAT must be auto, generic, slack, feishu (or lark) or dingtalk, got %q", s)
}

// DetectFormat returns the format the service behind u expects, by its
// host; FormatGeneric for any other host.
func DetectFormat(u *url.URL) Format {
	switch strings.ToLower(u.Hostname()) {
	case "hooks.slack.com":
		return FormatSlack
	case "open.feishu.cn", "open.larksuite.com":
		return FormatFeishu
	case "oapi.dingtalk.com":
		return FormatDingTalk
	}
	return FormatGeneric
}

// genericAlert is the generic JSON body. Field names are part of the
// receivers' contract: add, never rename.
type genericAlert struct {
	Event     string      `json:"event"`
	KeyHint   string      `json:"key_hint"`
	BindingID string      `json:"binding_id"`
	Rule      genericRule `json:"rule"`
	Count     int64       `json:"count"`
	Threshold int         `json:"threshold"`
	IPs       []genericIP `json:"ips"`
	Window    struct {
		Start time.Time `json:"start"`
		End   time.Time `json:"end"`
	} `json:"window"`
	FirstRefusalAt time.Time `json:"first_refusal_at"`
	LastRefusalAt  time.Time `json:"last_refusal_at"`
	ConsoleURL     string    `json:"console_url,omitempty"`
}

type genericRule struct {
	Kind string `json:"kind"`
	Spec string `json:"spec"`
}

type genericIP struct {
	IP    string `json:"ip"`
	Count int64  `json:"count"`
}

func genericBody(a sentinel.Alert) ([]byte, error) {
	g := genericAlert{
		Event: a.Event, KeyHint: a.Hint, BindingID: a.BindingID,
		Rule:  genericRule{Kind: string(a.RuleKind), Spec: a.Rule},
		Count: a.Count, Threshold: a.Threshold, IPs: []genericIP{},
		FirstRefusalAt: a.First.UTC(), LastRefusalAt: a.Last.UTC(), ConsoleURL: a.ConsoleURL,
	}
	g.Window.Start, g.Window.End = a.Window.Start.UTC(), a.Window.End.UTC()
	for _, ip := range a.IPs {
		g.IPs = append(g.IPs, genericIP{IP: ip.IP.String(), Count: ip.Count})
	}
	return json.Marshal(g)
}

// summary is the one-line headline of an alert.
func summary(a sentinel.Alert) string {
	return fmt.Sprintf("Key-IP Sentinel: key %s refused %d times in %v (threshold %d)",
		a.Hint, a.Count, a.Window.End.Sub(a.Window.Start), a.Threshold)
}

// details are the alert's facts as label/value lines, for the chat formats.
func details(a sentinel.Alert) [][2]string {
	rule := "none (no binding)"
	if a.Rule != "" {
		rule = string(a.RuleKind) + " " + a.Rule
	}
	ips := make([]string, 0, len(a.IPs))
	for _, ip := range a.IPs {
		ips = append(ips, ip.IP.String()+" ×"+strconv.FormatInt(ip.Count, 10))
	}
	if len(ips) == 0 {
		ips = append(ips, "unknown")
	}
	const ts = "2006-01-02 15:04:05Z07:00"
	d := [][2]string{
		{"Binding", a.BindingID},
		{"Bound rule", rule},
		{"Refused addresses", strings.Join(ips, ", ")},
		{"Window", a.Window.Start.UTC().Format(ts) + " – " + a.Window.End.UTC().Format(ts)},
		{"First refusal", a.First.UTC().Format(ts)},
		{"Last refusal", a.Last.UTC().Format(ts)},
	}
	if a.ConsoleURL != "" {
		d = append(d, [2]string{"Console", a.ConsoleURL})
	}
	return d
}

func plainText(a sentinel.Alert) string {
	var b strings.Builder
	b.WriteString(summary(a))
	for _, d := range details(a) {
		b.WriteString("\n" + d[0] + ": " + d[1])
	}
	return b.String()
}

// slackEscape escapes the three characters Slack's mrkdwn gives meaning
// to ("Formatting text for app surfaces": &, <, >).
var slackEscape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// Slack incoming webhook body ("Sending messages using incoming webhooks"
// and the Block Kit reference): top-level "text" (the notification
// fallback) and "blocks"; a "header" block takes "plain_text", a "section"
// block "text" or "fields" of "mrkdwn" text objects, an "actions" block
// "elements" such as a "button" with "text" and "url".
type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type slackBlock struct {
	Type     string         `json:"type"`
	Text     *slackText     `json:"text,omitempty"`
	Fields   []slackText    `json:"fields,omitempty"`
	Elements []slackElement `json:"elements,omitempty"`
}

type slackElement struct {
	Type string    `json:"type"`
	Text slackText `json:"text"`
	URL  string    `json:"url"`
}

type slackMessage struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks"`
}

func slackBody(a sentinel.Alert) ([]byte, error) {
	m := slackMessage{Text: summary(a)}
	m.Blocks = append(m.Blocks, slackBlock{Type: "header", Text: &slackText{Type: "plain_text", Text: "Key refused from other addresses"}})
	m.Blocks = append(m.Blocks, slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: slackEscape.Replace(summary(a))}})
	var fields []slackText
	for _, d := range details(a) {
		if d[0] == "Console" {
			continue
		}
		fields = append(fields, slackText{Type: "mrkdwn", Text: "*" + d[0] + "*\n" + slackEscape.Replace(d[1])})
	}
	// A section holds at most 10 fields (Block Kit reference, section block).
	m.Blocks = append(m.Blocks, slackBlock{Type: "section", Fields: fields[:min(len(fields), 10)]})
	if a.ConsoleURL != "" {
		m.Blocks = append(m.Blocks, slackBlock{Type: "actions", Elements: []slackElement{{
			Type: "button", Text: slackText{Type: "plain_text", Text: "Open in console"}, URL: a.ConsoleURL,
		}}})
	}
	return json.Marshal(m)
}

// Feishu/Lark custom bot body ("Custom bot guide"): "msg_type" "text" with
// "content": {"text": ...}; when the bot has signature verification on,
// "timestamp" (Unix seconds, as a string) and "sign" beside them.
type feishuMessage struct {
	Timestamp string `json:"timestamp,omitempty"`
	Sign      string `json:"sign,omitempty"`
	MsgType   string `json:"msg_type"`
	Content   struct {
		Text string `json:"text"`
	} `json:"content"`
}

func feishuBody(a sentinel.Alert, secret string, now time.Time) ([]byte, error) {
	m := feishuMessage{MsgType: "text"}
	m.Content.Text = plainText(a)
	if secret != "" {
		m.Timestamp = strconv.FormatInt(now.Unix(), 10)
		m.Sign = feishuSign(secret, m.Timestamp)
	}
	return json.Marshal(m)
}

// DingTalk custom robot body ("Custom robot: send messages", message type
// markdown): "msgtype" "markdown" with "markdown": {"title", "text"}; the
// signature travels in the "timestamp" and "sign" query parameters.
type dingtalkMessage struct {
	MsgType  string `json:"msgtype"`
	Markdown struct {
		Title string `json:"title"`
		Text  string `json:"text"`
	} `json:"markdown"`
}

func dingtalkBody(a sentinel.Alert) ([]byte, error) {
	m := dingtalkMessage{MsgType: "markdown"}
	m.Markdown.Title = "Key-IP Sentinel: key " + a.Hint + " refused"
	var b strings.Builder
	b.WriteString("### " + summary(a) + "\n\n")
	for _, d := range details(a) {
		if d[0] == "Console" {
			b.WriteString("- **" + d[0] + "**: [open the binding](" + d[1] + ")\n")
			continue
		}
		b.WriteString("- **" + d[0] + "**: " + d[1] + "\n")
	}
	m.Markdown.Text = b.String()
	return json.Marshal(m)
}

// dingtalkURL adds DingTalk's signature parameters to u.
func dingtalkURL(u *url.URL, secret string, now time.Time) *url.URL {
	if secret == "" {
		return u
	}
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	c := *u
	q := c.Query()
	q.Set("timestamp", ts)
	q.Set("sign", dingtalkSign(secret, ts)) // Encode URL-encodes it, as DingTalk asks
	c.RawQuery = q.Encode()
	return &c
}
