package httpproxy

import (
	"bufio"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// accessWriter is the ResponseWriter the access log hands down: it counts
// what is written and holds what handlers further in tell the log (the
// masked key, through SetAccessHint). Unwrap lets http.ResponseController
// reach the real writer to flush and to hijack.
type accessWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	hint   string
}

func (a *accessWriter) WriteHeader(code int) {
	if a.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		a.status = code
	}
	a.ResponseWriter.WriteHeader(code)
}

func (a *accessWriter) Write(b []byte) (int, error) {
	if a.status == 0 {
		a.status = http.StatusOK
	}
	n, err := a.ResponseWriter.Write(b)
	a.bytes += int64(n)
	return n, err
}

func (a *accessWriter) Unwrap() http.ResponseWriter { return a.ResponseWriter }

// Hijack is here, not only through Unwrap, because ReverseProxy hijacks
// upgraded connections through http.ResponseController, which finds it
// either way; a direct type assertion by older code finds it too.
func (a *accessWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if a.status == 0 {
		a.status = http.StatusSwitchingProtocols
	}
	return http.NewResponseController(a.ResponseWriter).Hijack()
}

// SetAccessHint tells the access log the masked key (sentinel.Token.Mask,
// never the key) of the request w answers; w is the writer a handler
// inside the Proxy received, possibly wrapped (Unwrap is followed). It is
// a no-op when the access log is off. The Middleware calls it once it has
// found the key.
func SetAccessHint(w http.ResponseWriter, hint string) {
	for w != nil {
		if a, ok := w.(*accessWriter); ok {
			a.hint = hint
			return
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return
		}
		w = u.Unwrap()
	}
}

// maxLoggedPath bounds the path in an access log line.
const maxLoggedPath = 512

// withAccessLog logs one line per request after next has answered:
// method, path (never the query: it may hold the key), status, bytes
// written, duration, client address, masked key (when the Middleware
// reported one) and request id.
func withAccessLog(log *slog.Logger, resolver *ClientIPResolver, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		client := ""
		if a, err := resolver.Resolve(r); err == nil {
			client = a.String()
		}
		aw := &accessWriter{ResponseWriter: w}
		next.ServeHTTP(aw, r)
		path := r.URL.Path
		if len(path) > maxLoggedPath {
			path = path[:maxLoggedPath]
		}
		status := aw.status
		if status == 0 {
			status = http.StatusOK // nothing written: net/http answers 200
		}
		log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method), slog.String("path", path), slog.Int("status", status),
			slog.Int64("bytes", aw.bytes), slog.Duration("duration", time.Since(start)),
			slog.String("client_ip", client), slog.String("key", aw.hint),
			slog.String("request_id", RequestIDFrom(r)))
	})
}
