// Command sentinel-proxy runs only Sentinel's proxy, for production
// deployments that run several proxies against one PostgreSQL and Valkey.
package main

import (
	"os"

	"github.com/keyipsentinel/sentinel/cmd/internal/app"
)

func main() { os.Exit(app.Main(app.ProxyOnly, "sentinel-proxy", os.Args[1:])) }
