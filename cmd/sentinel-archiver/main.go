// Command sentinel-archiver moves bindings unused for ARCHIVE_DAYS into the
// archive and deletes intercepts older than LOG_RETENTION_DAYS, once
// (`sentinel-archiver once`, for cron) or every SENTINEL_ARCHIVE_INTERVAL.
// Several may run: they take turns through a lock in the store.
package main

import (
	"os"

	"github.com/keyipsentinel/sentinel/cmd/internal/app"
)

func main() {
	ctx, stop := app.SignalContext()
	code := app.Main(ctx, app.ArchiverOnly, "sentinel-archiver", os.Args[1:], app.OSEnv())
	stop()
	os.Exit(code)
}
