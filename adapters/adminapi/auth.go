package adminapi

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/golang-jwt/jwt/v5"
)

// JWT claims pinned on every session token.
const (
	jwtIssuer   = "key-ip-sentinel"
	jwtAudience = "sentinel-admin"
)

// session is the authenticated caller of a request.
type session struct {
	ID        string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

type ctxKey int

const (
	clientIPKey ctxKey = iota
	sessionKey
)

func clientIPOf(ctx context.Context) netip.Addr {
	a, _ := ctx.Value(clientIPKey).(netip.Addr)
	return a
}

func sessionOf(ctx context.Context) session {
	s, _ := ctx.Value(sessionKey).(session)
	return s
}

// middleware finds the client address of every request and checks the
// session of every operation that declares the bearer scheme.
func (s *Server) middleware(ctx huma.Context, next func(huma.Context)) {
	r, _ := humago.Unwrap(ctx)
	ip, err := s.opts.ClientIP(r)
	if err != nil {
		huma.WriteErr(s.api, ctx, http.StatusBadRequest, "the client address could not be determined")
		return
	}
	ctx = huma.WithValue(ctx, clientIPKey, ip)
	if len(ctx.Operation().Security) == 0 {
		next(ctx)
		return
	}
	sess, err := s.verify(ctx.Header("Authorization"))
	if err != nil {
		ctx.SetHeader("WWW-Authenticate", `Bearer realm="sentinel-admin"`)
		huma.WriteErr(s.api, ctx, http.StatusUnauthorized, err.Error())
		return
	}
	next(huma.WithValue(ctx, sessionKey, sess))
}

var errNoToken = errors.New("missing bearer token; log in with POST " + Prefix + "/login")

// verify checks a bearer token: HS256 only, our issuer and audience,
// an expiry that has not passed, and a session id.
func (s *Server) verify(header string) (session, error) {
	raw, ok := strings.CutPrefix(header, "Bearer ")
	if !ok {
		raw, ok = strings.CutPrefix(header, "bearer ")
	}
	raw = strings.TrimSpace(raw)
	if !ok || raw == "" {
		return session{}, errNoToken
	}
	var claims sessionClaims
	_, err := jwt.ParseWithClaims(raw, &claims, func(*jwt.Token) (any, error) { return s.opts.JWTSecret, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithIssuer(jwtIssuer), jwt.WithAudience(jwtAudience),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithTimeFunc(s.opts.Clock.Now))
	if err != nil || claims.ID == "" || claims.ExpiresAt == nil ||
		subtle.ConstantTimeCompare([]byte(claims.Password), []byte(s.passwordMark())) != 1 {
		return session{}, errors.New("invalid or expired session; log in again")
	}
	sess := session{ID: claims.ID, ExpiresAt: claims.ExpiresAt.Time}
	if claims.IssuedAt != nil {
		sess.IssuedAt = claims.IssuedAt.Time
	}
	return sess, nil
}

// LoginInput is the login request.
type LoginInput struct {
	Body struct {
		Password string `json:"password" minLength:"1" maxLength:"1024" doc:"The admin password (ADMIN_PASSWORD)." example:"correct horse battery staple"`
	}
}

// LoginOutput is a new session.
type LoginOutput struct {
	Body struct {
		AccessToken string `json:"access_token" doc:"Send as Authorization: Bearer <access_token>."`
		TokenType   string `json:"token_type" enum:"bearer" example:"bearer"`
		ExpiresIn   int64  `json:"expires_in" doc:"Seconds until the token expires." example:"43200"`
	}
}

// SessionOutput describes the caller's session.
type SessionOutput struct {
	Body struct {
		SessionID string    `json:"session_id" doc:"Random id of this session; audit entries name it."`
		ClientIP  string    `json:"client_ip" doc:"The address this request came from, as the admin API sees it."`
		IssuedAt  time.Time `json:"issued_at"`
		ExpiresAt time.Time `json:"expires_at"`
	}
}

func (s *Server) registerAuth() {
	huma.Register(s.api, huma.Operation{
		OperationID: "login", Method: http.MethodPost, Path: Prefix + "/login",
		Summary: "Log in", Tags: []string{"session"},
		Description: "Exchanges the admin password for a session token. Failed attempts are counted " +
			"per client address; too many lock the address out for a while (429 with Retry-After).",
		Errors: []int{http.StatusUnauthorized, http.StatusUnprocessableEntity, http.StatusTooManyRequests, http.StatusServiceUnavailable},
	}, s.login)
	huma.Register(s.api, huma.Operation{
		OperationID: "getSession", Method: http.MethodGet, Path: Prefix + "/session",
		Summary: "Describe the current session", Tags: []string{"session"}, Security: secured,
		Errors: []int{http.StatusUnauthorized},
	}, func(ctx context.Context, _ *struct{}) (*SessionOutput, error) {
		sess := sessionOf(ctx)
		out := &SessionOutput{}
		out.Body.SessionID = sess.ID
		out.Body.ClientIP = addrText(clientIPOf(ctx))
		out.Body.IssuedAt = sess.IssuedAt.UTC()
		out.Body.ExpiresAt = sess.ExpiresAt.UTC()
		return out, nil
	})
}

func (s *Server) login(ctx context.Context, in *LoginInput) (*LoginOutput, error) {
	ip := clientIPOf(ctx)
	who := loginSubject(ip)
	failKey, lockKey := "login:"+who, "login-lock:"+who
	locked, err := s.opts.Logins.Count(ctx, lockKey)
	if err != nil {
		return nil, s.httpError(ctx, err)
	}
	if locked > 0 {
		return nil, s.lockedOut(ctx, lockKey)
	}
	// The attempt is counted before the password is compared: guesses sent
	// together each take their slot first, so no more than
	// LoginMaxFailures are ever compared in one window, however many run
	// at once. A success clears the count.
	n, err := s.opts.Logins.Hit(ctx, failKey, s.opts.LoginLockout)
	if err != nil {
		return nil, s.httpError(ctx, err)
	}
	max := int64(s.opts.LoginMaxFailures)
	// Hash both sides so the comparison takes the same time whatever the
	// lengths.
	if n > max || subtle.ConstantTimeCompare(digest(in.Body.Password), digest(s.opts.Password)) != 1 {
		s.loginFailures.Add(1)
		if n >= max {
			if _, err := s.opts.Logins.Hit(ctx, lockKey, s.opts.LoginLockout); err != nil {
				return nil, s.httpError(ctx, err)
			}
			// The failure count is not cleared: guesses still in flight then
			// count past the limit and are refused without a comparison. It
			// ends with its window, which opened before the lockout did.
			s.lockouts.Add(1)
			s.opts.Logger.WarnContext(ctx, "admin login locked out", "client_ip", ip, "failures", n)
			return nil, s.lockedOut(ctx, lockKey)
		}
		return nil, huma.Error401Unauthorized("wrong password")
	}
	if err := s.opts.Logins.Clear(ctx, failKey); err != nil {
		return nil, s.httpError(ctx, err)
	}
	now := s.opts.Clock.Now()
	id := randomID()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, sessionClaims{RegisteredClaims: jwt.RegisteredClaims{
		Issuer: jwtIssuer, Audience: jwt.ClaimStrings{jwtAudience}, Subject: "admin", ID: id,
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(s.opts.SessionTTL)),
	}, Password: s.passwordMark()})
	signed, err := tok.SignedString(s.opts.JWTSecret)
	if err != nil {
		return nil, s.httpError(ctx, err)
	}
	s.opts.Logger.InfoContext(ctx, "admin logged in", "session", id, "client_ip", ip)
	out := &LoginOutput{}
	out.Body.AccessToken = signed
	out.Body.TokenType = "bearer"
	out.Body.ExpiresIn = int64(s.opts.SessionTTL / time.Second)
	return out, nil
}

// sessionClaims are an admin session's JWT claims. Password marks the
// password the session was opened with, so changing ADMIN_PASSWORD ends
// every session opened with the old one.
type sessionClaims struct {
	jwt.RegisteredClaims
	Password string `json:"pwd"`
}

// passwordMark identifies the current password without revealing it: an
// HMAC under the session secret, cut to 16 hex digits.
func (s *Server) passwordMark() string {
	mac := hmac.New(sha256.New, s.opts.JWTSecret)
	mac.Write([]byte("admin-password:" + s.opts.Password))
	return hex.EncodeToString(mac.Sum(nil)[:8])
}

// loginSubject names whom failed logins are counted against: the client
// address, or its /64 for IPv6, where one host holds the whole /64 and
// would otherwise get a fresh count from every address in it.
func loginSubject(ip netip.Addr) string {
	if ip.Is6() && !ip.Is4In6() {
		return netip.PrefixFrom(ip, 64).Masked().String()
	}
	return ip.String()
}

// ttler is what a WindowCounter may offer to tell when a lockout ends.
type ttler interface {
	TTL(ctx context.Context, name string) (time.Duration, error)
}

func (s *Server) lockedOut(ctx context.Context, lockKey string) error {
	left := s.opts.LoginLockout
	if t, ok := s.opts.Logins.(ttler); ok {
		if d, err := t.TTL(ctx, lockKey); err == nil && d > 0 {
			left = d
		}
	}
	secs := int64((left + time.Second - 1) / time.Second)
	return huma.ErrorWithHeaders(
		huma.Error429TooManyRequests("too many failed logins from this address; try again in "+strconv.FormatInt(secs, 10)+" seconds"),
		http.Header{"Retry-After": {strconv.FormatInt(secs, 10)}})
}

func digest(s string) []byte {
	h := sentinelDigest(s)
	return h[:]
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func sentinelDigest(s string) [32]byte { return sha256.Sum256([]byte(s)) }
