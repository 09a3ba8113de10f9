package console

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// bundle holds the page: `make console` builds the TypeScript in ui/ into
// it (index.html, assets/). Without that build it holds placeholder.html
// only, which says how to build the page; the binary still builds and the
// API still serves.
//
//go:embed bundle
var bundle embed.FS

// contentSecurityPolicy lets the page load only its own scripts, styles and
// API: no inline script or style, no other origin, no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// views are the paths of the page's views; each serves the page, which
// reads the rest of its path and query (deep links).
var views = []string{"/map", "/services/", "/edges/", "/traces", "/logs", "/alerts", "/catalog", "/conformance", "/suggest", "/ledger"}

func (c *Console) routes() http.Handler {
	mux := http.NewServeMux()
	c.apiRoutes(mux)
	files, _ := fs.Sub(bundle, "bundle")
	index := "index.html"
	if _, err := fs.Stat(files, index); err != nil {
		index = "placeholder.html"
	}
	page, _ := fs.ReadFile(files, index)
	servePage := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(page)
	}
	assets := http.FileServerFS(files)
	mux.HandleFunc("GET /assets/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		assets.ServeHTTP(w, r)
	})
	icon, _ := fs.ReadFile(files, "favicon.svg")
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/svg+xml")
		_, _ = w.Write(icon)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(c.set.Gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /{$}", servePage)
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		for _, v := range views {
			if r.URL.Path == strings.TrimSuffix(v, "/") || strings.HasPrefix(r.URL.Path, v) {
				servePage(w, r)
				return
			}
		}
		http.NotFound(w, r)
	})
	return securityHeaders(readOnly(mux))
}

// readOnly refuses every method but GET and HEAD: nothing in the console
// changes anything.
func readOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "the console is read-only", http.StatusMethodNotAllowed)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		h.ServeHTTP(w, r)
	})
}
