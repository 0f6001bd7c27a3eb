package sentinel

import (
	"context"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"
)

// Reason says why a request was (or, in monitor mode, would have been)
// refused. The values double as the "code" of the JSON error response.
type Reason string

// Refusal reasons.
const (
	ReasonIPNotAllowed    Reason = "ip_not_allowed"    // the key is bound elsewhere
	ReasonBanned          Reason = "key_banned"        // an operator banned the key
	ReasonMultipleKeys    Reason = "multiple_keys"     // the request carries different keys
	ReasonInvalidKey      Reason = "invalid_key"       // the key holds characters no key has
	ReasonInvalidClientIP Reason = "invalid_client_ip" // a trusted proxy sent an unparsable client address
	// ReasonTooManyNewKeys: the client's address made more new bindings
	// this minute than its budget allows (a flood of random keys); the
	// request is answered 429 and nothing is written.
	ReasonTooManyNewKeys Reason = "too_many_new_keys"
)

// Limits of the free-text fields of an intercept.
const (
	MaxPathLen      = 512
	MaxUserAgentLen = 256
	MaxRequestIDLen = 128
)

// Intercept is the audit record of one refused request (or of one request
// that monitor mode let through but would have refused).
type Intercept struct {
	ID       int64 // assigned by the store
	Key      KeyHash
	Hint     string
	ClientIP netip.Addr
	Reason   Reason
	// Enforced is false when monitor mode forwarded the request anyway.
	Enforced  bool
	Method    string
	Path      string // the URL path only: a query may carry the key
	UserAgent string
	// RequestID is the request's X-Request-Id, to find its log lines.
	RequestID string
	At        time.Time
}

// Sanitized returns i with its free-text fields made safe for any store:
// valid UTF-8, no NUL bytes, cut to their limits on a rune boundary.
func (i Intercept) Sanitized() Intercept {
	i.Method = clipText(i.Method, 16)
	i.Path = clipText(i.Path, MaxPathLen)
	i.UserAgent = clipText(i.UserAgent, MaxUserAgentLen)
	i.RequestID = clipText(i.RequestID, MaxRequestIDLen)
	i.Hint = clipText(i.Hint, MaxHintLen)
	return i
}

func clipText(s string, n int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// InterceptFilter selects intercepts for listing. Zero fields match all.
type InterceptFilter struct {
	Key    *KeyHash
	Net    netip.Prefix // client address inside this prefix
	Reason Reason
	Since  time.Time // inclusive
	Until  time.Time // exclusive

	Offset int
	Limit  int // 0 means DefaultPageSize; at most MaxPageSize
}

// Validate returns EINVALID for a filter no store can apply.
func (f InterceptFilter) Validate() error {
	if f.Offset < 0 {
		return Errorf(EINVALID, "offset must not be negative")
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && f.Until.Before(f.Since) {
		return Errorf(EINVALID, "until must not be before since")
	}
	if strings.IndexByte(string(f.Reason), 0) >= 0 || !utf8.ValidString(string(f.Reason)) {
		return Errorf(EINVALID, "reason is not valid text")
	}
	return nil
}

// InterceptStore keeps the audit log of refusals. Every method may return
// EUNAVAILABLE.
type InterceptStore interface {
	// AddIntercepts appends intercepts in one batch; all or none are stored.
	AddIntercepts(ctx context.Context, is []Intercept) error

	// ListIntercepts returns one page of the intercepts matching f, newest
	// first, and how many match in all.
	ListIntercepts(ctx context.Context, f InterceptFilter) ([]Intercept, int, error)

	// DeleteInterceptsBefore removes intercepts older than t and returns
	// how many went (retention).
	DeleteInterceptsBefore(ctx context.Context, t time.Time) (int, error)
}
