package daemon

import (
	"embed"
	"io/fs"
	"net/http"
)

// The live page's assets, embedded: the page loads nothing from elsewhere
// and works without internet access.
//
//go:embed live
var liveAssets embed.FS

func (d *Daemon) liveRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /login", d.serveLogin)
	mux.HandleFunc("POST /login", d.serveLogin)
	if d.live == nil {
		return
	}
	static, _ := fs.Sub(liveAssets, "live")
	files := http.FileServerFS(static)
	page := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	}
	mux.HandleFunc("GET /live", func(w http.ResponseWriter, r *http.Request) {
		r.URL.Path = "/"
		page(w, r)
	})
	mux.Handle("GET /live/{file}", http.StripPrefix("/live", http.HandlerFunc(page)))
	mux.HandleFunc("GET /live/events", d.serveEvents)
	mux.HandleFunc("GET /live/search", d.serveSearch)
	mux.HandleFunc("GET /live/submission/{uuid}", d.serveDetail)
}
