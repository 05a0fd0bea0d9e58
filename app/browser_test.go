package app

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// chromiumPath is Debian's Chromium, which the scenarios drive through
// playwright-core (no browser download on a closed network).
const chromiumPath = "/usr/bin/chromium"

// TestBrowser runs the real app in demo mode on a free port with SQLite and
// drives the pages with headless Chromium (testdata/browser/scenarios.mjs):
// an agent going online and offline while the portal's chat icon follows,
// the door, the schedule editor, the external widget on an allowed and a
// refused origin, the admin page and the project settings, the dialog's
// main action, the schedule editor's zone search, copy, ranges and preview,
// keyboard paths, and axe-core on every page, light and dark; then broken
// streams through a fault proxy (faultproxy_test.go: reset, held, refused)
// and a restart of the app, after which icons and counters must follow
// within seconds. Screenshots go to test-artifacts/ at the repository root.
//
// Without node, Chromium or the node modules it skips, saying what to
// install; under CI (CI set) it fails instead.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser scenarios skipped in -short mode")
	}
	dir := filepath.Join("testdata", "browser")
	missing := func(what string) {
		t.Helper()
		if os.Getenv("CI") != "" {
			t.Fatalf("browser tests cannot run under CI: %s", what)
		}
		t.Skipf("browser tests skipped: %s (bash .ci/test-all installs everything)", what)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not installed")
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		missing(chromiumPath + " is missing (apt-get install chromium)")
	}
	for _, m := range []string{"playwright-core", "axe-core"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", m)); err != nil {
			missing(m + " is missing (npm ci --prefix app/testdata/browser)")
		}
	}
	artifacts, err := filepath.Abs(filepath.Join("..", "test-artifacts"))
	if err != nil {
		t.Fatal(err)
	}

	port := freePort(t)
	base := fmt.Sprintf("http://localhost:%d", port)
	// Licenses are enforced: the demo's site has an active one until the
	// licensing scenarios switch it (and then restart the app without).
	env := map[string]string{
		"PORT": fmt.Sprint(port), "BASE_URL": base, "DEMO": "1", "LOG_LEVEL": "warn", "LICENSING": "on",
		"DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "presence.db"),
	}
	logs := &syncBuffer{}
	app := &demoApp{env: env, logs: logs}
	done := app.start()
	t.Cleanup(func() {
		if err := app.stop(); err != nil {
			t.Error(err)
		}
	})
	waitDemoReady(t, base, done, logs)
	// The scenarios of broken streams route a browser context through
	// this proxy; /restart?down=4s stops the app, leaves its port closed
	// for a while (at most 10 s) as a deployment does, and starts it again
	// on the same database.
	proxy := startFaultProxy(t, map[string]func(url.Values) error{"/restart": func(q url.Values) error {
		down, err := time.ParseDuration(q.Get("down"))
		if err != nil || down < 0 || down > 10*time.Second {
			return fmt.Errorf("down %q: a duration up to 10s", q.Get("down"))
		}
		if err := app.stop(); err != nil {
			return err
		}
		time.Sleep(down)
		return waitReady(base, app.start())
	}})

	sctx, stop := context.WithTimeout(context.Background(), 10*time.Minute)
	defer stop()
	// The Connect host's scenarios, then the Forge host's (the demo's
	// stand-in Forge platform, its own tenant), then licensing, on and,
	// after a restart with LICENSING=off, off.
	for _, run := range []struct{ script, licensing string }{
		{"scenarios.mjs", ""}, {"forge-scenarios.mjs", ""},
		{"licensing-scenarios.mjs", "on"}, {"licensing-scenarios.mjs", "off"},
	} {
		script := run.script
		if run.licensing != "" && run.licensing != app.env["LICENSING"] {
			if err := app.stop(); err != nil {
				t.Fatal(err)
			}
			app.env["LICENSING"] = run.licensing
			if err := waitReady(base, app.start()); err != nil {
				t.Fatalf("restart with LICENSING=%s: %v\n%s", run.licensing, err, logs)
			}
		}
		cmd := exec.CommandContext(sctx, node, script, base)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "ARTIFACTS_DIR="+artifacts, "CHROMIUM="+chromiumPath, "FAULT_PROXY="+proxy.URL(),
			"LICENSING="+run.licensing)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = cmd.Stdout
		if err := cmd.Start(); err != nil {
			t.Fatalf("start node: %v", err)
		}
		lines := bufio.NewScanner(out)
		for lines.Scan() {
			t.Log(lines.Text())
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("browser scenarios (%s) failed (%v); screenshots in %s\napp log:\n%s", script, err, artifacts, logs)
		}
	}
}

// demoApp is the app in demo mode, run by Main in this process, that a
// scenario may restart.
type demoApp struct {
	env  map[string]string
	logs *syncBuffer

	mu     sync.Mutex // start and stop run on the test's and the proxy's goroutines
	cancel context.CancelFunc
	done   chan error
}

// start runs Main; done reports its end.
func (a *demoApp) start() (done <-chan error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan error, 1)
	a.cancel, a.done = cancel, ch
	go func() { ch <- Main(ctx, nil, envOf(a.env), a.logs, os.DirFS("..")) }()
	return ch
}

// stop ends Main as SIGTERM does and waits for it; harmless twice.
func (a *demoApp) stop() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.done == nil {
		return nil
	}
	a.cancel()
	done := a.done
	a.done = nil
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("Main: %w", err)
		}
		return nil
	case <-time.After(30 * time.Second):
		return errors.New("main did not stop")
	}
}

// waitDemoReady waits until the demo host has installed the app and
// seeded its data: the external page needs both.
func waitDemoReady(t *testing.T, base string, done <-chan error, logs fmt.Stringer) {
	t.Helper()
	if err := waitReady(base, done); err != nil {
		t.Fatalf("%v\n%s", err, logs)
	}
}

func waitReady(base string, done <-chan error) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/demo/external")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-done:
			return fmt.Errorf("main returned early: %w", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return errors.New("the demo host did not become ready within 30 s")
}
