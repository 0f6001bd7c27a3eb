package httpproxy

import (
	"path"
	"strings"
)

// keyRoutePrefixes are the routes where New API authenticates API keys
// (its TokenAuth middleware; DESIGN.md): a first-use binding is made only
// there, because only there does the gateway's answer say whether the key
// is a key (a 401 makes the Middleware forget it again). /v1/video* and
// /v1/dashboard/billing/* are under /v1/.
var keyRoutePrefixes = []string{
	"/v1/", "/v1beta/", "/mj/", "/suno/", "/kling/", "/jimeng/",
	"/dashboard/billing/", "/api/usage/token", "/api/log/token",
}

// KeyRoute reports whether p is a route where New API authenticates API
// keys, so a key's first use there makes its binding. Matched without
// case, as prefixes; a path that is not clean ("/x/../v1/...") counts as
// a key route, since a router could map it to one. On every other route a
// bound key is still checked, and an unbound one passes without anything
// written (see MiddlewareOptions.BindAnyRoute).
func KeyRoute(p string) bool {
	if c := path.Clean(p); c != p && c+"/" != p {
		return true
	}
	lp := strings.ToLower(p)
	if lp == "/v1" || lp == "/v1beta" {
		return true
	}
	for _, pre := range keyRoutePrefixes {
		if strings.HasPrefix(lp, pre) {
			return true
		}
	}
	// /:mode/mj/*: Midjourney's mode-prefixed routes (/fast/mj/..., /relax/mj/...).
	if i := strings.IndexByte(lp[min(1, len(lp)):], '/'); i >= 0 {
		return strings.HasPrefix(lp[1+i:], "/mj/")
	}
	return false
}
