package httpproxy

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"path"
	"strings"

	sentinel "github.com/keyipsentinel/sentinel"
)

// Places New API reads a key from (checked against its TokenAuth
// middleware). Every value of every one is read, whatever the path: a
// proxy that looks at fewer places than the gateway can be bypassed.
const (
	// Canonical, so that the extraction indexes the header map without
	// canonicalizing each name again per request.
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

// WSProtocolKeys says which part of Sec-WebSocket-Protocol is a key
// (SENTINEL_WS_PROTOCOL_KEYS).
type WSProtocolKeys string

const (
	// WSProtocolLegacy reads the value as New API up to at least e2c7aa7b1
	// does: the part after "openai-insecure-api-key.", or, when there is no
	// such part, the whole raw value. A client sending "realtime" beside an
	// Authorization key is then ambiguous and refused, which is right for
	// those versions: they take "realtime" as the key. The default, since it
	// is exact for the New API versions in use.
	WSProtocolLegacy WSProtocolKeys = "legacy"
	// WSProtocolInsecureAPIKey reads only the "openai-insecure-api-key."
	// part, as newer New API versions do; other tokens ("realtime",
	// "openai-beta.realtime-v1") are ignored. As a safety net against an
	// older gateway behind it, a whole value without such a part that looks
	// like a model key (see LooksLikeModelKey) is still a key.
	WSProtocolInsecureAPIKey WSProtocolKeys = "insecure-api-key"
)

// Validate returns EINVALID for an unknown value; empty means legacy.
func (m WSProtocolKeys) Validate() error {
	switch m {
	case "", WSProtocolLegacy, WSProtocolInsecureAPIKey:
		return nil
	}
	return sentinel.Errorf(sentinel.EINVALID, "SENTINEL_WS_PROTOCOL_KEYS must be %q or %q, got %q",
		WSProtocolInsecureAPIKey, WSProtocolLegacy, truncateText(string(m), 32))
}

// Extractor finds the credentials of a request the way New API would read
// them. The zero value reads Sec-WebSocket-Protocol in legacy mode and lets
// dashboard credentials on /api/* pass.
type Extractor struct {
	// WSProtocolKeys is how Sec-WebSocket-Protocol is read; empty is
	// WSProtocolLegacy.
	WSProtocolKeys WSProtocolKeys
	// BindManagementTokens treats New API dashboard JWTs and personal
	// access tokens on /api/* as keys too (bound and checked). Off by
	// default: they belong to dashboard sessions, whose address may change.
	BindManagementTokens bool
}

// Credentials are what Extract found in a request.
type Credentials struct {
	// Token is the key New API reads on this path, normalised; Found tells
	// whether there is one.
	Token sentinel.Token
	Found bool
	// skPrefix records whether the client wrote Token with "sk-", for Hint.
	skPrefix bool
	// OffPath holds the other keys the request carries in places New API
	// does not read on this path (x-api-key on /v1/chat/completions, say),
	// each different from Token and from each other. They do not make the
	// request ambiguous unless one of them is a key Sentinel has bound: the
	// middleware must look each up (never bind it) and refuse the request
	// as ErrMultipleKeys when one is bound and Token is found, or decide on
	// it as the request's key when Token is not (see Promote).
	OffPath []sentinel.Token
	// Management is true when Authorization held a New API dashboard JWT or
	// personal access token on a management route, passed untouched.
	Management bool
}

// Hint returns the masked form of Token for people (intercept and binding
// hints), with "sk-" only when the client wrote it (see sentinel.Hint).
func (c Credentials) Hint() string {
	// Mask decides "sk-" by shape; here the client's own writing decides. A
	// normalised token never starts with "sk-" itself (NormalizeToken cuts
	// at the first "-"), so trimming removes only what Mask added.
	if c.skPrefix {
		return "sk-" + strings.TrimPrefix(c.Token.Mask(), "sk-")
	}
	return strings.TrimPrefix(c.Token.Mask(), "sk-")
}

// WroteSK reports whether the client wrote Token with "sk-" (for
// sentinel.Request.WroteSK, from which hints are derived when needed).
func (c Credentials) WroteSK() bool { return c.skPrefix }

// Promote returns c with off-path candidate t made the request's key, as
// the middleware does when t turns out to be bound. It returns
// ErrMultipleKeys when c already names another key.
func (c Credentials) Promote(t sentinel.Token) (Credentials, error) {
	if c.Found && !c.Token.SameKey(t) {
		return c, ErrMultipleKeys
	}
	if !c.Found {
		c.Token, c.Found, c.skPrefix = t, true, false
	}
	return c, nil
}

// ExtractToken returns the key r carries, normalised, and whether it
// carries one, with the default Extractor, counting keys in places New API
// does not read on this path as candidates too (the strict reading, for a
// caller that does not look up Credentials.OffPath). When a candidate is not
// printable ASCII it returns ErrInvalidKey, and when the candidates name
// different keys ErrMultipleKeys, each with the first candidate.
func ExtractToken(r *http.Request) (sentinel.Token, bool, error) {
	c, err := Extractor{}.Extract(r)
	if err != nil {
		// Strictly read, every candidate is the request's: an off-path
		// value that made the error is its key too.
		if !c.Found && len(c.OffPath) > 0 {
			c.Token, c.Found = c.OffPath[0], true
		}
		return c.Token, c.Found, err
	}
	for _, t := range c.OffPath {
		if !c.Found {
			c.Token, c.Found = t, true
			continue
		}
		if !c.Token.SameKey(t) {
			return c.Token, true, ErrMultipleKeys
		}
	}
	return c.Token, c.Found, nil
}

// Extract reads Authorization (Bearer or bare), x-api-key, x-goog-api-key,
// the query parameter key, Sec-WebSocket-Protocol and mj-api-secret, every
// value of each. Values from sources New API reads on r's path are the
// request's key (Token); values from the others are OffPath. A value that
// is not printable ASCII, wherever it is, gives ErrInvalidKey, and primary
// values naming different keys give ErrMultipleKeys.
func (e Extractor) Extract(r *http.Request) (Credentials, error) {
	p := ""
	if r.URL != nil {
		p = r.URL.Path
	}
	lp := strings.ToLower(p)
	mgmt := !e.BindManagementTokens && managementRoute(p)
	var x extraction

	authorization := false
	for _, v := range r.Header[headerAuthorization] {
		v = stripBearer(v)
		if v == "midjourney-proxy" {
			continue // New API then reads mj-api-secret instead
		}
		if v != "" {
			authorization = true
		}
		if mgmt && !LooksLikeModelKey(v) && IsManagementCredential(v) {
			x.management = true
			continue
		}
		x.add(v, true)
	}
	// New API reads x-api-key on paths containing /v1/messages or
	// /v1/models; matched without case, so a gateway that folds case is
	// covered too.
	anthropic := strings.Contains(lp, "/v1/messages") || strings.Contains(lp, "/v1/models")
	for _, v := range r.Header[headerAnthropicKey] {
		x.add(v, anthropic)
	}
	// x-goog-api-key and ?key= on /v1/models, /v1beta/models*,
	// /v1beta/openai/models: any path holding "/models" or under /v1beta.
	google := strings.Contains(lp, "/models") || strings.HasPrefix(lp, "/v1beta")
	for _, v := range r.Header[headerGoogleKey] {
		x.add(v, google)
	}
	if r.URL != nil && r.URL.RawQuery != "" {
		// No shortcut on the literal "key": "%6Bey" names it too.
		eachQueryValue(r.URL.RawQuery, queryKey, func(v string) { x.add(v, google) })
	}
	for _, v := range r.Header[headerWSProtocol] {
		x.add(webSocketKey(v, e.WSProtocolKeys), true)
	}
	// mj-api-secret is read only when Authorization is empty or
	// "midjourney-proxy".
	for _, v := range r.Header[headerMidjourney] {
		x.add(stripBearer(v), !authorization)
	}
	x.dropOffPathDuplicates()
	return Credentials{Token: x.tok, Found: x.found, skPrefix: x.skPrefix, OffPath: x.offPath, Management: x.management}, x.err
}

type extraction struct {
	tok        sentinel.Token
	skPrefix   bool
	found      bool
	offPath    []sentinel.Token
	management bool
	err        error
}

func (x *extraction) add(raw string, primary bool) {
	t := sentinel.NormalizeToken(raw)
	if t == "" {
		return // New API finds no key here either
	}
	if !t.Valid() && x.err == nil {
		x.err = ErrInvalidKey
	}
	if !primary {
		x.offPath = append(x.offPath, t)
		return
	}
	if !x.found {
		s := strings.TrimSpace(raw)
		x.tok, x.skPrefix, x.found = t, len(s) >= 3 && strings.EqualFold(s[:3], "sk-"), true
		return
	}
	if !x.tok.SameKey(t) && x.err == nil {
		x.err = ErrMultipleKeys
	}
}

// dropOffPathDuplicates keeps only off-path candidates that name a key the
// primary one does not, once each.
func (x *extraction) dropOffPathDuplicates() {
	out := x.offPath[:0]
next:
	for _, t := range x.offPath {
		if x.found && x.tok.SameKey(t) {
			continue
		}
		for _, u := range out {
			if u.SameKey(t) {
				continue next
			}
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		out = nil
	}
	x.offPath = out
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
// one starting with "openai-insecure-api-key" (the key follows a dot). With
// no such part, legacy mode takes the whole raw value as the key (as New
// API e2c7aa7b1 does); insecure-api-key mode takes it only when it looks
// like a model key, which an older gateway behind Sentinel could accept.
func webSocketKey(v string, mode WSProtocolKeys) string {
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
	if mode == WSProtocolInsecureAPIKey && !LooksLikeModelKey(v) {
		return ""
	}
	return v
}

// LooksLikeModelKey reports whether the raw credential v has the shape of
// a New API model key: "sk-" in front (any case), or 48 characters of
// [0-9A-Za-z] once normalised. Such a value is checked on every route,
// whatever else it could be.
func LooksLikeModelKey(v string) bool {
	v = strings.TrimSpace(v)
	if len(v) >= 3 && strings.EqualFold(v[:3], "sk-") {
		return true
	}
	t := sentinel.NormalizeToken(v)
	if len(t) != 48 {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// managementRoute reports whether New API reads Authorization on p as a
// dashboard credential rather than an API key: /api/* except
// /api/usage/token and /api/log/token. Only a clean path counts ("/api/../v1"
// and "/api//usage/token" are checked as any other route), and the two key
// routes are matched without case and as prefixes, so every spelling a
// router could map to them stays checked.
func managementRoute(p string) bool {
	if !strings.HasPrefix(p, "/api/") {
		return false
	}
	if c := path.Clean(p); c != p && c+"/" != p {
		return false
	}
	lp := strings.ToLower(p)
	return !strings.HasPrefix(lp, "/api/usage/token") && !strings.HasPrefix(lp, "/api/log/token")
}

// IsManagementCredential reports whether v (the Authorization value without
// "Bearer ") is a New API dashboard credential: a JWT whose header says
// HS256 and whose claims say issuer "new-api" and audience
// "new-api-dashboard" (read, not verified: this only classifies, the
// gateway verifies), or a personal access token (standard base64, 28 to 32
// characters).
func IsManagementCredential(v string) bool {
	return isDashboardJWT(v) || isAccessToken(v)
}

func isAccessToken(v string) bool {
	if len(v) < 28 || len(v) > 32 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '+' || c == '/' || c == '=') {
			return false
		}
	}
	return true
}

// maxJWTLen bounds the work spent decoding a would-be JWT.
const maxJWTLen = 8 << 10

func isDashboardJWT(v string) bool {
	if len(v) > maxJWTLen || strings.Count(v, ".") != 2 {
		return false
	}
	parts := strings.Split(v, ".")
	if parts[2] == "" {
		return false
	}
	var header struct {
		Alg string `json:"alg"`
	}
	var claims struct {
		Iss string          `json:"iss"`
		Aud json.RawMessage `json:"aud"`
	}
	if !decodeJWTPart(parts[0], &header) || !decodeJWTPart(parts[1], &claims) {
		return false
	}
	if header.Alg != "HS256" || claims.Iss != "new-api" {
		return false
	}
	var one string
	if json.Unmarshal(claims.Aud, &one) == nil {
		return one == "new-api-dashboard"
	}
	var many []string
	if json.Unmarshal(claims.Aud, &many) == nil {
		for _, a := range many {
			if a == "new-api-dashboard" {
				return true
			}
		}
	}
	return false
}

func decodeJWTPart(s string, v any) bool {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return false
	}
	return json.Unmarshal(b, v) == nil
}

func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
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
