package dashboard_test

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/tests/internal/browsertest"
)

// browser is one headless Chromium with one tab, driven over the DevTools
// protocol, and everything its page wrote to the console.
type browser struct {
	ctx context.Context

	mu       sync.Mutex
	console  []chromedp.ConsoleMessage
	received []time.Time // when each message reached the test
	out      syncBuffer  // Chromium's own output, for failures
}

// startBrowser starts Chromium for the test. It reaches nothing but
// loopback: every other host goes to a proxy on loopback that refuses, and
// no name but localhost resolves. Chromium runs in a process group of its
// own, which the test kills when it ends (that group only: it holds
// Chromium's renderer and helpers, and nothing else).
func startBrowser(t *testing.T, chromium string) *browser {
	t.Helper()
	dir := t.TempDir()
	b := &browser{}
	opts := slices.Clone(chromedp.DefaultExecAllocatorOptions[:])
	for _, f := range browsertest.Flags(t) {
		if f[1] == "" {
			opts = append(opts, chromedp.Flag(f[0], true))
		} else {
			opts = append(opts, chromedp.Flag(f[0], f[1]))
		}
	}
	opts = append(opts,
		chromedp.ExecPath(chromium),
		chromedp.WindowSize(1280, 1000),
		chromedp.UserDataDir(filepath.Join(dir, "profile")),
		chromedp.Env("HOME="+dir),
		chromedp.CombinedOutput(&b.out),
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
			// Its own group, to end its helpers with it; and killed by
			// the kernel if the test binary dies first.
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		}),
	)
	top, stopTop := context.WithTimeout(context.Background(), 20*loomtest.Wait)
	actx, stopAlloc := chromedp.NewExecAllocator(top, opts...)
	ctx, stopTab := chromedp.NewContext(actx)
	b.ctx = ctx
	// The first action starts the browser; the console is read from then on.
	if err := chromedp.Do(ctx); err != nil {
		stopTab()
		stopAlloc()
		stopTop()
		t.Fatalf("starting %s: %v\n%s", chromium, err, browsertest.Tail(b.out.String()))
	}
	pid := chromedp.FromContext(ctx).Browser.Process().Pid
	t.Cleanup(func() {
		stopTab()
		stopAlloc()
		stopTop()
		// Whatever of the group outlived the browser (ESRCH when none).
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	})
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.console = append(b.console, m)
			b.received = append(b.received, time.Now())
			b.mu.Unlock()
		}
	}()
	return b
}

// eval runs a JavaScript expression in the page and returns its value.
func eval[T any](t *testing.T, b *browser, js string) T {
	t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluating %s: %v", js, err)
	}
	return v
}

// text is the text of the element with this id.
func (b *browser) text(t *testing.T, id string) string {
	t.Helper()
	return eval[string](t, b, fmt.Sprintf(`(document.getElementById(%q) || {textContent: "<no #%s>"}).textContent`, id, id))
}

// eventually waits until the JavaScript expression cond is true in the
// page, failing the test with what the page shows after the wait.
func (b *browser) eventually(t *testing.T, what, cond string) {
	t.Helper()
	deadline := time.Now().Add(2 * loomtest.Wait)
	for !eval[bool](t, b, "Boolean("+cond+")") {
		if time.Now().After(deadline) {
			t.Fatalf("the page did not show %s (%s) in %v\n%s", what, cond, 2*loomtest.Wait, b.state(t))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// state is what the page shows, for a failure's message.
func (b *browser) state(t *testing.T) string {
	t.Helper()
	var s strings.Builder
	for _, id := range []string{"state", "error", "connected", "rate-in", "rate-out", "messages-in"} {
		fmt.Fprintf(&s, "#%s: %q\n", id, b.text(t, id))
	}
	fmt.Fprintf(&s, "#rate-chart: %s\n", eval[string](t, b, `JSON.stringify(document.getElementById("rate-chart").dataset)`))
	fmt.Fprintf(&s, "console:\n%s", b.consoleText(func(chromedp.ConsoleMessage, time.Time) bool { return true }))
	return s.String()
}

// errors are the console's errors, warnings and exceptions that allowed
// does not excuse.
func (b *browser) errors(allowed func(m chromedp.ConsoleMessage, at time.Time) bool) string {
	return b.consoleText(func(m chromedp.ConsoleMessage, at time.Time) bool {
		bad := m.IsException() || m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleWarning
		return bad && !allowed(m, at)
	})
}

func (b *browser) consoleText(keep func(chromedp.ConsoleMessage, time.Time) bool) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var s strings.Builder
	for i, m := range b.console {
		at := m.Time
		if at.IsZero() {
			at = b.received[i]
		}
		if keep(m, at) {
			fmt.Fprintf(&s, "  %s %s [%s] %s:%d\n", at.Format("15:04:05.000"), m, m.Source, m.URL, m.Line+1)
		}
	}
	return s.String()
}

// syncBuffer is a bytes.Buffer that Chromium's output goroutine and the
// test may use at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
