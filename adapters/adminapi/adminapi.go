// Package adminapi is the admin HTTP API (Huma v2, OpenAPI 3.1) on top of
// the sentinel ports: login with lockout, bindings, intercept logs with CSV
// export, dashboard, live settings and the audit log. Handlers only turn
// DTOs into port calls; domain error codes become HTTP statuses in one
// place (httpError), and every error body is an RFC 9457 problem.
//
// The committed openapi.yaml (3.1) and openapi-3.0.yaml are generated from
// this package (go test -run TestOpenAPIFiles -update); the Go client in
// adminclient/ is generated from the 3.0 document.
package adminapi

import (
	"context"
	"encoding/json"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	sentinel "github.com/keyipsentinel/sentinel"
)

// Prefix is the path under which every admin route lives.
const Prefix = "/admin/api"

// Version is the API version shown in the OpenAPI document.
const Version = "1.0.0"

// Options are the ports and settings of the admin API.
type Options struct {
	// Bindings is the same wrapper chain the proxies read (caches around
	// the authority), so that caches hear every change. It must also be a
	// sentinel.AuditedBindingDeleter (unbind).
	Bindings        sentinel.BindingStore
	BindingReport   sentinel.BindingReport
	Intercepts      sentinel.InterceptStore
	InterceptReport sentinel.InterceptReport
	Audit           sentinel.AuditStore
	Settings        sentinel.SettingsStore
	// Follower computes the effective settings (stored over the
	// environment's) and reloads this process's LiveSettings after a save.
	Follower *sentinel.SettingsFollower
	// Notifier tells the other processes about a settings change.
	Notifier sentinel.SettingsNotifier
	Daily    sentinel.DailyCounter
	// Logins counts failed logins per client address (lockout).
	Logins sentinel.WindowCounter
	Hasher *sentinel.Hasher

	// ClientIP finds the client address of a request with the proxy's
	// trusted-proxy rules. Default: the socket peer.
	ClientIP func(*http.Request) (netip.Addr, error)

	// Password is the admin password; JWTSecret signs sessions (HS256).
	Password  string
	JWTSecret []byte
	// SessionTTL is how long a session lasts; default 12h.
	SessionTTL time.Duration
	// LoginMaxFailures failed logins from one address lock it out for
	// LoginLockout; defaults 5 and 15m.
	LoginMaxFailures int
	LoginLockout     time.Duration

	// Archive lists and restores archived bindings (the Archiver);
	// nil answers 501 on those routes.
	Archive Archive
	// AuditLog writes the audit entries of restores and webhook test
	// sends, which are not one store transaction with a change.
	AuditLog sentinel.AuditWriter
	// WebhookSend posts a sample alert to url for the test-send route
	// (the webhook notifier's Send) and returns the receiver's status and
	// the latency; allowPrivate is WebhookAllowPrivate. nil answers 501.
	WebhookSend func(ctx context.Context, url string, allowPrivate bool) (status int, latency time.Duration, err error)
	// WebhookAllowPrivate (ALERT_WEBHOOK_ALLOW_PRIVATE) lets a test send
	// reach loopback, link-local and private addresses.
	WebhookAllowPrivate bool

	// UI is the built console served at /admin/ui/ (adminui.FS()); nil
	// answers 404 there.
	UI fs.FS

	Clock  sentinel.Clock
	Logger *slog.Logger
}

// Archive is what the admin API uses of the sentinel.Archiver.
type Archive interface {
	ListArchived(ctx context.Context, f sentinel.ArchiveFilter) ([]sentinel.ArchivedBinding, int, error)
	Restore(ctx context.Context, id int64, audit *sentinel.AuditEntry) (sentinel.Binding, error)
}

// Server is the admin API.
type Server struct {
	opts    Options
	deleter sentinel.AuditedBindingDeleter
	api     huma.API
	handler http.Handler

	loginFailures, lockouts atomic.Int64
}

// LoginStats counts what the login endpoint refused since start, for
// metrics.
type LoginStats struct {
	// Failures are wrong passwords; Lockouts the times a client address
	// was locked out after LoginMaxFailures of them.
	Failures, Lockouts int64
}

// Stats returns the login counters.
func (s *Server) Stats() LoginStats {
	return LoginStats{Failures: s.loginFailures.Load(), Lockouts: s.lockouts.Load()}
}

// New returns the admin API over opts. It returns EINVALID when a needed
// option is missing. With every port nil it still describes itself (see
// OpenAPI), which is how the committed documents are generated.
func New(opts Options) (*Server, error) {
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = 12 * time.Hour
	}
	if opts.LoginMaxFailures <= 0 {
		opts.LoginMaxFailures = 5
	}
	if opts.LoginLockout <= 0 {
		opts.LoginLockout = 15 * time.Minute
	}
	if opts.Clock == nil {
		opts.Clock = sentinel.SystemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ClientIP == nil {
		opts.ClientIP = peerAddr
	}
	s := &Server{opts: opts}
	if opts.Bindings != nil {
		d, ok := opts.Bindings.(sentinel.AuditedBindingDeleter)
		if !ok {
			return nil, sentinel.Errorf(sentinel.EINVALID, "adminapi: the binding store cannot audit deletions")
		}
		s.deleter = d
		if opts.Password == "" {
			return nil, sentinel.Errorf(sentinel.EINVALID, "adminapi: admin password is empty")
		}
		if len(opts.JWTSecret) < 32 {
			return nil, sentinel.Errorf(sentinel.EINVALID, "adminapi: JWT secret must be at least 32 bytes")
		}
	}

	mux := http.NewServeMux()
	s.api = humago.New(mux, apiConfig())
	s.api.UseMiddleware(s.middleware)
	s.registerAuth()
	s.registerBindings()
	s.registerLogs()
	s.registerDashboard()
	s.registerSettings()
	s.registerAudit()
	s.registerArchive()
	s.registerWebhookTest()
	huma.Register(s.api, huma.Operation{
		OperationID: "health", Method: http.MethodGet, Path: Prefix + "/health",
		Summary: "Health check", Description: "Answers 200 while the admin API runs; needs no session.",
		Tags: []string{"meta"},
	}, func(context.Context, *struct{}) (*HealthOutput, error) {
		out := &HealthOutput{}
		out.Body.Status = "ok"
		return out, nil
	})
	s.handler = withConsole(opts.UI, refuseKeyQuery(s.api, mux))
	return s, nil
}

// HealthOutput is the health check's answer.
type HealthOutput struct {
	Body struct {
		Status string `json:"status" example:"ok"`
	}
}

// Handler returns the HTTP handler serving every admin route.
func (s *Server) Handler() http.Handler { return s.handler }

// OpenAPI returns the API's OpenAPI document.
func (s *Server) OpenAPI() *huma.OpenAPI { return s.api.OpenAPI() }

func apiConfig() huma.Config {
	c := huma.DefaultConfig("Key-IP Sentinel admin API", Version)
	c.Info.Description = "Manage Key-IP Sentinel: API key bindings, refused requests, " +
		"the dashboard, live settings and the audit log. Every route except login, health " +
		"and this document needs `Authorization: Bearer <access_token>` from POST /admin/api/login. " +
		"A key is never sent in a URL: look one up with POST /admin/api/bindings/lookup."
	c.OpenAPIPath = Prefix + "/openapi"
	c.DocsPath = Prefix + "/docs"
	c.SchemasPath = Prefix + "/schemas"
	// No $schema property in bodies: generated clients stay plain.
	c.CreateHooks = nil
	c.Transformers = append(c.Transformers, dropEchoedValues)
	c.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		securityScheme: {Type: "http", Scheme: "bearer", BearerFormat: "JWT",
			Description: "The access_token returned by POST /admin/api/login."},
	}
	return c
}

// dropEchoedValues removes the offending input from validation errors
// before they are written. Huma echoes it by default (ErrorDetail.Value),
// and an admin request's input may be a secret: the password, a pasted
// key, a webhook URL with its token, or a malformed body holding any of
// them. The location and the message still name what was wrong.
func dropEchoedValues(_ huma.Context, _ string, v any) (any, error) {
	if m, ok := v.(*huma.ErrorModel); ok {
		for _, d := range m.Errors {
			if d != nil {
				d.Value = nil
			}
		}
	}
	return v, nil
}

const securityScheme = "bearer"

var secured = []map[string][]string{{securityScheme: {}}}

// refuseKeyQuery answers 400 to any admin request with a key query
// parameter: a key in a URL ends up in access logs of every proxy in front.
func refuseKeyQuery(api huma.API, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, Prefix+"/") && r.URL.Query().Has("key") {
			writeProblem(w, http.StatusBadRequest,
				"API keys must not travel in URLs: use POST "+Prefix+"/bindings/lookup with the key in the body",
				&huma.ErrorDetail{Location: "query.key", Message: "not accepted on any admin route"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func peerAddr(r *http.Request) (netip.Addr, error) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return sentinel.ParseAddr(host)
}

// httpError maps a domain error to its HTTP status and problem body: the
// one place where codes become statuses. Internal errors are logged and
// shown as a generic message.
func (s *Server) httpError(ctx context.Context, err error) error {
	msg := sentinel.ErrorMessage(err)
	switch sentinel.ErrorCode(err) {
	case sentinel.EINVALID:
		return huma.Error422UnprocessableEntity(msg)
	case sentinel.ENOTFOUND:
		return huma.Error404NotFound(msg)
	case sentinel.ECONFLICT:
		return huma.Error409Conflict(msg)
	case sentinel.EUNAVAILABLE:
		s.opts.Logger.WarnContext(ctx, "admin API: store unavailable", "error", err)
		return huma.Error503ServiceUnavailable("a store is unavailable; try again")
	}
	s.opts.Logger.ErrorContext(ctx, "admin API: internal error", "error", err)
	return huma.Error500InternalServerError("internal error")
}

// invalid returns a 422 naming the input field at loc (e.g. "body.rule").
func invalid(loc string, value any, err error) error {
	msg := sentinel.ErrorMessage(err)
	return huma.Error422UnprocessableEntity("validation failed",
		&huma.ErrorDetail{Location: loc, Message: msg, Value: value})
}

// parseNet parses an IP or CIDR query value; "" is no filter.
func parseNet(loc, s string) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, nil
	}
	p, err := sentinel.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, invalid(loc, s, err)
	}
	return p, nil
}

// parseID parses a binding id.
func parseID(loc, s string) (sentinel.KeyHash, error) {
	k, err := sentinel.ParseKeyHash(s)
	if err != nil {
		return k, invalid(loc, s, sentinel.Errorf(sentinel.EINVALID, "id must be 64 lower-case hex digits"))
	}
	return k, nil
}

// writeProblem writes an RFC 9457 problem outside Huma's handlers.
func writeProblem(w http.ResponseWriter, status int, detail string, errs ...*huma.ErrorDetail) {
	m := &huma.ErrorModel{Title: http.StatusText(status), Status: status, Detail: detail, Errors: errs}
	b, _ := json.Marshal(m)
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	w.Write(b)
}
