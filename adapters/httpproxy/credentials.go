package httpproxy

import (
	"net/http"
	"net/url"
	"strings"

	sentinel "github.com/keyipsentinel/sentinel"
)

// Places New API reads a key from (checked against its TokenAuth
// middleware). Every value of every one is read, whatever the path: a
// proxy that looks at fewer places than the gateway can be bypassed.
const (
	headerAuthorization = "Authorization"
	headerAnthropicKey  = "X-Api-Key"
	headerGoogleKey     = "X-Goog-Api-Key"
	headerWSProtocol    = "Sec-Websocket-Protocol"
	headerMidjourney    = "Mj-Api-Secret"
	queryKey            = "key"
	wsKeyPrefix         = "openai-insecure-api-key"
)

// KeyError is why ExtractToken refuses a request's credentials: the
// request must be refused, never decided on. Its values are constants, so
// they cannot be reassigned, and errors.Is tells them apart; each is also
// a sentinel.Error with code EINVALID (errors.As, sentinel.ErrorCode).
type KeyError int

// Errors of ExtractToken.
const (
	// ErrMultipleKeys: the request's credentials name different keys.
	ErrMultipleKeys KeyError = iota + 1
	// ErrInvalidKey: a credential holds characters no key has (see
	// sentinel.Token.Valid).
	ErrInvalidKey
)

// Error implements error.
func (e KeyError) Error() string {
	switch e {
	case ErrMultipleKeys:
		return "the request carries more than one different API key"
	case ErrInvalidKey:
		return "the API key holds characters an API key cannot have"
	}
	return "the request's API key cannot be used"
}

// As makes a KeyError a *sentinel.Error with code EINVALID.
func (e KeyError) As(target any) bool {
	if p, ok := target.(**sentinel.Error); ok {
		*p = &sentinel.Error{Code: sentinel.EINVALID, Message: e.Error()}
		return true
	}
	return false
}

// ExtractToken returns the key r carries, normalised, and whether it
// carries one. It reads Authorization (Bearer or bare), x-api-key,
// x-goog-api-key, the query parameter key, Sec-WebSocket-Protocol (the part
// after "openai-insecure-api-key.", or the whole value when there is no such
// part, as New API does) and mj-api-secret, every value of each. When a
// candidate is not printable ASCII it returns ErrInvalidKey, and when the
// candidates name different keys ErrMultipleKeys, each with the first
// candidate.
func ExtractToken(r *http.Request) (sentinel.Token, bool, error) {
	var x extraction
	for _, v := range r.Header.Values(headerAuthorization) {
		v = stripBearer(v)
		if v == "midjourney-proxy" {
			continue // New API then reads mj-api-secret instead
		}
		x.add(v)
	}
	for _, v := range r.Header.Values(headerAnthropicKey) {
		x.add(v)
	}
	for _, v := range r.Header.Values(headerGoogleKey) {
		x.add(v)
	}
	if r.URL != nil && r.URL.RawQuery != "" {
		// No shortcut on the literal "key": "%6Bey" names it too.
		eachQueryValue(r.URL.RawQuery, queryKey, x.add)
	}
	for _, v := range r.Header.Values(headerWSProtocol) {
		x.add(webSocketKey(v))
	}
	for _, v := range r.Header.Values(headerMidjourney) {
		x.add(stripBearer(v))
	}
	if x.err != 0 {
		return x.tok, x.found, x.err
	}
	return x.tok, x.found, nil
}

type extraction struct {
	tok   sentinel.Token
	found bool
	err   KeyError // 0: none
}

func (x *extraction) add(raw string) {
	t := sentinel.NormalizeToken(raw)
	if t == "" {
		return // New API finds no key here either
	}
	if !t.Valid() {
		x.err = ErrInvalidKey
	}
	if !x.found {
		x.tok, x.found = t, true
		return
	}
	if !x.tok.SameKey(t) && x.err == 0 {
		x.err = ErrMultipleKeys
	}
}

// stripBearer removes a leading "Bearer " in any case, and surrounding space.
func stripBearer(v string) string {
	v = strings.TrimSpace(v)
	if len(v) >= 7 && strings.EqualFold(v[:7], "bearer ") {
		return strings.TrimSpace(v[7:])
	}
	return v
}

// webSocketKey mirrors New API: the comma-separated parts are searched for
// one starting with "openai-insecure-api-key" (the key follows a dot); with
// no such part the whole raw value is taken as the key.
func webSocketKey(v string) string {
	rest := v
	for rest != "" {
		part := rest
		if i := strings.IndexByte(rest, ','); i >= 0 {
			part, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		part = strings.TrimSpace(part)
		if strings.HasPrefix(part, wsKeyPrefix) {
			return strings.TrimPrefix(part, wsKeyPrefix+".")
		}
	}
	return v
}

// eachQueryValue calls fn with every value of the parameter name in the raw
// query, parsed as url.ParseQuery (and so Gin, and so New API) parses it:
// pairs split on '&', pairs holding ';' or bad escapes skipped.
func eachQueryValue(rawQuery, name string, fn func(string)) {
	for rawQuery != "" {
		var pair string
		pair, rawQuery, _ = strings.Cut(rawQuery, "&")
		if pair == "" || strings.Contains(pair, ";") {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		if k != name {
			if !strings.ContainsAny(k, "%+") {
				continue
			}
			uk, err := url.QueryUnescape(k)
			if err != nil || uk != name {
				continue
			}
		}
		if strings.ContainsAny(v, "%+") {
			uv, err := url.QueryUnescape(v)
			if err != nil {
				continue
			}
			v = uv
		}
		fn(v)
	}
}
