package app

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"agentpresence/handlers/forge"
	"agentpresence/handlers/forge/forgetest"
)

func TestLoadForgeConfig(t *testing.T) {
	const uuid = "6C0A2E9B-1F4D-4C1E-9A57-0D7F3C2B8E11"
	tests := []struct {
		name            string
		given           map[string]string
		wantApp, wantKS string
		wantErr         string
	}{
		{name: "off by default", given: map[string]string{}, wantKS: forge.DefaultJWKSURL},
		{name: "a bare UUID", given: map[string]string{"FORGE_APP_ID": uuid},
			wantApp: "ari:cloud:ecosystem::app/" + strings.ToLower(uuid), wantKS: forge.DefaultJWKSURL},
		{name: "an ARI", given: map[string]string{"FORGE_APP_ID": "ari:cloud:ecosystem::app/" + uuid},
			wantApp: "ari:cloud:ecosystem::app/" + strings.ToLower(uuid), wantKS: forge.DefaultJWKSURL},
		{name: "not an app id", given: map[string]string{"FORGE_APP_ID": "my-app"}, wantErr: "FORGE_APP_ID"},
		{name: "another JWKS", given: map[string]string{"FORGE_JWKS_URL": "https://keys.example.com/jwks.json"},
			wantKS: "https://keys.example.com/jwks.json"},
		{name: "a loopback stand-in", given: map[string]string{"FORGE_JWKS_URL": "http://127.0.0.1:9/.well-known/jwks.json"},
			wantKS: "http://127.0.0.1:9/.well-known/jwks.json"},
		{name: "http off loopback", given: map[string]string{"FORGE_JWKS_URL": "http://keys.example.com/jwks.json"}, wantErr: "FORGE_JWKS_URL"},
		{name: "relative", given: map[string]string{"FORGE_JWKS_URL": "/jwks.json"}, wantErr: "FORGE_JWKS_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := LoadConfig(envOf(tt.given))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.ForgeAppID != tt.wantApp || c.ForgeJWKSURL != tt.wantKS {
				t.Fatalf("app %q, JWKS %q; want %q, %q", c.ForgeAppID, c.ForgeJWKSURL, tt.wantApp, tt.wantKS)
			}
		})
	}
}

// TestMainIsAForgeRemote runs the real Main with FORGE_APP_ID and a
// stand-in Forge platform's JWKS: Forge's installed event registers the
// installation, a page's FIT reaches the agent API, a FIT for another app
// is refused.
func TestMainIsAForgeRemote(t *testing.T) {
	const appID = "6c0a2e9b-1f4d-4c1e-9a57-0d7f3c2b8e11"
	p, err := forgetest.New(appID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	other, err := forgetest.New("0d3e7a52-6f1b-4c8e-9e2a-5b7c1d9f4a60")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(other.Close)
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	env := map[string]string{"PORT": fmt.Sprint(port), "BASE_URL": base, "LOG_LEVEL": "warn", "JIRA_ALLOW_LOOPBACK": "1",
		"DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "p.db"), "FORGE_APP_ID": appID, "FORGE_JWKS_URL": p.JWKSURL()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	logs := &syncBuffer{}
	go func() { done <- Main(ctx, nil, envOf(env), logs, os.DirFS("..")) }()
	if err := waitHealthy(base, done); err != nil {
		cancel()
		t.Fatalf("%v\n%s", err, logs)
	}
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

	inst := forgetest.NewInstallation("http://127.0.0.1:1/jira", "http://127.0.0.1:1/site")
	send := func(req *http.Request, err error) (int, string) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		resp, err := forgetest.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := send(p.Installed(ctx, base, "/forge/lifecycle/installed", inst, "557058:ada")); code != http.StatusNoContent {
		t.Fatalf("installed event: %d %s", code, body)
	}
	if code, body := send(p.RequestRemote(ctx, base, inst, "557058:alice", http.MethodGet, "/api/v1/timezones", nil)); code != http.StatusOK {
		t.Fatalf("a page's FIT: %d %s", code, body)
	}
	if code, body := send(other.RequestRemote(ctx, base, inst, "557058:alice", http.MethodGet, "/api/v1/timezones", nil)); code != http.StatusUnauthorized {
		t.Fatalf("another app's FIT: %d %s", code, body)
	}
}

// waitHealthy waits for /healthz, or Main's early end.
func waitHealthy(base string, done <-chan error) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(base + "/healthz"); err == nil {
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
	return fmt.Errorf("no /healthz within 30 s")
}
