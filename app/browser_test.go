package app

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
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
// refused origin, the admin page and the project settings. Screenshots go
// to test-artifacts/ at the repository root.
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
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core")); err != nil {
		missing("playwright-core is missing (npm ci --prefix app/testdata/browser)")
	}
	artifacts, err := filepath.Abs(filepath.Join("..", "test-artifacts"))
	if err != nil {
		t.Fatal(err)
	}

	port := freePort(t)
	base := fmt.Sprintf("http://localhost:%d", port)
	env := map[string]string{
		"PORT": fmt.Sprint(port), "BASE_URL": base, "DEMO": "1", "LOG_LEVEL": "warn",
		"DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "presence.db"),
	}
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- Main(ctx, nil, envOf(env), logs, os.DirFS("..")) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Main: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("Main did not stop")
		}
	})
	waitDemoReady(t, base, done, logs)

	sctx, stop := context.WithTimeout(ctx, 4*time.Minute)
	defer stop()
	cmd := exec.CommandContext(sctx, node, "scenarios.mjs", base)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "ARTIFACTS_DIR="+artifacts, "CHROMIUM="+chromiumPath)
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
		t.Fatalf("browser scenarios failed (%v); screenshots in %s\napp log:\n%s", err, artifacts, logs)
	}
}

// waitDemoReady waits until the demo host has installed the app and
// seeded its data: the external page needs both.
func waitDemoReady(t *testing.T, base string, done <-chan error, logs fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/demo/external")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-done:
			t.Fatalf("Main returned early: %v\n%s", err, logs)
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("the demo host never became ready\n%s", logs)
}
