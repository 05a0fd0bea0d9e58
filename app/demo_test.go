package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemoRoutesOnlyInDemoMode: /demo/… (the simulated Jira, its tokens,
// the AP stand-in) does not exist unless the demo mode is on, and in demo
// mode the pages load the stand-in instead of Atlassian's all.js and trust
// the simulated install-keys server.
func TestDemoRoutesOnlyInDemoMode(t *testing.T) {
	for _, demo := range []bool{false, true} {
		cfg, err := LoadConfig(envOf(map[string]string{"BASE_URL": "http://localhost:18080",
			"DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "p.db")}))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Demo = demo
		a, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler), os.DirFS(".."), Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = a.Shutdown(context.Background()) })
		for _, tt := range []struct {
			path     string
			wantDemo int
		}{
			{"/demo/ap.js", http.StatusOK},
			{"/demo/api/token?accountId=557058:alice", http.StatusOK},
			// The simulated key server knows no such kid; the app would answer JSON.
			{"/demo/jira/install-keys/x", http.StatusNotFound},
		} {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, tt.path, nil)
			req.Host, req.RemoteAddr = "localhost:18080", "127.0.0.1:5000"
			a.server.Handler.ServeHTTP(rec, req)
			want, fromApp := tt.wantDemo, strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") && rec.Code == http.StatusNotFound
			if !demo {
				want = http.StatusNotFound
			}
			if rec.Code != want || fromApp == demo {
				t.Errorf("demo %v: GET %s = %d %s, want %d from the %s", demo, tt.path, rec.Code, rec.Body,
					want, map[bool]string{true: "demo host", false: "app"}[demo])
			}
		}
		if demo && a.demo.KeysURL() != "http://localhost:18080/demo/jira/install-keys" {
			t.Errorf("keys URL %s", a.demo.KeysURL())
		}
	}
}

// TestDemoListensOnLoopbackOnly: the demo hands out admin tokens to whoever
// asks, so it must not be reachable from another machine: it listens on
// the loopback addresses only, and its routes refuse a request that did
// not come from this machine whatever Host it names. (Nothing is sent to
// another address: the listeners' addresses are read, and the remote
// address of a request is set by the test.)
func TestDemoListensOnLoopbackOnly(t *testing.T) {
	port := freePort(t)
	cfg, err := LoadConfig(envOf(map[string]string{"BASE_URL": fmt.Sprintf("http://localhost:%d", port),
		"PORT": fmt.Sprint(port), "DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "p.db")}))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Demo = true
	a, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler), os.DirFS(".."), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Shutdown(context.Background()) })
	addrs := a.Addrs()
	if len(addrs) == 0 {
		t.Fatal("no listener")
	}
	for _, addr := range addrs {
		ap, err := netip.ParseAddrPort(addr)
		if err != nil || !ap.Addr().IsLoopback() {
			t.Errorf("the demo listens on %s", addr)
		}
	}
	for remote, want := range map[string]int{"192.0.2.9:4000": http.StatusForbidden, "127.0.0.1:4000": http.StatusOK, "[::1]:4000": http.StatusOK} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/demo/api/token?accountId=557058:ada", nil)
		req.Host, req.RemoteAddr = fmt.Sprintf("127.0.0.1:%d", port), remote
		a.server.Handler.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("from %s: %d %.100s, want %d", remote, rec.Code, rec.Body, want)
		}
	}
}
