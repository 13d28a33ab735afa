package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
)

func broker(t *testing.T) *loom.Server {
	t.Helper()
	srv, _ := loomtest.Start(t, loom.Options{})
	return srv
}

func TestNewChecksOptions(t *testing.T) {
	srv := broker(t)
	for _, tt := range []struct {
		name string
		o    Options
		want string // a part of the error; "" for none
		is   error
	}{
		{"no address", Options{}, "no address", nil},
		{"no port", Options{Address: "127.0.0.1"}, "missing port", nil},
		{"bad port", Options{Address: "127.0.0.1:http"}, "port must be a number", nil},
		{"port too large", Options{Address: "127.0.0.1:70000"}, "port must be a number", nil},
		{"a URL", Options{Address: "http://127.0.0.1:80"}, "address", nil},
		{"user without password", Options{Address: "127.0.0.1:0", Username: "op"}, "both a username and a password", nil},
		{"password without user", Options{Address: "127.0.0.1:0", Password: "pw"}, "both a username and a password", nil},
		{"colon in user", Options{Address: "127.0.0.1:0", Username: "a:b", Password: "pw"}, "cannot contain ':'", nil},
		{"all interfaces, no auth", Options{Address: ":8080"}, "reachable from the network", ErrExposed},
		{"public address, no auth", Options{Address: "0.0.0.0:8080"}, "0.0.0.0:8080", ErrExposed},
		{"IPv6 any, no auth", Options{Address: "[::]:8080"}, "", ErrExposed},
		{"loopback, no auth", Options{Address: "127.0.0.1:0"}, "", nil},
		{"IPv6 loopback, no auth", Options{Address: "[::1]:0"}, "", nil},
		{"all interfaces, token", Options{Address: ":0", Token: "t"}, "", nil},
		{"all interfaces, basic", Options{Address: "0.0.0.0:0", Username: "op", Password: "pw"}, "", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(srv, tt.o)
			if tt.want == "" && tt.is == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.want)
			if tt.is != nil {
				require.ErrorIs(t, err, tt.is)
			}
		})
	}
	_, err := New(nil, Options{Address: "127.0.0.1:0"})
	require.ErrorContains(t, err, "no broker")
}

// do runs one request through h and returns the response.
func do(t *testing.T, h http.Handler, method, target string, edit func(*http.Request)) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	if edit != nil {
		edit(r)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func errorOf(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	require.Equal(t, "application/json", w.Header().Get("Content-Type"))
	var e struct{ Error string }
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &e))
	require.NotEmpty(t, e.Error)
	return e.Error
}

func TestAuthentication(t *testing.T) {
	srv := broker(t)
	bearer := func(v string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", v) }
	}
	basic := func(u, p string) func(*http.Request) {
		return func(r *http.Request) { r.SetBasicAuth(u, p) }
	}
	for _, tt := range []struct {
		name string
		o    Options
		edit func(*http.Request)
		ok   bool
	}{
		{"no auth set", Options{}, nil, true},
		{"token: none given", Options{Token: "s3cret"}, nil, false},
		{"token: right", Options{Token: "s3cret"}, bearer("Bearer s3cret"), true},
		{"token: scheme in any case", Options{Token: "s3cret"}, bearer("bearer s3cret"), true},
		{"token: wrong", Options{Token: "s3cret"}, bearer("Bearer s3cre"), false},
		{"token: longer", Options{Token: "s3cret"}, bearer("Bearer s3cret2"), false},
		{"token: empty", Options{Token: "s3cret"}, bearer("Bearer "), false},
		{"token: as basic password", Options{Token: "s3cret"}, basic("x", "s3cret"), false},
		{"basic: right", Options{Username: "op", Password: "pw"}, basic("op", "pw"), true},
		{"basic: wrong password", Options{Username: "op", Password: "pw"}, basic("op", "px"), false},
		{"basic: wrong user", Options{Username: "op", Password: "pw"}, basic("oq", "pw"), false},
		{"basic: none given", Options{Username: "op", Password: "pw"}, nil, false},
		{"basic: a token given", Options{Username: "op", Password: "pw"}, bearer("Bearer pw"), false},
		{"both set: token", Options{Token: "t", Username: "op", Password: "pw"}, bearer("Bearer t"), true},
		{"both set: basic", Options{Token: "t", Username: "op", Password: "pw"}, basic("op", "pw"), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.o.Address = "127.0.0.1:0"
			s, err := New(srv, tt.o)
			require.NoError(t, err)
			w := do(t, s.Handler(), "GET", "/api/v1/stats", tt.edit)
			if tt.ok {
				require.Equal(t, http.StatusOK, w.Code, w.Body.String())
				return
			}
			require.Equal(t, http.StatusUnauthorized, w.Code)
			require.Equal(t, "authentication required", errorOf(t, w))
			ch := strings.Join(w.Header().Values("WWW-Authenticate"), "; ")
			if tt.o.Token != "" {
				require.Contains(t, ch, "Bearer")
			}
			if tt.o.Username != "" {
				require.Contains(t, ch, "Basic")
			}
			// /healthz needs nothing, whatever is set.
			require.Equal(t, http.StatusOK, do(t, s.Handler(), "GET", "/healthz", nil).Code)
			// Nor does anything else get past without credentials.
			for _, p := range []string{"/readyz", "/metrics", "/api/v1/clients", "/api/v1/nothing", "/healthz/"} {
				require.Equal(t, http.StatusUnauthorized, do(t, s.Handler(), "GET", p, nil).Code, p)
			}
			// A path that only looks like the page's files gets no data:
			// the mux redirects it to its clean form, which is guarded.
			w = do(t, s.Handler(), "GET", "/assets/../api/v1/stats", nil)
			require.NotEqual(t, http.StatusOK, w.Code)
			require.NotContains(t, w.Body.String(), "messages_in")
			// The dashboard's files hold no data: open with a token alone
			// (a browser cannot send one for a page load), guarded with
			// basic auth (the browser's prompt supplies it).
			for _, p := range []string{"/", "/index.html"} {
				code := do(t, s.Handler(), "GET", p, nil).Code
				if tt.o.Username != "" {
					require.Equal(t, http.StatusUnauthorized, code, p)
				} else {
					require.Equal(t, http.StatusOK, code, p)
				}
			}
			require.Equal(t, http.StatusUnauthorized, do(t, s.Handler(), "DELETE", "/api/v1/clients/x", nil).Code)
		})
	}
}

func TestRoutingErrorsAreJSON(t *testing.T) {
	s, err := New(broker(t), Options{Address: "127.0.0.1:0"})
	require.NoError(t, err)
	h := s.Handler()

	w := do(t, h, "GET", "/api/v1/nothing", nil)
	require.Equal(t, http.StatusNotFound, w.Code)
	require.Contains(t, errorOf(t, w), "/api/v1/nothing")

	w = do(t, h, "POST", "/api/v1/clients", nil)
	require.Equal(t, http.StatusMethodNotAllowed, w.Code)
	require.Equal(t, "GET, HEAD", w.Header().Get("Allow"))
	errorOf(t, w)

	w = do(t, h, "PUT", "/api/v1/clients/abc", nil)
	require.Equal(t, http.StatusMethodNotAllowed, w.Code)
	require.Equal(t, "GET, DELETE, HEAD", w.Header().Get("Allow"))

	w = do(t, h, "POST", "/api/v1/retained", nil)
	require.Equal(t, http.StatusMethodNotAllowed, w.Code)
	require.Equal(t, "GET, DELETE, HEAD", w.Header().Get("Allow"))

	w = do(t, h, "POST", "/", nil)
	require.Equal(t, http.StatusMethodNotAllowed, w.Code)

	for _, q := range []string{"limit=0", "limit=-3", "limit=x", "limit=1.5"} {
		w = do(t, h, "GET", "/api/v1/clients?"+q, nil)
		require.Equal(t, http.StatusBadRequest, w.Code, q)
		require.Contains(t, errorOf(t, w), "limit")
		w = do(t, h, "GET", "/api/v1/retained?"+q, nil)
		require.Equal(t, http.StatusBadRequest, w.Code, q)
	}
	w = do(t, h, "GET", "/api/v1/retained?filter=a/%23/b", nil)
	require.Equal(t, http.StatusBadRequest, w.Code)
	require.Contains(t, errorOf(t, w), "a/#/b")
	w = do(t, h, "GET", "/api/v1/retained?filter=$share/g/a", nil)
	require.Equal(t, http.StatusBadRequest, w.Code)
	for _, q := range []string{"", "?topic=", "?topic=a/%2B", "?topic=$SYS/broker/uptime"} {
		w = do(t, h, "DELETE", "/api/v1/retained"+q, nil)
		require.Equal(t, http.StatusBadRequest, w.Code, q)
		errorOf(t, w)
	}
	w = do(t, h, "DELETE", "/api/v1/retained?topic=none/here", nil)
	require.Equal(t, http.StatusNotFound, w.Code)
	w = do(t, h, "DELETE", "/api/v1/clients/nobody", nil)
	require.Equal(t, http.StatusNotFound, w.Code)
	w = do(t, h, "GET", "/api/v1/clients/nobody", nil)
	require.Equal(t, http.StatusNotFound, w.Code)
	w = do(t, h, "GET", "/api/v1/clients/nobody/subscriptions", nil)
	require.Equal(t, http.StatusNotFound, w.Code)
}

func TestRequestBodyIsCapped(t *testing.T) {
	s, err := New(broker(t), Options{Address: "127.0.0.1:0"})
	require.NoError(t, err)
	r := httptest.NewRequest("DELETE", "/api/v1/clients/x", strings.NewReader(strings.Repeat("x", maxBodyBytes+1)))
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	require.Equal(t, http.StatusRequestEntityTooLarge, w.Code)
	errorOf(t, w)
}

func TestStartAddrClose(t *testing.T) {
	s, err := New(broker(t), Options{Address: "127.0.0.1:0"})
	require.NoError(t, err)
	require.Nil(t, s.Addr())
	require.NoError(t, s.Start())
	require.ErrorContains(t, s.Start(), "started already")
	addr := s.Addr().String()
	require.NotContains(t, addr, ":0")

	resp, err := http.Get("http://" + addr + "/healthz")
	require.NoError(t, err)
	var body map[string]string
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	_ = resp.Body.Close()
	require.Equal(t, map[string]string{"status": "ok"}, body)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, s.Close(ctx))
	require.NoError(t, s.Close(ctx)) // again: nothing more to do
	_, err = http.Get("http://" + addr + "/healthz")
	require.Error(t, err)
	require.ErrorContains(t, s.Start(), "after Close")

	// A second listener on a taken address says so.
	s2, err := New(broker(t), Options{Address: "127.0.0.1:0"})
	require.NoError(t, err)
	require.NoError(t, s2.Start())
	t.Cleanup(func() { _ = s2.Close(context.Background()) })
	s3, err := New(broker(t), Options{Address: s2.Addr().String()})
	require.NoError(t, err)
	err = s3.Start()
	require.Error(t, err)
	require.True(t, strings.Contains(err.Error(), "listening on") && !errors.Is(err, ErrExposed))
}
