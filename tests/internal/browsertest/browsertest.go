// Package browsertest holds what the black-box tests that drive Debian's
// Chromium share: finding it, and keeping it on loopback. tests/transport
// starts it with a page that posts its results; tests/dashboard drives it
// over the DevTools protocol (chromedp). Both give it these flags.
package browsertest

import (
	"net"
	"os/exec"
	"testing"
)

// Find is Debian's chromium, or the test is skipped, saying how to
// install it.
func Find(t *testing.T) string {
	t.Helper()
	for _, n := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	t.Skip("SKIPPED: chromium not installed: apt-get install chromium (scripts/test installs it)")
	return ""
}

// Flags keep Chromium quiet and on loopback, as name=value pairs (without
// the leading dashes). It calls home even with the background features
// off (updates, time, accounts): loopback bypasses the proxy, anything
// else goes to one on loopback that closes at once (DeadProxy), and no
// name but localhost resolves, so it reaches no other host.
func Flags(t *testing.T) [][2]string {
	return [][2]string{
		{"no-sandbox", ""}, // as root, and in containers without user namespaces
		{"disable-gpu", ""},
		{"disable-component-update", ""},
		{"disable-domain-reliability", ""},
		{"no-pings", ""},
		{"disable-features", "Translate,OptimizationHints,MediaRouter,AutofillServerCommunication,CertificateTransparencyComponentUpdater"},
		{"proxy-server", DeadProxy(t)},
		{"host-resolver-rules", "MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1"},
	}
}

// DeadProxy is a loopback address that accepts connections and closes
// them at once, for the test's life.
func DeadProxy(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	return "http://" + l.Addr().String()
}

// Tail is the end of a long output, for a failure's message.
func Tail(s string) string {
	const n = 4000
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
