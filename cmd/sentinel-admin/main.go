// Command sentinel-admin runs Sentinel's administrative tasks for
// production deployments: today the PostgreSQL schema migrations.
//
//	sentinel-admin migrate up|down|status
package main

import (
	"os"

	"github.com/keyipsentinel/sentinel/cmd/internal/app"
)

func main() { os.Exit(app.Main(app.AdminOnly, "sentinel-admin", os.Args[1:])) }
