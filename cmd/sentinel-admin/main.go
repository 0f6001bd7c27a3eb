// Command sentinel-admin runs Sentinel's administrative tasks for
// production deployments: today the PostgreSQL schema migrations.
//
//	sentinel-admin migrate up|down|status
package main

import (
	"os"

	"github.com/keyipsentinel/sentinel/cmd/internal/app"
)

func main() {
	ctx, stop := app.SignalContext()
	code := app.Main(ctx, app.AdminOnly, "sentinel-admin", os.Args[1:], app.OSEnv())
	stop()
	os.Exit(code)
}
