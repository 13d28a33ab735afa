package admin

import (
	"net/http"

	"github.com/loom-mqtt/loom"
)

// Metrics serves /metrics. A placeholder, replaced at merge by the
// Prometheus exposition: until then it says it is not built in.
func Metrics(srv *loom.Server) http.Handler {
	_ = srv
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotImplemented, "metrics are not built into this broker")
	})
}
