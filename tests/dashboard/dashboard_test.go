// Package dashboard_test opens the admin server's live dashboard in
// Debian's headless Chromium, driven over the DevTools protocol
// (chromedp), against a real broker with real MQTT clients: the page must
// load without a console error, show the clients connected, and follow
// the traffic in its numbers and its rate chart.
package dashboard_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/admin"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/tests/internal/browsertest"
	"github.com/loom-mqtt/loom/tests/internal/pahotest"
)

// screenshotEnv, set to 1, has the test write its screenshot to
// docs/img/dashboard.png, which the README shows; otherwise it goes to the
// test's temporary directory, so that a test run changes no file.
const screenshotEnv = "LOOM_UPDATE_SCREENSHOT"

// The traffic: publishers, each to its own topic, at their own pace; a
// bounded number of messages each, within a bounded time.
var publishers = []struct {
	id, topic string
	every     time.Duration
}{
	{"kitchen-sensor", "sensors/kitchen/temp", 15 * time.Millisecond},
	{"garage-sensor", "sensors/garage/door", 40 * time.Millisecond},
	{"meter-7", "power/meter-7/watts", 80 * time.Millisecond},
}

const (
	perPublisher = 500             // messages each, at most
	publishFor   = 8 * time.Second // and for this long at most

	bulk = 55 // clients more, for paging: more than the page's 50
)

// TestDashboard: the page loads with no console error, warning or
// exception, and shows the broker connected with no client; clients
// connect and publish, and the page shows them (the count, the table, its
// search), their rates (the numbers and the chart) and the top topics;
// the admin server stops, and the page says it is disconnected without
// throwing, then recovers when the server is back.
func TestDashboard(t *testing.T) {
	chromium := browsertest.Find(t)
	srv, addr := loomtest.Start(t, loom.Options{Listeners: []loom.Listener{{ID: "mqtt", Address: "tcp://127.0.0.1:0"}}})
	adm := startAdmin(t, srv, admin.Options{})
	served := topicsServed(t, adm)

	b := startBrowser(t, chromium)
	// No console error from the start: the CSP refusing a file, a file
	// missing, a script error, would all show here. Only a broker without
	// top topics has the browser note, once, the page's request for them.
	noErrors := func(m chromedp.ConsoleMessage, _ time.Time) bool {
		return !served && m.Source == "network" && strings.HasSuffix(m.URL, "/api/v1/topics?n=10")
	}
	require.NoError(t, chromedp.Do(b.ctx, chromedp.Navigate(adm.url())))
	b.eventually(t, "the connected state", `document.getElementById("state").textContent === "connected"`)
	b.eventually(t, "no client connected", `document.getElementById("connected").textContent === "0"`)
	b.eventually(t, "two samples on the chart", `+document.getElementById("rate-chart").dataset.samples >= 2`)
	require.True(t, eval[bool](t, b, `typeof uPlot === "function" && !!document.querySelector("#rate-chart canvas")`),
		"uPlot drew the chart")
	require.Equal(t, "0", eval[string](t, b, `document.getElementById("rate-chart").dataset.maxIn`), "no traffic yet")
	require.Equal(t, "open, in memory", b.text(t, "store"))
	chartBefore := eval[string](t, b, `document.querySelector("#rate-chart canvas").toDataURL()`)
	require.Empty(t, b.errors(noErrors), "console errors while loading")

	// Clients connect: a subscriber to everything, one to the sensors
	// (so that more goes out than comes in), the publishers.
	watch, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "dashboard-watch"})
	watch.Sub(t, paho.SubscribeOptions{Topic: "#", QoS: 0})
	go drain(watch.Msgs)
	sensors, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "sensor-log"})
	sensors.Sub(t, paho.SubscribeOptions{Topic: "sensors/#", QoS: 0})
	go drain(sensors.Msgs)
	pubs := make([]*pahotest.V5Client, len(publishers))
	for i, p := range publishers {
		pubs[i], _ = pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: p.id})
	}
	want := len(publishers) + 2
	b.eventually(t, "the clients connected", fmt.Sprintf(`document.getElementById("connected").textContent === "%d"`, want))

	// They publish, and the page follows.
	samples := eval[int](t, b, `+document.getElementById("rate-chart").dataset.samples`)
	sent := publish(t, pubs)
	b.eventually(t, "a rate in on the chart", `+document.getElementById("rate-chart").dataset.maxIn > 0`)
	b.eventually(t, "a rate out on the chart", `+document.getElementById("rate-chart").dataset.maxOut > 0`)
	b.eventually(t, "a rate in", `!["0", "–"].includes(document.getElementById("rate-in").textContent)`)
	// The top topics, where the broker serves them.
	if served {
		b.eventually(t, "the busiest topic first", `(document.querySelector("#topics tr td") || {}).textContent === "sensors/kitchen/temp"`)
	} else {
		b.eventually(t, "no top topics", `(document.querySelector("#topics tr td") || {}).textContent === "not available in this broker"`)
	}
	b.eventually(t, "the clients listed", `document.querySelectorAll("#clients tr").length === `+strconv.Itoa(want))
	for _, p := range publishers {
		require.Contains(t, b.text(t, "clients"), p.id)
	}
	// A few seconds of traffic on the chart, for the screenshot.
	b.eventually(t, "five seconds of traffic", fmt.Sprintf(`+document.getElementById("rate-chart").dataset.samples >= %d`, samples+5))
	saveScreenshot(t, b) // while the traffic flows
	n := <-sent
	require.Positive(t, n)
	// The page's total counts every message the broker received.
	b.eventually(t, fmt.Sprintf("%d messages in", n), fmt.Sprintf(
		`+document.getElementById("messages-in").textContent.replace(/,/g, "") >= %d`, n))
	require.NotEqual(t, chartBefore, eval[string](t, b, `document.querySelector("#rate-chart canvas").toDataURL()`),
		"the chart was redrawn")
	// The rates are the broker's counters over the samples' times: never
	// more than the publishers' pace allows.
	var pace float64
	for _, p := range publishers {
		pace += float64(time.Second) / float64(p.every)
	}
	maxIn := eval[float64](t, b, `+document.getElementById("rate-chart").dataset.maxIn`)
	require.Less(t, maxIn, 2*pace, "in/s on the chart against the publishers' pace %.0f/s", pace)
	// Two subscribers get the sensors' messages, one the meter's.
	maxOut := eval[float64](t, b, `+document.getElementById("rate-chart").dataset.maxOut`)
	require.Greater(t, maxOut, maxIn, "out/s on the chart")

	// The search narrows the table to the matching client.
	require.NoError(t, chromedp.Do(b.ctx, chromedp.SendKeys(chromedp.ID("client-search"), "garage")))
	b.eventually(t, "one client matching", `document.querySelectorAll("#clients tr").length === 1 && `+
		`document.querySelector("#clients tr td").textContent === "garage-sensor"`)
	require.Equal(t, "(1 matching)", b.text(t, "clients-total"))

	// More clients than a page: the table shows one page and "more"
	// fetches the next, after the last id shown.
	for i := range bulk {
		loomtest.Connect(t, addr, proto.V311, proto.Connect{ClientID: fmt.Appendf(nil, "bulk-%02d", i),
			CleanStart: true, KeepAlive: 60, UsernameFlag: true, Username: []byte("fleet")})
	}
	require.NoError(t, chromedp.Do(b.ctx, chromedp.Evaluate[chromedp.Void](
		`(e => { e.value = ""; e.dispatchEvent(new Event("input")); })(document.getElementById("client-search"))`)))
	b.eventually(t, "the bulk clients connected", fmt.Sprintf(`document.getElementById("connected").textContent === "%d"`, want+bulk))
	b.eventually(t, "one page of clients and more", `document.querySelectorAll("#clients tr").length === 50 && `+
		`!document.getElementById("clients-more").hidden`)
	require.Equal(t, fmt.Sprintf("(%d)", want+bulk), b.text(t, "clients-total"))
	require.Contains(t, b.text(t, "clients"), "3.1.1")
	require.Contains(t, b.text(t, "clients"), "fleet")
	require.NoError(t, chromedp.Do(b.ctx, chromedp.Click(chromedp.ID("clients-more"))))
	b.eventually(t, "every client listed", fmt.Sprintf(`document.querySelectorAll("#clients tr").length === %d && `+
		`document.getElementById("clients-more").hidden`, want+bulk))
	ids := eval[[]string](t, b, `[...document.querySelectorAll("#clients tr td:first-child")].map(td => td.textContent)`)
	require.True(t, slices.IsSorted(ids), "ordered by client id, with no gap or repeat at the page's seam: %v", ids)
	require.Len(t, slices.Compact(slices.Clone(ids)), want+bulk)
	require.Empty(t, b.errors(noErrors), "console errors while following the traffic")

	// The admin server goes away: the page says so and retries, and comes
	// back when the server does. Only the browser's own note of each
	// refused request (its network log) may be on the console then.
	down := time.Now()
	adm.stop()
	b.eventually(t, "the disconnected state", `document.getElementById("state").textContent === "disconnected"`)
	require.NotEmpty(t, b.text(t, "error"))
	adm.start(t)
	b.eventually(t, "the connected state again", `document.getElementById("state").textContent === "connected"`)
	up := time.Now()
	b.eventually(t, "the clients again", fmt.Sprintf(`document.getElementById("connected").textContent === "%d"`, want+bulk))
	b.eventually(t, "the error gone", `document.getElementById("error").hidden`)
	require.Empty(t, b.errors(func(m chromedp.ConsoleMessage, at time.Time) bool {
		return noErrors(m, at) || m.Source == "network" && m.Type == chromedp.ConsoleError && !at.Before(down) && !at.After(up)
	}), "console errors other than the refused requests while the server was down")
	if !served {
		require.Equal(t, 1, strings.Count(b.consoleText(noErrors), "\n"), "the page stopped asking for top topics")
	}
}

// topicsServed says whether the admin server answers /api/v1/topics;
// userPass are its basic auth credentials, if it has any.
func topicsServed(t *testing.T, adm *adminServer, userPass ...string) bool {
	t.Helper()
	req, err := http.NewRequest("GET", adm.url()+"api/v1/topics", nil)
	require.NoError(t, err)
	if len(userPass) == 2 {
		req.SetBasicAuth(userPass[0], userPass[1])
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = res.Body.Close()
	return res.StatusCode == http.StatusOK
}

// publish has each publisher send its messages at its pace, all in
// parallel, and says how many were sent in all once they are.
func publish(t *testing.T, pubs []*pahotest.V5Client) <-chan int {
	done := make(chan int, 1)
	var wg sync.WaitGroup
	counts := make([]int, len(pubs))
	errs := make(chan error, len(pubs))
	deadline := time.Now().Add(publishFor)
	for i, c := range pubs {
		wg.Go(func() {
			p := publishers[i]
			tick := time.NewTicker(p.every)
			defer tick.Stop()
			for n := 0; n < perPublisher && time.Now().Before(deadline); n++ {
				<-tick.C
				ctx, cancel := context.WithTimeout(context.Background(), loomtest.Wait)
				_, err := c.Publish(ctx, &paho.Publish{Topic: p.topic, QoS: 0, Payload: []byte(strconv.Itoa(n))})
				cancel()
				if err != nil {
					errs <- fmt.Errorf("%s: %w", p.id, err)
					return
				}
				counts[i]++
			}
		})
	}
	go func() {
		wg.Wait()
		close(errs)
		sum := 0
		for _, n := range counts {
			sum += n
		}
		done <- sum
	}()
	t.Cleanup(func() {
		for err := range errs {
			t.Errorf("publishing: %v", err)
		}
	})
	return done
}

// drain reads a subscriber's messages so that its client never blocks.
func drain[T any](c <-chan T) {
	for range c {
	}
}

// saveScreenshot writes a screenshot of the whole page, as a PNG: to the
// docs when screenshotEnv says so, else to the test's temporary directory.
func saveScreenshot(t *testing.T, b *browser) {
	t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.Greater(t, len(png), 8)
	require.Equal(t, "\x89PNG", string(png[:4]))
	path := filepath.Join(t.TempDir(), "dashboard.png")
	if os.Getenv(screenshotEnv) == "1" {
		path = filepath.Join("..", "..", "docs", "img", "dashboard.png")
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	}
	require.NoError(t, os.WriteFile(path, png, 0o644))
	t.Logf("screenshot: %s", path)
}
