package app

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
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
			req.Host = "localhost:18080"
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
