package adminapi

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

// UIPrefix is where the console is served on the admin listener.
const UIPrefix = "/admin/ui/"

// consoleCSP is the console's Content-Security-Policy. Scripts come only
// from the binary's own assets (no inline script, no eval). Styles also
// allow 'unsafe-inline' because the console's charts (ECharts) render
// their tooltips as HTML strings with style attributes, which CSP would
// otherwise block; no script can be injected through a style.
const consoleCSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"

// securityHeaders are sent with every admin response, API and console.
func securityHeaders(h http.Header) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
}

// withConsole serves the console at UIPrefix in front of the API: /admin
// and /admin/ redirect to it, hashed files under assets/ are cached for a
// year, index.html never, and any other path under UIPrefix gets
// index.html so the single-page app's own routes survive a reload.
func withConsole(ui fs.FS, api http.Handler) http.Handler {
	gz := &gzipped{}
	serveFile := func(w http.ResponseWriter, r *http.Request, ui fs.FS, name string) bool {
		return gz.serveFile(w, r, ui, name)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w.Header())
		p := r.URL.Path
		switch {
		case p == "/admin" || p == "/admin/" || p == strings.TrimSuffix(UIPrefix, "/"):
			http.Redirect(w, r, UIPrefix, http.StatusMovedPermanently)
			return
		case !strings.HasPrefix(p, UIPrefix):
			api.ServeHTTP(w, r)
			return
		}
		if ui == nil {
			writeProblem(w, http.StatusNotFound, "the console is not built into this binary")
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeProblem(w, http.StatusMethodNotAllowed, "the console is read-only")
			return
		}
		w.Header().Set("Content-Security-Policy", consoleCSP)
		name := path.Clean(strings.TrimPrefix(p, UIPrefix))
		if name == "." || name == "/" {
			name = "index.html"
		}
		if serveFile(w, r, ui, name) {
			return
		}
		if strings.HasPrefix(name, "assets/") || path.Ext(name) == ".js" || path.Ext(name) == ".css" {
			// A missing asset is a stale page asking for an old build:
			// answering index.html would be parsed as a script.
			writeProblem(w, http.StatusNotFound, "no such console asset")
			return
		}
		serveFile(w, r, ui, "index.html")
	})
}

// gzipped holds the console's text files compressed, each compressed once
// on its first request: the files are embedded and never change, and the
// bundle is about a third of its size compressed.
type gzipped struct {
	files sync.Map // name → []byte
}

// compressible reports whether name is worth compressing (text, not
// already-compressed images or fonts).
func compressible(name string) bool {
	switch path.Ext(name) {
	case ".js", ".css", ".html", ".svg", ".json", ".map", ".txt":
		return true
	}
	return false
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

// serveFile serves name from ui with its caching headers, gzipped when the
// client accepts it, or returns false when it is not a regular file there.
func (g *gzipped) serveFile(w http.ResponseWriter, r *http.Request, ui fs.FS, name string) bool {
	f, err := ui.Open(name)
	if err != nil {
		return false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.IsDir() {
		return false
	}
	if strings.HasPrefix(name, "assets/") {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	var rs io.ReadSeeker
	if compressible(name) {
		w.Header().Add("Vary", "Accept-Encoding")
		if acceptsGzip(r) {
			b, err := g.compressed(f, name)
			if err != nil {
				return false
			}
			w.Header().Set("Content-Encoding", "gzip")
			if ct := mime.TypeByExtension(path.Ext(name)); ct != "" {
				w.Header().Set("Content-Type", ct) // not sniffed from gzip bytes
			}
			rs = bytes.NewReader(b)
		}
	}
	if rs == nil {
		var ok bool
		if rs, ok = f.(io.ReadSeeker); !ok {
			b, err := io.ReadAll(f)
			if err != nil {
				return false
			}
			rs = bytes.NewReader(b)
		}
	}
	// Embedded files carry no modification time; ServeContent then sends
	// no Last-Modified, and no-cache revalidates by fetching index.html
	// again, which is small.
	http.ServeContent(w, r, path.Base(name), time.Time{}, rs)
	return true
}

// compressed returns name's gzipped bytes, compressing f the first time.
func (g *gzipped) compressed(f fs.File, name string) ([]byte, error) {
	if b, ok := g.files.Load(name); ok {
		return b.([]byte), nil
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // a valid level: no error
	if _, err := io.Copy(zw, f); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	b, _ := g.files.LoadOrStore(name, buf.Bytes())
	return b.([]byte), nil
}
