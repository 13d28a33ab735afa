package admin

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func get(t *testing.T, h http.Handler, method, target string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// The page and every file it names are served with their type, the
// content security policy and caching headers; the files by their hash in
// the URL, kept a year; the page revalidated.
func TestDashboardServesPageAndAssets(t *testing.T) {
	h := Dashboard()
	for _, p := range []string{"/", "/index.html"} {
		w := get(t, h, "GET", p)
		require.Equal(t, http.StatusOK, w.Code, p)
		require.Equal(t, "text/html; charset=utf-8", w.Header().Get("Content-Type"))
		require.Equal(t, dashboardCSP, w.Header().Get("Content-Security-Policy"))
		require.Contains(t, w.Header().Get("Content-Security-Policy"), "script-src 'self'")
		require.Equal(t, "nosniff", w.Header().Get("X-Content-Type-Options"))
		require.Equal(t, "private, no-cache", w.Header().Get("Cache-Control"))
		require.NotEmpty(t, w.Header().Get("ETag"))
		require.Empty(t, w.Header().Get("Content-Encoding"), "no Accept-Encoding, no gzip")
		require.Contains(t, w.Body.String(), `id="connected"`)
		require.Contains(t, w.Body.String(), `id="rate-chart"`)
	}
	page := get(t, h, "GET", "/").Body.String()
	require.NotContains(t, page, "<script>", "no inline script: the CSP would refuse it")
	require.NotContains(t, page, "style=", "no inline style: the CSP would refuse it")
	refs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(page, -1)
	want := map[string]string{
		"assets/app.js":                   "text/javascript; charset=utf-8",
		"assets/app.css":                  "text/css; charset=utf-8",
		"assets/icon.svg":                 "image/svg+xml",
		"assets/vendor/uPlot.iife.min.js": "text/javascript; charset=utf-8",
		"assets/vendor/uPlot.min.css":     "text/css; charset=utf-8",
	}
	seen := map[string]bool{}
	for _, m := range refs {
		ref := m[1]
		require.False(t, strings.HasPrefix(ref, "/") || strings.Contains(ref, "//"),
			"%s: relative, so that the page works under a path prefix", ref)
		name, v, ok := strings.Cut(ref, "?v=")
		require.True(t, ok, "%s is named with its hash", ref)
		require.Len(t, v, 12)
		ctype, known := want[name]
		require.True(t, known, "unexpected reference %s", ref)
		seen[name] = true
		w := get(t, h, "GET", "/"+ref)
		require.Equal(t, http.StatusOK, w.Code, ref)
		require.Equal(t, ctype, w.Header().Get("Content-Type"), ref)
		require.Equal(t, "private, max-age=31536000, immutable", w.Header().Get("Cache-Control"), ref)
		require.Equal(t, dashboardCSP, w.Header().Get("Content-Security-Policy"))
		require.Equal(t, len(w.Body.Bytes()), mustAtoi(t, w.Header().Get("Content-Length")))
		require.Contains(t, w.Header().Get("ETag"), v, "the URL's hash is the validator's")
		// Without the hash the file is revalidated, never kept.
		w = get(t, h, "GET", "/"+name)
		require.Equal(t, http.StatusOK, w.Code)
		require.Equal(t, "private, no-cache", w.Header().Get("Cache-Control"))
	}
	require.Len(t, seen, len(want), "the page names every file: %v", seen)

	// uPlot's licence is served beside it.
	w := get(t, h, "GET", "/assets/vendor/LICENSE-uPlot.txt")
	require.Equal(t, http.StatusOK, w.Code)
	require.Contains(t, w.Body.String(), "MIT License")
	require.Equal(t, "text/plain; charset=utf-8", w.Header().Get("Content-Type"))
}

// A client that accepts gzip gets the precompressed bytes, which inflate
// to the plain ones; one that refuses it, or does not say, gets them plain.
func TestDashboardGzip(t *testing.T) {
	h := Dashboard()
	plain := get(t, h, "GET", "/assets/vendor/uPlot.iife.min.js")
	require.Empty(t, plain.Header().Get("Content-Encoding"))
	require.Equal(t, "Accept-Encoding", plain.Header().Get("Vary"))

	for _, ae := range []string{"gzip", "gzip, deflate, br", "br;q=1.0, gzip;q=0.8", "*", "GZIP"} {
		w := get(t, h, "GET", "/assets/vendor/uPlot.iife.min.js", "Accept-Encoding", ae)
		require.Equal(t, "gzip", w.Header().Get("Content-Encoding"), ae)
		require.Equal(t, "Accept-Encoding", w.Header().Get("Vary"))
		require.Less(t, w.Body.Len(), plain.Body.Len()/2, "%s: compressed", ae)
		zr, err := gzip.NewReader(bytes.NewReader(w.Body.Bytes()))
		require.NoError(t, err)
		got, err := io.ReadAll(zr)
		require.NoError(t, err)
		require.Equal(t, plain.Body.Bytes(), got)
		require.NotEqual(t, plain.Header().Get("ETag"), w.Header().Get("ETag"), "each form has its own validator")
	}
	for _, ae := range []string{"", "deflate, br", "gzip;q=0", "gzip; q=0.000, br", "*;q=0", "br, *, gzip;q=0", "identity"} {
		w := get(t, h, "GET", "/", "Accept-Encoding", ae)
		require.Empty(t, w.Header().Get("Content-Encoding"), "%q", ae)
	}
}

// A browser's revalidation with the ETag it holds gets 304 and no body.
func TestDashboardNotModified(t *testing.T) {
	h := Dashboard()
	for _, ae := range []string{"", "gzip"} {
		first := get(t, h, "GET", "/", "Accept-Encoding", ae)
		etag := first.Header().Get("ETag")
		w := get(t, h, "GET", "/", "Accept-Encoding", ae, "If-None-Match", etag)
		require.Equal(t, http.StatusNotModified, w.Code)
		require.Empty(t, w.Body.Bytes())
		require.Equal(t, etag, w.Header().Get("ETag"))
		w = get(t, h, "GET", "/", "Accept-Encoding", ae, "If-None-Match", `"other", W/`+etag)
		require.Equal(t, http.StatusNotModified, w.Code)
		w = get(t, h, "GET", "/", "Accept-Encoding", ae, "If-None-Match", `"other"`)
		require.Equal(t, http.StatusOK, w.Code)
	}
}

func TestDashboardRefusals(t *testing.T) {
	h := Dashboard()
	require.Equal(t, http.StatusNotFound, get(t, h, "GET", "/nope").Code)
	require.Equal(t, http.StatusNotFound, get(t, h, "GET", "/assets/").Code)
	require.Equal(t, http.StatusNotFound, get(t, h, "GET", "/assets/../index.html").Code)
	require.Equal(t, http.StatusNotFound, get(t, h, "GET", "/ui/app.js").Code, "the embedded tree is not served as it is")
	w := get(t, h, "POST", "/")
	require.Equal(t, http.StatusMethodNotAllowed, w.Code)
	require.Equal(t, "GET, HEAD", w.Header().Get("Allow"))
	w = get(t, h, "HEAD", "/")
	require.Equal(t, http.StatusOK, w.Code)
	require.Empty(t, w.Body.Bytes())
	require.NotEqual(t, "0", w.Header().Get("Content-Length"))
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	require.NoError(t, err)
	return n
}
