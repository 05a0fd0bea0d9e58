package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// ACEVersion is the atlassian-connect-express the peer in bench/ace pins
// (package.json, package-lock.json).
const ACEVersion = "11.5.3"

// ACEDir is the peer's directory in the module.
func ACEDir(root string) string { return filepath.Join(root, "bench", "ace") }

// EnsureACE installs the peer's dependencies from its lock file (npm ci)
// unless they are there already, and checks that the installed
// atlassian-connect-express is ACEVersion.
func EnsureACE(ctx context.Context, dir string) error {
	if _, err := exec.LookPath("node"); err != nil {
		return fmt.Errorf("ace: node is not installed: %w", err)
	}
	pkg := filepath.Join(dir, "node_modules", "atlassian-connect-express", "package.json")
	if _, err := os.Stat(pkg); errors.Is(err, os.ErrNotExist) {
		if _, err := exec.LookPath("npm"); err != nil {
			return fmt.Errorf("ace: npm is not installed: %w", err)
		}
		// Optional dependencies are left out: ACE's only one is ngrok's
		// tunnel client, for development against a real site.
		ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "npm", "ci", "--omit=optional", "--no-audit", "--no-fund", "--loglevel=error")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("ace: npm ci: %w\n%s", err, out)
		}
	} else if err != nil {
		return fmt.Errorf("ace: %w", err)
	}
	raw, err := os.ReadFile(pkg)
	if err != nil {
		return fmt.Errorf("ace: %w", err)
	}
	var p struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return fmt.Errorf("ace: %s: %w", pkg, err)
	}
	if p.Version != ACEVersion {
		return fmt.Errorf("ace: node_modules holds atlassian-connect-express %s, want %s: remove %s and run again",
			p.Version, ACEVersion, filepath.Join(dir, "node_modules"))
	}
	return nil
}

// StartACE writes the tenants (client key, shared secret, base URL) where
// the peer reads them, starts it with node on a free loopback port and
// waits until it has stored them all.
func StartACE(ctx context.Context, dir, tmp string, tenants []Tenant) (*Proc, error) {
	type seeded struct {
		ClientKey    string `json:"clientKey"`
		SharedSecret string `json:"sharedSecret"`
		BaseURL      string `json:"baseUrl"`
	}
	list := make([]seeded, 0, len(tenants))
	for i, t := range tenants {
		if strings.ContainsFunc(string(t.Secret), func(r rune) bool { return r < 0x21 || r > 0x7e }) {
			return nil, fmt.Errorf("ace: tenant %s: the shared secret is not printable", t.ClientKey)
		}
		list = append(list, seeded{t.ClientKey, string(t.Secret), fmt.Sprintf("http://127.0.0.1:9/site-%d", i+1)})
	}
	raw, err := json.Marshal(list)
	if err != nil {
		return nil, fmt.Errorf("ace: %w", err)
	}
	path := filepath.Join(tmp, "ace-tenants.json")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		return nil, fmt.Errorf("ace: %w", err)
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("ace: %w", err)
	}
	return StartIn(ctx, dir, "ace", node, []string{"server.js"},
		[]string{fmt.Sprintf("PORT=%d", port), "ACE_TENANTS=" + path}, port, filepath.Join(tmp, "ace.log"))
}

// CheckACE makes sure that the peer verifies what it is measured on: a
// context token of the tenant answers 200 with the token's account, and
// the same token signed with another secret is refused.
func CheckACE(ctx context.Context, url string, t Tenant, now time.Time) error {
	ask := func(token string) (int, string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/api/v1/me", nil)
		if err != nil {
			return 0, "", err
		}
		req.Header.Set("Authorization", "JWT "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		var body struct {
			AccountID string `json:"accountId"`
		}
		_ = json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&body)
		return resp.StatusCode, body.AccountID, nil
	}
	acct := t.Agents[0]
	code, got, err := ask(t.Token(acct, now))
	if err != nil || code != http.StatusOK || got != acct {
		return fmt.Errorf("ace: a valid context token answered %d %q (%v), want 200 %q", code, got, err, acct)
	}
	forged := t
	forged.Secret = []byte("not-the-tenant-s-shared-secret")
	if code, _, err := ask(forged.Token(acct, now)); err != nil || code < 400 || code >= 500 {
		return fmt.Errorf("ace: a token signed with another secret answered %d (%v), want a 4xx", code, err)
	}
	return nil
}
