package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// authenticator checks a request's credentials. Secrets are kept as
// SHA-256 digests and compared digest to digest in constant time, so
// neither their content nor their length shows in the time a refusal
// takes.
type authenticator struct {
	token      *[sha256.Size]byte // nil: no bearer token
	user, pass *[sha256.Size]byte // nil: no basic auth
	challenge  []string           // WWW-Authenticate values of a 401
}

func digest(s string) *[sha256.Size]byte {
	d := sha256.Sum256([]byte(s))
	return &d
}

func newAuthenticator(token, user, pass string) authenticator {
	var a authenticator
	if token != "" {
		a.token = digest(token)
		a.challenge = append(a.challenge, `Bearer realm="loom"`)
	}
	if user != "" {
		a.user, a.pass = digest(user), digest(pass)
		a.challenge = append(a.challenge, `Basic realm="loom", charset="UTF-8"`)
	}
	return a
}

// required reports whether requests must carry credentials at all.
func (a authenticator) required() bool { return a.token != nil || a.user != nil }

func equal(got string, want *[sha256.Size]byte) int {
	d := sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(d[:], want[:])
}

// allows reports whether r carries a credential the listener accepts: the
// bearer token, or the basic auth pair (both are checked when both are
// set, so the time taken does not say which one a request tried).
func (a authenticator) allows(r *http.Request) bool {
	if !a.required() {
		return true
	}
	ok := 0
	if a.token != nil {
		h := r.Header.Get("Authorization")
		// The scheme is case-insensitive (RFC 9110, section 11.1).
		if len(h) > 7 && strings.EqualFold(h[:7], "Bearer ") {
			ok |= equal(h[7:], a.token)
		}
	}
	if a.user != nil {
		if u, p, found := r.BasicAuth(); found {
			ok |= equal(u, a.user) & equal(p, a.pass)
		}
	}
	return ok == 1
}

// guard puts the checks every request passes in front of h: credentials
// (except where open says none are needed), and the size of what a client
// may send.
func (s *Server) guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if !s.open(r) && !s.auth.allows(r) {
			for _, c := range s.auth.challenge {
				w.Header().Add("WWW-Authenticate", c)
			}
			writeError(w, http.StatusUnauthorized, "authentication required")
			return
		}
		if r.ContentLength > maxBodyBytes {
			writeError(w, http.StatusRequestEntityTooLarge, "request body too large")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		h.ServeHTTP(w, r)
	})
}

// open reports whether r needs no credentials: /healthz, which a
// container's health check calls without any, and — when the listener
// takes a bearer token but no basic auth — the dashboard's own files (the
// page, its script and styles), which hold no data. A browser cannot send
// a bearer token when it loads a page, only the page's script can, with
// the token it is given in the address's fragment (#token=...); the API
// and /metrics it calls stay guarded. With basic auth the files are
// guarded too: the browser's own prompt then supplies the credentials
// every later call carries.
func (s *Server) open(r *http.Request) bool {
	if r.URL.Path == "/healthz" {
		return true
	}
	if s.auth.user != nil || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		return false
	}
	p := r.URL.Path
	return p == "/" || p == "/index.html" || strings.HasPrefix(p, "/assets/")
}
