package httpapi

import (
	"embed"
	"io/fs"
	"net/http"
)

// uiFiles is the dashboard: static HTML, CSS and JavaScript that read the
// API from the browser, so it needs no build step and no network beyond
// this server.
//
//go:embed ui
var uiFiles embed.FS

// dashboardCSP lets the dashboard load its own files and talk to this
// server only; data rendered from hosts can never run as script.
const dashboardCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// dashboard serves the dashboard page at / and its files under /ui/.
func dashboard() (index, assets http.Handler) {
	sub, err := fs.Sub(uiFiles, "ui")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.FileServerFS(sub)
	secure := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hd := w.Header()
			hd.Set("Content-Security-Policy", dashboardCSP)
			hd.Set("X-Content-Type-Options", "nosniff")
			hd.Set("Referrer-Policy", "no-referrer")
			// Embedded files carry no modification time: revalidate so an
			// upgraded binary is seen at once.
			hd.Set("Cache-Control", "no-cache")
			h.ServeHTTP(w, r)
		})
	}
	index = secure(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, sub, "index.html")
	}))
	return index, secure(http.StripPrefix("/ui/", files))
}
