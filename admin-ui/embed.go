// Package adminui holds the built admin console (Vue 3 + Element Plus) so the
// Go binaries can serve it at /admin/ui/ without Node.js on the machine.
// Rebuild with `npm ci && npm run build` in this directory; the dist/ folder
// is committed and CI fails when it is stale (admin-ui/ci.sh).
package adminui

import (
	"embed"
	"io/fs"
)

// dist is the built console as committed: dist/index.html and dist/assets/*
// (hashed names, safe to cache for a long time; index.html must not be cached).
//
//go:embed all:dist
var dist embed.FS

// FS returns the built console rooted at dist/, ready for http.FS or
// http.FileServerFS with an SPA fallback to index.html.
func FS() (fs.FS, error) {
	return fs.Sub(dist, "dist")
}
