package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// chromiumPaths are where a headless-capable browser is looked for, the
// Debian package's first.
var chromiumPaths = []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// findChromium returns the browser to run, or "" when there is none.
func findChromium() string {
	for _, p := range chromiumPaths {
		if filepath.IsAbs(p) {
			if _, err := os.Stat(p); err == nil {
				return p
			}
			continue
		}
		if abs, err := exec.LookPath(p); err == nil {
			return abs
		}
	}
	return ""
}

// browserPage is one tab of a headless Chromium run for a test.
type browserPage struct {
	ctx   context.Context
	shots string // directory for screenshots
	n     int    // screenshots taken, to number them in order
}

// mustBrowser starts headless Chromium with a fresh profile, closed when the
// test ends. Without Chromium the test fails under CI=true (the CI script
// installs it) and is skipped elsewhere.
func mustBrowser(tb testing.TB, width, height int) *browserPage {
	tb.Helper()
	exe := findChromium()
	if exe == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatal("chromium is not installed: the dashboard browser tests need it (apt-get install chromium)")
		}
		tb.Skip("chromium is not installed; install it (apt-get install chromium) to run the dashboard browser tests")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(tb.TempDir()),
		chromedp.WindowSize(width, height),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	// The first Run starts the browser; it lives as long as ctx.
	_, err := chromedp.Run(ctx, chromedp.Evaluate[int](`1`))
	if err != nil {
		cancel()
		cancelAlloc()
		tb.Fatalf("start chromium %s: %v", exe, err)
	}
	tb.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		defer ccancel()
		_ = chromedp.Cancel(cctx)
		cancel()
		cancelAlloc()
	})
	return &browserPage{ctx: ctx, shots: screenshotDir(tb)}
}

// screenshotDir is $LATTICESTATE_SCREENSHOTS/<test name> when that is set,
// so the pictures outlive the test, else a temporary directory.
func screenshotDir(tb testing.TB) string {
	tb.Helper()
	root := os.Getenv("LATTICESTATE_SCREENSHOTS")
	if root == "" {
		return tb.TempDir()
	}
	dir := filepath.Join(root, filepath.Base(tb.Name()))
	require.NoError(tb, os.MkdirAll(dir, 0o755))
	return dir
}

// do runs actions with a deadline.
func (p *browserPage) do(tb testing.TB, actions ...chromedp.Action[chromedp.Void]) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	require.NoError(tb, chromedp.Do(ctx, actions...))
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](tb testing.TB, p *browserPage, expr string, opts ...chromedp.EvaluateOption) T {
	tb.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, opts...))
	require.NoError(tb, err, "evaluate %s", expr)
	return v
}

// waitFor waits until the JavaScript predicate is true in the page, checked
// on every animation frame; on timeout it saves a screenshot and fails.
func (p *browserPage) waitFor(tb testing.TB, what, predicate string, timeout time.Duration) time.Duration {
	tb.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(p.ctx, timeout+5*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](predicate, chromedp.WithPollingTimeout(timeout)))
	if err != nil {
		name := p.screenshot(tb, "timeout")
		tb.Fatalf("page: %s: not after %v (%v); screenshot %s", what, timeout, err, name)
	}
	return time.Since(start)
}

// screenshot saves the viewport as a numbered PNG and returns its path.
func (p *browserPage) screenshot(tb testing.TB, name string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	require.NoError(tb, err)
	p.n++
	file := filepath.Join(p.shots, fmt.Sprintf("%02d-%s.png", p.n, name))
	require.NoError(tb, os.WriteFile(file, png, 0o644))
	return file
}

// freePort returns a TCP port that was free a moment ago on 127.0.0.1, for
// servers that must come back on the same address after a restart.
func freePort(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}
