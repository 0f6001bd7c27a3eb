// Command sentinel-proxy runs only Sentinel's proxy, for production
// deployments that run several proxies against one PostgreSQL and Valkey.
package main

import (
	"os"

	"github.com/keyipsentinel/sentinel/cmd/internal/app"
)

func main() {
	ctx, stop := app.SignalContext()
	code := app.Main(ctx, app.ProxyOnly, "sentinel-proxy", os.Args[1:], app.OSEnv())
	stop()
	os.Exit(code)
}
