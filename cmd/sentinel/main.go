// Command sentinel is Key-IP Sentinel in one process: the proxy that binds
// each API key to the first client address that uses it, with the embedded
// SQLite store when no PostgreSQL is configured.
//
//	sentinel [serve] [flags]
//	sentinel migrate up|down|status
package main

import (
	"os"

	"github.com/keyipsentinel/sentinel/cmd/internal/app"
)

func main() {
	app.TuneRuntime() // re-executes once with the proxy's GODEBUG setting (runtime_linux.go)
	ctx, stop := app.SignalContext()
	code := app.Main(ctx, app.AllInOne, "sentinel", os.Args[1:], app.OSEnv())
	stop()
	os.Exit(code)
}
