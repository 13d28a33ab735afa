package admin

import (
	"net/http"

	"github.com/loom-mqtt/loom"
)

// TopTopics serves /api/v1/topics. A placeholder, replaced at merge by the
// top topics by rate: until then it says it is not built in.
func TopTopics(srv *loom.Server) http.Handler {
	_ = srv
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotImplemented, "top topics are not built into this broker")
	})
}
