package app

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"agentpresence/handlers"
	"agentpresence/handlers/jira/jiratest"
)

// TestLogsHoldNoSecretOrToken runs a whole tenant's life against a
// simulated Jira site, with the log at debug, and searches the captured
// JSON log for the shared secret and for any JWT ("eyJ", the start of every
// base64url JSON header): a token in a log line is a credential in a log
// store.
func TestLogsHoldNoSecretOrToken(t *testing.T) {
	const appKey = "io.example.presence"
	site, err := jiratest.New(jiratest.Options{AppKey: appKey})
	if err != nil {
		t.Fatal(err)
	}
	jira := httptest.NewServer(site)
	defer jira.Close()
	if err := site.SetBaseURL(jira.URL); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	cfg := Config{Port: port, BaseURL: fmt.Sprintf("http://127.0.0.1:%d", port),
		DatabaseURL: "sqlite:" + filepath.Join(t.TempDir(), "p.db"), AppKey: appKey, AppName: "Presence",
		InstallKeysURL: site.KeysURL(), AppSecretKey: []byte("0123456789abcdef0123456789abcdef"),
		JWTLeeway: 30 * time.Second, RateLimits: true, JiraAllowLoopback: true}
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	log.Info("config", cfg.fields()...)
	a, err := New(context.Background(), cfg, log, os.DirFS(".."), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	if err := site.SetAppBaseURL(cfg.BaseURL); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		site.AddProject(jiratest.ProjectSpec{ID: 10001, Key: "SUP"}),
		site.AddUser(jiratest.UserSpec{AccountID: "agent-1", Agent: []string{"SUP"}, ProjectAdmin: []string{"SUP"}, JiraAdmin: true}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	if err := site.Install(ctx); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	call := func(method, path, auth, body string) int {
		t.Helper()
		req, err := http.NewRequest(method, cfg.BaseURL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if auth != "" {
			req.Header.Set("Authorization", "JWT "+auth)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	token := site.ContextToken("agent-1")
	steps := []struct {
		name   string
		status int
		got    func() int
	}{
		{"me", http.StatusOK, func() int { return call("GET", "/api/v1/me?project=SUP", token, "") }},
		{"online", http.StatusOK, func() int {
			return call("PUT", "/api/v1/me/status", token, `{"online":true,"scope":"project","project":"SUP"}`)
		}},
		{"heartbeat", http.StatusNoContent, func() int { return call("POST", "/api/v1/me/heartbeat", token, "") }},
		{"bad signature", http.StatusUnauthorized, func() int { return call("GET", "/api/v1/me", token[:len(token)-2]+"xx", "") }},
		{"token in the query of a page", http.StatusOK, func() int {
			resp, err := client.Get(site.SignedURL("GET", "/pages/"+handlers.PageNames()[0], nil, "agent-1"))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}},
		{"context token refused on a page", http.StatusUnauthorized, func() int {
			return call("GET", "/pages/"+handlers.PageNames()[0]+"?jwt="+token, "", "")
		}},
		{"offline", http.StatusOK, func() int {
			return call("PUT", "/api/v1/me/status", token, `{"online":false,"scope":"all"}`)
		}},
	}
	for _, s := range steps {
		if got := s.got(); got != s.status {
			t.Errorf("%s: status %d, want %d", s.name, got, s.status)
		}
	}
	if err := site.SendWebhook(ctx, jiratest.WebhookCommentCreated, "agent-1"); err != nil {
		t.Errorf("webhook: %v", err)
	}
	for i, step := range []func(context.Context) error{site.Disable, site.Enable, site.Uninstall} {
		if err := step(ctx); err != nil {
			t.Errorf("lifecycle step %d: %v", i, err)
		}
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := a.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}

	out := logs.String()
	if !strings.Contains(out, `"path":"/api/v1/me"`) || !strings.Contains(out, "/lifecycle/installed") {
		t.Fatalf("the session was not logged at all:\n%s", out)
	}
	secret := site.SharedSecret()
	for what, needle := range map[string]string{
		"the shared secret": string(secret), "the shared secret in base64": base64.StdEncoding.EncodeToString(secret),
		"a JWT": "eyJ", "the app secret key": string(cfg.AppSecretKey),
	} {
		if i := strings.Index(out, needle); i >= 0 {
			line := out[bytes.LastIndexByte([]byte(out[:i]), '\n')+1:]
			if j := strings.IndexByte(line, '\n'); j >= 0 {
				line = line[:j]
			}
			t.Errorf("the log holds %s:\n%s", what, line)
		}
	}
}

// TestLogLinesPerSecond: LOG_LINES_PER_SECOND bounds each kind of line
// (default 50 a second after a burst of 500), and 0 writes every line, so
// that an operator can keep the access log whole.
func TestLogLinesPerSecond(t *testing.T) {
	const lines = 2000
	tests := []struct {
		name           string
		given          map[string]string
		wantRate       int
		wantAtLeast    int
		wantFewer      bool
		wantConfigFail bool
	}{
		{name: "default: throttled", given: map[string]string{}, wantRate: 50, wantAtLeast: 500, wantFewer: true},
		{name: "0: every line", given: map[string]string{"LOG_LINES_PER_SECOND": "0"}, wantRate: 0, wantAtLeast: lines},
		{name: "negative", given: map[string]string{"LOG_LINES_PER_SECOND": "-1"}, wantConfigFail: true},
		{name: "not a number", given: map[string]string{"LOG_LINES_PER_SECOND": "lots"}, wantConfigFail: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := LoadConfig(envOf(tt.given))
			if tt.wantConfigFail {
				if err == nil || !strings.Contains(err.Error(), "LOG_LINES_PER_SECOND") {
					t.Fatalf("error %v, want one naming LOG_LINES_PER_SECOND", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.LogLinesPerSecond != tt.wantRate {
				t.Fatalf("rate %d, want %d", cfg.LogLinesPerSecond, tt.wantRate)
			}
			var out bytes.Buffer
			log := newLogger(&out, slog.LevelInfo, cfg.LogLinesPerSecond)
			for i := range lines {
				log.Info("request", "route", "/api/v1/me", "status", 200, "n", i)
			}
			got := strings.Count(out.String(), `"msg":"request"`)
			if got < tt.wantAtLeast || (tt.wantFewer && got >= lines) || (!tt.wantFewer && got != lines) {
				t.Fatalf("%d of %d lines written (rate %d)", got, lines, cfg.LogLinesPerSecond)
			}
		})
	}
}
