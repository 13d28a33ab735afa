package admin

import "net/http"

// Dashboard serves the dashboard page at /. A placeholder, replaced at
// merge by the embedded page: until then / names nothing.
func Dashboard() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no dashboard is built into this broker")
	})
}
