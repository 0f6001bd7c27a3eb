package httpproxy

import (
	"bufio"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// accessWriter is the ResponseWriter the access log hands down: it counts
// what is written. Unwrap lets http.ResponseController reach the real
// writer to flush and to hijack.
type accessWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
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

// Hijack is here, not only through Unwrap: forward (like ReverseProxy)
// hijacks upgraded connections through http.ResponseController, which
// finds it either way; a direct type assertion by older code finds it too.
func (a *accessWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if a.status == 0 {
		a.status = http.StatusSwitchingProtocols
	}
	return http.NewResponseController(a.ResponseWriter).Hijack()
}

// maxLoggedPath bounds the path in an access log line.
const maxLoggedPath = 512

// withAccessLog logs one line per request after next has answered:
// method, path (never the query: it may hold the key), status, bytes
// written, duration, client address, masked key and request id. The key
// is read here, as the Middleware reads it (one more extraction, only with
// the access log on), so the log needs nothing from the Middleware; a
// request carrying several different keys is logged with none.
func withAccessLog(log *slog.Logger, resolver *ClientIPResolver, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		client, hint := "", ""
		if a, err := resolver.Resolve(r); err == nil {
			client = a.String()
		}
		if tok, found, err := ExtractToken(r); found && err == nil {
			hint = tok.Mask()
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
			slog.Int64("bytes", aw.bytes+streamedBytes(aw.ResponseWriter)), slog.Duration("duration", time.Since(start)),
			slog.String("client_ip", client), slog.String("key", hint),
			slog.String("request_id", RequestIDFrom(r)))
	})
}
