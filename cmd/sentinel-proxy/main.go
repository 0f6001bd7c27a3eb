// Command sentinel-proxy runs only Sentinel's proxy, for production
// deployments that run several proxies against one PostgreSQL and Valkey.
package main

import (
	"os"

	"github.com/keyipsentinel/sentinel/cmd/internal/app"
)

func main() {
	app.TuneRuntime() // re-executes once with the proxy's GODEBUG setting (runtime_linux.go)
	ctx, stop := app.SignalContext()
	code := app.Main(ctx, app.ProxyOnly, "sentinel-proxy", os.Args[1:], app.OSEnv())
	stop()
	os.Exit(code)
}
