package admin_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/admin"
	"github.com/loom-mqtt/loom/loomtest"
)

// scrapeMetrics serves admin.Metrics(srv) on a test HTTP server of its
// own and parses one scrape with the Prometheus text parser.
func scrapeMetrics(t *testing.T, srv *loom.Server) map[string]*dto.MetricFamily {
	t.Helper()
	web := httptest.NewServer(admin.Metrics(srv))
	defer web.Close()
	resp, err := http.Get(web.URL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	return fams
}

// metricShape is what the README says of a metric: its type and labels.
type metricShape struct {
	kind   string
	labels string // comma-separated, sorted
}

// readmeMetrics reads the table of the README's Metrics section.
func readmeMetrics(t *testing.T) map[string]metricShape {
	t.Helper()
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(readme), "\n## Metrics\n")
	require.True(t, ok, "the README has a Metrics section")
	section, _, _ = strings.Cut(section, "\n## ")
	row := regexp.MustCompile("(?m)^\\| `(loom_[a-z_]+)` \\| ([a-z]+) \\|([^|]*)\\|")
	out := map[string]metricShape{}
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		var labels []string
		for _, l := range strings.Split(m[3], ",") {
			if l = strings.Trim(strings.TrimSpace(l), "`"); l != "" {
				labels = append(labels, l)
			}
		}
		slices.Sort(labels)
		require.NotContains(t, out, m[1], "listed twice")
		out[m[1]] = metricShape{kind: m[2], labels: strings.Join(labels, ",")}
	}
	require.NotEmpty(t, out, "no metric rows found in the README's Metrics section")
	return out
}

// The README lists every loom_ metric that /metrics serves, with its type
// and labels, and nothing that it does not serve.
func TestReadmeListsEveryMetric(t *testing.T) {
	srv, _ := loomtest.Start(t, loom.Options{DataDir: t.TempDir(), SysInterval: -1})
	served := map[string]metricShape{}
	for name, f := range scrapeMetrics(t, srv) {
		if !strings.HasPrefix(name, "loom_") {
			continue
		}
		var labels []string
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if !slices.Contains(labels, l.GetName()) {
					labels = append(labels, l.GetName())
				}
			}
		}
		slices.Sort(labels)
		served[name] = metricShape{kind: strings.ToLower(f.GetType().String()), labels: strings.Join(labels, ",")}
	}
	require.Equal(t, served, readmeMetrics(t))
}

// Without a store there is no commit histogram (zeros would claim the
// commits were fast); the broker's metrics stay out of the global default
// registry, where an embedder's own live.
func TestMetricsWithoutStore(t *testing.T) {
	srv, _ := loomtest.Start(t, loom.Options{SysInterval: -1})
	fams := scrapeMetrics(t, srv)
	require.NotContains(t, fams, "loom_store_commit_duration_seconds")
	require.NotContains(t, fams, "loom_store_sync_duration_seconds")
	require.Contains(t, fams, "loom_messages_in_total")
	require.Contains(t, fams, "go_goroutines")

	global, err := prometheus.DefaultGatherer.Gather()
	require.NoError(t, err)
	for _, f := range global {
		require.False(t, strings.HasPrefix(f.GetName(), "loom_"), "%s in the default registry", f.GetName())
	}
}
