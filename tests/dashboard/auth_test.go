package dashboard_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/admin"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/tests/internal/browsertest"
	"github.com/loom-mqtt/loom/tests/internal/pahotest"
)

// TestDashboardBasicAuth: behind basic auth the page does not load
// without credentials; opened with them, as a user gives them to the
// browser, it shows the broker, the browser sending them with each of
// the page's requests.
func TestDashboardBasicAuth(t *testing.T) {
	chromium := browsertest.Find(t)
	srv, addr := loomtest.Start(t, loom.Options{})
	adm := startAdmin(t, srv, admin.Options{Username: "ops", Password: "s3cret"})
	served := topicsServed(t, adm, "ops", "s3cret")
	b := startBrowser(t, chromium)

	// Headless, nobody answers the browser's request for credentials.
	err := chromedp.Do(b.ctx, chromedp.Navigate(adm.url()))
	require.ErrorContains(t, err, "ERR_INVALID_AUTH_CREDENTIALS", "the page without credentials")

	require.NoError(t, chromedp.Do(b.ctx, chromedp.Navigate("http://ops:s3cret@"+adm.addr+"/")))
	b.eventually(t, "the connected state", `document.getElementById("state").textContent === "connected"`)
	b.eventually(t, "no client connected", `document.getElementById("connected").textContent === "0"`)
	pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "behind-basic-auth"})
	b.eventually(t, "the client", `document.getElementById("connected").textContent === "1" && `+
		`document.getElementById("clients").textContent.includes("behind-basic-auth")`)
	require.Empty(t, b.errors(func(m chromedp.ConsoleMessage, _ time.Time) bool {
		// The refused first visit (on the browser's error page); a broker
		// without top topics.
		return m.Source == "network" && (strings.HasPrefix(m.URL, "chrome-error:") && strings.Contains(m.Text, "status of 401") ||
			!served && strings.HasSuffix(m.URL, "/api/v1/topics?n=10"))
	}))
}

// TestDashboardToken: behind a bearer token the page's own files load
// without it (a browser cannot send one for a page load), and the token
// given in the URL's fragment is sent with each API request, and leaves
// the address bar.
func TestDashboardToken(t *testing.T) {
	chromium := browsertest.Find(t)
	srv, addr := loomtest.Start(t, loom.Options{})
	adm := startAdmin(t, srv, admin.Options{Token: "tok-3e9f"})
	front := adm.url()
	b := startBrowser(t, chromium)

	require.NoError(t, chromedp.Do(b.ctx, chromedp.Navigate(front+"#token=tok-3e9f")))
	b.eventually(t, "the connected state", `document.getElementById("state").textContent === "connected"`)
	require.Equal(t, front, eval[string](t, b, `location.href`), "the token left the address bar")
	pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "behind-a-token"})
	b.eventually(t, "the client", `document.getElementById("connected").textContent === "1" && `+
		`document.getElementById("clients").textContent.includes("behind-a-token")`)
	// A reload keeps the token, for this tab.
	require.NoError(t, chromedp.Do(b.ctx, chromedp.Reload()))
	b.eventually(t, "the client after a reload", `document.getElementById("connected").textContent === "1"`)

	// A wrong token: the API refuses, the page says so.
	require.NoError(t, chromedp.Do(b.ctx, chromedp.Evaluate[chromedp.Void](`location.hash = "#token=wrong"`)))
	b.eventually(t, "the refusal", `document.getElementById("state").textContent === "disconnected" && `+
		`document.getElementById("error").textContent.includes("401")`)
	require.Empty(t, b.errors(func(m chromedp.ConsoleMessage, _ time.Time) bool {
		return m.Source == "network" && (strings.Contains(m.Text, "401") || strings.HasSuffix(m.URL, "/api/v1/topics?n=10"))
	}))
}
