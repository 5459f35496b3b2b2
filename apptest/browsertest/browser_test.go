package browsertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// testTimeout bounds every browser action of one test. A hung ceremony
// (navigator.credentials waiting for a presence that never comes) fails
// the test instead of the whole run.
const testTimeout = 60 * time.Second

// debianChromium is where Debian's package (and .ci/run) puts the browser.
const debianChromium = "/usr/bin/chromium"

// chromiumPath finds Chromium: $TWOFOLD_CHROMIUM when set (it must exist),
// else Debian's /usr/bin/chromium, else chromium on PATH. Missing, the
// test skips on a developer's machine but fails when CI is set
// (ARCHITECTURE.md, "Tests and CI"), so CI can never pass without the suite.
func chromiumPath(t *testing.T) string {
	t.Helper()
	var path string
	switch p := os.Getenv("TWOFOLD_CHROMIUM"); {
	case p != "":
		if _, err := os.Stat(p); err == nil {
			path = p
		}
	default:
		if _, err := os.Stat(debianChromium); err == nil {
			path = debianChromium
		} else if p, err := exec.LookPath("chromium"); err == nil {
			path = p
		}
	}
	if path != "" {
		return path
	}
	where := debianChromium + " or chromium on PATH"
	if p := os.Getenv("TWOFOLD_CHROMIUM"); p != "" {
		where = p + " ($TWOFOLD_CHROMIUM)"
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("Chromium not found at %s, and CI is set: browser tests must run in CI (.ci/run installs it)", where)
	}
	t.Skipf("Chromium not found at %s: skipping the browser tests (apt-get install chromium to run them)", where)
	return ""
}

// browser is one headless Chromium for one test, with the folder that
// receives its screenshots.
type browser struct {
	t        *testing.T
	root     context.Context // the chromedp context that owns the process
	deadline time.Time
	output   *syncBuffer // the browser's own stderr, shown on failure

	mu    sync.Mutex
	dir   string
	shots int
}

// newBrowser starts Chromium for t, stopped and cleaned at the end of t.
func newBrowser(t *testing.T) (*browser, *tab) {
	t.Helper()
	exe := chromiumPath(t)
	dir := artifactsDir(t)
	profile := t.TempDir() // removed after the browser is stopped (cleanups run last-in first-out)

	b := &browser{t: t, dir: dir, output: &syncBuffer{}, deadline: time.Now().Add(testTimeout)}
	// The process lives at most a little longer than the actions, so that a
	// failure still gets its screenshot, and never outlives the test.
	hard, cancelHard := context.WithDeadline(context.Background(), b.deadline.Add(15*time.Second))
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox, // tests run as root in CI containers
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1024, 800),
		chromedp.CombinedOutput(b.output),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(hard, opts...)
	root, cancelRoot := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancelRoot()
		cancelAlloc() // waits for the process to exit
		cancelHard()
	})
	if err := chromedp.Do(root); err != nil { // starts the process and its first tab
		t.Fatalf("starting %s: %v\n%s", exe, err, indent(chromiumLog(b.output.String(), 30)))
	}
	b.root = root
	return b, b.attach(root, "first tab")
}

// newTab opens a tab in a new browser context: no cookies, no storage and
// no authenticators shared with the other tabs, as on another device.
func (b *browser) newTab(name string) *tab {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.root, chromedp.WithNewBrowserContext())
	b.t.Cleanup(cancel)
	// The first Run binds the tab's event loop to its context: give it the
	// tab's own (bounded by the process's deadline), not a shorter one.
	if err := chromedp.Do(ctx); err != nil {
		b.t.Fatalf("opening %s: %v", name, err)
	}
	return b.attach(ctx, name)
}

func (b *browser) attach(ctx context.Context, name string) *tab {
	actions, cancel := context.WithDeadline(ctx, b.deadline)
	b.t.Cleanup(cancel)
	tb := &tab{b: b, t: b.t, name: name, raw: ctx, ctx: actions}
	// Collect what the pages log (webauthn.js errors, CSP refusals) to show
	// on failure; the loop ends with the tab's context.
	messages := chromedp.Console(actions)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			tb.mu.Lock()
			tb.console = append(tb.console, fmt.Sprintf("%s %s", m.Type, m))
			tb.mu.Unlock()
		}
	}()
	return tb
}

// screenshot saves the full page as NN-name.png in the test's folder.
func (b *browser) screenshot(ctx context.Context, name string) (string, error) {
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100 means PNG
	if err != nil {
		return "", err
	}
	b.mu.Lock()
	b.shots++
	file := filepath.Join(b.dir, fmt.Sprintf("%02d-%s.png", b.shots, name))
	b.mu.Unlock()
	return file, os.WriteFile(file, png, 0o644)
}

// tab is one page of the browser; every action runs under the test's
// deadline.
type tab struct {
	b    *browser
	t    *testing.T
	name string
	raw  context.Context // the tab without the deadline, for the post-mortem
	ctx  context.Context // the tab with the deadline: every action runs on it

	mu      sync.Mutex
	console []string

	webauthnOn bool
}

// do runs actions, failing the test with a post-mortem on error.
func (tb *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	if err := chromedp.Do(tb.ctx, actions...); err != nil {
		tb.fail(what, err)
	}
}

// get runs one action and returns its value, failing the test on error.
func get[T any](tb *tab, what string, a chromedp.Action[T]) T {
	tb.t.Helper()
	v, err := chromedp.Run(tb.ctx, a)
	if err != nil {
		tb.fail(what, err)
	}
	return v
}

// waitPage waits until the page that has sel is shown and loaded, so that
// a screenshot has its styles and images.
func (tb *tab) waitPage(what, sel string) {
	tb.t.Helper()
	tb.do(what,
		chromedp.WaitVisible(chromedp.CSS(sel)),
		chromedp.Poll[chromedp.Void](`document.readyState === "complete"`),
	)
}

// shot saves a screenshot of the current page.
func (tb *tab) shot(name string) {
	tb.t.Helper()
	if _, err := tb.b.screenshot(tb.ctx, name); err != nil {
		tb.fail("screenshot "+name, err)
	}
}

// submit clicks the submit button of form#id, as a person would.
func (tb *tab) submit(id string) {
	tb.t.Helper()
	tb.do("submit form#"+id, chromedp.Click(chromedp.CSS("#"+id+` button[type="submit"]`)))
}

// follow clicks sel (a link, or a form's button) and waits until the page it leads to has loaded, after every
// redirect on the way. Waiting for the load rather than for a selector tells a new page from the old one when
// both have the same elements, as the demo's page has after each of its buttons. It returns the page's HTTP
// status.
func (tb *tab) follow(what, sel string) int64 {
	tb.t.Helper()
	resp, err := chromedp.RunResponse(tb.ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		tb.fail(what, err)
	}
	if resp == nil {
		return 0
	}
	return resp.Status
}

// fail ends the test with what the browser shows: a screenshot, the
// address, the page's text, the console and the browser's own output.
func (tb *tab) fail(what string, err error) {
	tb.t.Helper()
	var report strings.Builder
	fmt.Fprintf(&report, "%s (%s): %v", what, tb.name, err)
	if errors.Is(err, context.DeadlineExceeded) {
		fmt.Fprintf(&report, "\n(the test's %s for browser actions ran out)", testTimeout)
	}
	pm, cancel := context.WithTimeout(tb.raw, 5*time.Second)
	defer cancel()
	if file, err := tb.b.screenshot(pm, "failure"); err == nil {
		fmt.Fprintf(&report, "\nscreenshot: %s", file)
	}
	if loc, err := chromedp.Run(pm, chromedp.Location()); err == nil {
		fmt.Fprintf(&report, "\nat: %s", loc)
	}
	if text, err := chromedp.Run(pm, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`)); err == nil {
		fmt.Fprintf(&report, "\npage text:\n%s", indent(text))
	}
	tb.mu.Lock()
	if len(tb.console) > 0 {
		fmt.Fprintf(&report, "\nconsole:\n%s", indent(strings.Join(tb.console, "\n")))
	}
	tb.mu.Unlock()
	if out := chromiumLog(tb.b.output.String(), 30); out != "" {
		fmt.Fprintf(&report, "\nchromium output (last lines):\n%s", indent(out))
	}
	tb.t.Fatal(report.String())
}

// chromiumLog is the last n lines of the browser's output without the
// noise of a container: no D-Bus, and the Debian launcher's shell warning.
func chromiumLog(out string, n int) string {
	var keep []string
	for line := range strings.Lines(out) {
		if strings.Contains(line, "dbus") || strings.Contains(line, "unexpected operator") {
			continue
		}
		keep = append(keep, strings.TrimRight(line, "\n"))
	}
	return strings.Join(keep[max(0, len(keep)-n):], "\n")
}

func indent(s string) string {
	return "\t" + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n\t")
}

// artifactsDir is an empty folder for t's screenshots:
// $TWOFOLD_ARTIFACTS/<test>, else <repo>/artifacts/browser/<test>.
func artifactsDir(t *testing.T) string {
	t.Helper()
	base := os.Getenv("TWOFOLD_ARTIFACTS")
	if base == "" {
		root, err := repoRoot()
		if err != nil {
			t.Fatal(err)
		}
		base = filepath.Join(root, "artifacts", "browser")
	}
	dir := filepath.Join(base, t.Name())
	// Screenshots of an earlier run would mislead whoever looks at them.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// repoRoot is the directory of go.mod above the test's working directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// syncBuffer is a bytes.Buffer safe for the browser's output goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
