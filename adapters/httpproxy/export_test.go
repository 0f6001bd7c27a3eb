package httpproxy

import (
	"log/slog"
	"net/http"
)

// WrapForAccessLogTest is withAccessLog for the external tests.
func WrapForAccessLogTest(log *slog.Logger, next http.Handler) http.Handler {
	return withAccessLog(log, nil, next)
}
