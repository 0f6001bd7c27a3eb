package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	sentinel "github.com/keyipsentinel/sentinel"
)

// Headers of the generic JSON format.
const (
	HeaderSignature = "X-Sentinel-Signature"
	HeaderTimestamp = "X-Sentinel-Timestamp"
)

// Sign returns the X-Sentinel-Signature value of a generic alert:
// "sha256=" and the hex HMAC-SHA256, keyed with secret, of the timestamp
// (Unix seconds, as sent in X-Sentinel-Timestamp), a dot and the body.
// Signing the timestamp with the body lets a receiver reject a replayed
// request whose timestamp is old, and a forged one whose timestamp was
// changed.
func Sign(secret, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// VerifySignature checks a received generic alert, for receivers and
// tests: the signature must be Sign's for secret, timestamp and body, and
// the timestamp within tolerance of now (either side, for clock skew).
// It returns EINVALID saying which check failed.
func VerifySignature(secret, timestamp string, body []byte, signature string, now time.Time, tolerance time.Duration) error {
	sec, err := strconv.ParseInt(strings.TrimSpace(timestamp), 10, 64)
	if err != nil {
		return sentinel.Errorf(sentinel.EINVALID, "webhook: %s is not a Unix time in seconds", HeaderTimestamp)
	}
	if !hmac.Equal([]byte(Sign(secret, timestamp, body)), []byte(strings.TrimSpace(signature))) {
		return sentinel.Errorf(sentinel.EINVALID, "webhook: %s does not match the body and timestamp", HeaderSignature)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return sentinel.Errorf(sentinel.EINVALID, "webhook: %s is %v away from now, beyond the tolerance of %v (a replay?)",
			HeaderTimestamp, d.Round(time.Second), tolerance)
	}
	return nil
}

// feishuSign is Feishu/Lark's custom-bot signature: the HMAC-SHA256 keyed
// with timestamp + "\n" + secret, over an empty message, base64-encoded
// ("timestamp" in seconds; Feishu's "Custom bot guide", signature
// verification).
func feishuSign(secret, timestamp string) string {
	m := hmac.New(sha256.New, []byte(timestamp+"\n"+secret))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// dingtalkSign is DingTalk's custom-robot signature: the HMAC-SHA256 keyed
// with secret over timestamp + "\n" + secret, base64-encoded (then
// URL-encoded as the sign query parameter; "timestamp" in milliseconds).
func dingtalkSign(secret, timestamp string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp + "\n" + secret))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}
