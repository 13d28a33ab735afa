package admin

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
)

// ui is the dashboard: one page, its script and style, and uPlot (MIT,
// its licence beside it in ui/vendor), all served from the binary so that
// the page needs no build step and no CDN.
//
//go:embed ui
var ui embed.FS

// dashboardCSP lets the page load only its own files and talk only to its
// own origin: no inline script or style, no frames, no forms, no other
// hosts. uPlot styles its elements through the CSSOM (element.style),
// which style-src does not govern, so it needs no 'unsafe-inline'.
const dashboardCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// asset is one file of the dashboard as it is served: its bytes, gzipped
// once at start (the client that accepts gzip gets those, the others the
// plain ones), and a strong validator for each form.
type asset struct {
	ctype      string
	plain, gz  []byte
	etag, gzET string
	// immutable: the page names it with its hash in the URL (?v=), so a
	// browser may keep it for a year; the page itself is revalidated.
	immutable bool
}

var (
	dashOnce   sync.Once
	dashAssets map[string]*asset
	dashErr    error
)

// Dashboard serves the live dashboard: the page at / (and /index.html),
// its files under /assets/. The page reads the JSON API with relative
// URLs, so it works wherever the admin handler is mounted, under a path
// prefix too, as long as the page's URL ends in a slash. It is served to
// GET and HEAD only, with a strict Content-Security-Policy.
func Dashboard() http.Handler {
	dashOnce.Do(func() { dashAssets, dashErr = loadDashboard() })
	if dashErr != nil {
		// The files are embedded at build time: a failure here is a
		// broken build, and every request says so rather than the
		// process dying.
		err := dashErr
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "dashboard unavailable: "+err.Error(), http.StatusInternalServerError)
		})
	}
	return http.HandlerFunc(serveDashboard)
}

// loadDashboard reads the embedded files, names every asset in the page by
// its content hash (so a new binary's files are never mixed with an old
// page's cached ones), and gzips each once.
func loadDashboard() (map[string]*asset, error) {
	m := map[string]*asset{}
	var page []byte
	err := fs.WalkDir(ui, "ui", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := ui.ReadFile(p)
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(p, "ui/")
		if rel == "index.html" {
			page = b
			return nil
		}
		m["/assets/"+rel] = newAsset(rel, b, true)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if page == nil {
		return nil, fs.ErrNotExist
	}
	for name, a := range m {
		ref := `"` + strings.TrimPrefix(name, "/") + `"`
		page = bytes.ReplaceAll(page, []byte(ref), []byte(`"`+strings.TrimPrefix(name, "/")+"?v="+a.etag[1:13]+`"`))
	}
	idx := newAsset("index.html", page, false)
	m["/"], m["/index.html"] = idx, idx
	return m, nil
}

func newAsset(name string, b []byte, immutable bool) *asset {
	ctype := mime.TypeByExtension(path.Ext(name))
	switch path.Ext(name) {
	// The system's MIME table may lack these, or differ between machines.
	case ".js":
		ctype = "text/javascript; charset=utf-8"
	case ".css":
		ctype = "text/css; charset=utf-8"
	case ".html":
		ctype = "text/html; charset=utf-8"
	case ".svg":
		ctype = "image/svg+xml"
	}
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	sum := sha256.Sum256(b)
	h := hex.EncodeToString(sum[:16])
	a := &asset{ctype: ctype, plain: b, etag: `"` + h + `"`, gzET: `"` + h + `-gz"`, immutable: immutable}
	var z bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&z, gzip.BestCompression) // a valid level: no error
	_, _ = zw.Write(b)                                     // into memory: no error
	_ = zw.Close()
	// Gzip only where it pays: the icon and the licence may not shrink.
	if z.Len() < len(b)*9/10 {
		a.gz = z.Bytes()
	}
	return a
}

func serveDashboard(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	a := dashAssets[r.URL.Path]
	if a == nil {
		http.NotFound(w, r)
		return
	}
	h.Set("Content-Type", a.ctype)
	h.Set("Content-Security-Policy", dashboardCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	// private: behind the admin server's auth, no shared cache keeps it.
	if a.immutable && r.URL.Query().Get("v") != "" {
		h.Set("Cache-Control", "private, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "private, no-cache")
	}
	body, etag := a.plain, a.etag
	if a.gz != nil {
		h.Set("Vary", "Accept-Encoding")
		if acceptsGzip(r.Header.Get("Accept-Encoding")) {
			body, etag = a.gz, a.gzET
			h.Set("Content-Encoding", "gzip")
		}
	}
	h.Set("ETag", etag)
	if etagMatch(r.Header.Get("If-None-Match"), etag) {
		h.Del("Content-Type")
		h.Del("Content-Encoding")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// acceptsGzip reads an Accept-Encoding header: gzip listed (or *, when
// gzip is not named) and not refused with q=0.
func acceptsGzip(v string) bool {
	gzip, star := 0, 0 // 0 not named, 1 accepted, -1 refused
	for part := range strings.SplitSeq(v, ",") {
		name, params, _ := strings.Cut(part, ";")
		ok := 1
		if q, found := strings.CutPrefix(strings.TrimSpace(params), "q="); found {
			if f, err := strconv.ParseFloat(strings.TrimSpace(q), 64); err != nil || f <= 0 {
				ok = -1
			}
		}
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "gzip", "x-gzip":
			gzip = ok
		case "*":
			star = ok
		}
	}
	if gzip != 0 {
		return gzip > 0
	}
	return star > 0
}

// etagMatch says whether an If-None-Match header names etag (or is *),
// comparing weakly as RFC 9110 has it for If-None-Match.
func etagMatch(header, etag string) bool {
	if header == "" {
		return false
	}
	for part := range strings.SplitSeq(header, ",") {
		t := strings.TrimPrefix(strings.TrimSpace(part), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}
