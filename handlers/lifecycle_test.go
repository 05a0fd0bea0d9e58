package handlers_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"agentpresence/handlers/connect"
	"agentpresence/handlers/jira/jiratest"
	"agentpresence/models"
	"agentpresence/models/dbtest"
)

func statusOf(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return http.StatusNoContent
	}
	var se *jiratest.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("not an HTTP status error: %v", err)
	}
	return se.Status
}

// sendInstall sends the site's install callback with its token replaced.
func sendInstall(t *testing.T, site *jiratest.Site, token string, body func([]byte) []byte) error {
	t.Helper()
	req, err := site.InstallRequest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if token != "-" {
		if token == "" {
			req.Header.Del("Authorization")
		} else {
			req.Header.Set("Authorization", "JWT "+token)
		}
	}
	if body != nil {
		raw, err := io.ReadAll(req.Body)
		if err != nil {
			t.Fatal(err)
		}
		nb := body(raw)
		req.Body = io.NopCloser(bytes.NewReader(nb))
		req.ContentLength = int64(len(nb))
	}
	return site.Send(req)
}

func TestLifecycle(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		env := newHarness(t, on(dialect), served())
		site := env.newSite(t)
		ctx := context.Background()

		// First install: stored, secret sealed, tokens work.
		tn := env.install(t, site)
		if !tn.Active() || string(tn.SharedSecret) != string(site.SharedSecret()) {
			t.Fatalf("installed tenant %+v", tn)
		}
		if r := env.call(t, site, "alice", "GET", "/api/v1/settings", ""); r.status != http.StatusOK {
			t.Fatalf("token after install: %d %s", r.status, r.body)
		}

		// Reinstall with a new secret: same row, old tokens stop working. A
		// reinstall is a new signed callback, issued later.
		oldToken := site.ContextToken("alice")
		env.clock.Advance(time.Second)
		site.RotateSecret()
		if err := site.Install(ctx); err != nil {
			t.Fatal(err)
		}
		again, err := env.store.TenantByClientKey(ctx, site.ClientKey())
		if err != nil || again.ID != tn.ID {
			t.Fatalf("reinstall: %v id %d vs %d", err, again.ID, tn.ID)
		}
		r := env.call(t, nil, "", "GET", "/api/v1/settings", "", "Authorization", "JWT "+oldToken)
		if r.status != http.StatusUnauthorized || r.errorCode(t) != "bad_signature" {
			t.Fatalf("old token after reinstall: %d %s", r.status, r.body)
		}
		if r := env.call(t, site, "alice", "GET", "/api/v1/settings", ""); r.status != http.StatusOK {
			t.Fatalf("new token after reinstall: %d %s", r.status, r.body)
		}

		// Disabled: 403 for the agent API; enabled again: works.
		if err := site.Disable(ctx); err != nil {
			t.Fatal(err)
		}
		if r := env.call(t, site, "alice", "GET", "/api/v1/settings", ""); r.status != http.StatusForbidden || r.errorCode(t) != "tenant_disabled" {
			t.Fatalf("disabled: %d %s", r.status, r.body)
		}
		if err := site.Enable(ctx); err != nil {
			t.Fatal(err)
		}
		if r := env.call(t, site, "alice", "GET", "/api/v1/settings", ""); r.status != http.StatusOK {
			t.Fatalf("enabled again: %d %s", r.status, r.body)
		}

		// Uninstalled: tokens stop at once, data kept.
		if err := site.Uninstall(ctx); err != nil {
			t.Fatal(err)
		}
		if r := env.call(t, site, "alice", "GET", "/api/v1/settings", ""); r.status != http.StatusUnauthorized || r.errorCode(t) != "unknown_tenant" {
			t.Fatalf("after uninstall: %d %s", r.status, r.body)
		}
		if _, err := env.store.TenantByClientKey(ctx, site.ClientKey()); err != nil {
			t.Fatalf("uninstalled tenant's data is gone at once: %v", err)
		}
	})
}

func TestInstallRejections(t *testing.T) {
	env := newHarness(t, on(models.DialectSQLite), served())
	site := env.newSite(t)
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	installURL := env.baseURL + "/lifecycle/installed"
	mutated := func(m func(*connect.Claims)) string {
		tok, err := site.SignInstall("POST", installURL, m)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	hsToken := func() string {
		// HS256 with the shared secret: the pre-signed-install way, refused.
		c := claimsFor(site.ClientKey(), "", connect.QSH("POST", "/lifecycle/installed", "", ""), env.clock.Now())
		return sign(t, jwt.SigningMethodHS256, c, site.SharedSecret())
	}
	wrongKey := func() string {
		c := claimsFor(site.ClientKey(), "", connect.QSH("POST", "/lifecycle/installed", "", ""), env.clock.Now())
		c.Audience = jwt.ClaimStrings{env.baseURL}
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
		tok.Header["kid"] = testKid
		s, err := tok.SignedString(otherKey)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tests := []struct {
		name   string
		token  string
		body   func([]byte) []byte
		down   bool
		status int
	}{
		{name: "unsigned", token: "", status: http.StatusUnauthorized},
		{name: "HS256 with the shared secret", token: hsToken(), status: http.StatusUnauthorized},
		{name: "signed by another key", token: wrongKey(), status: http.StatusUnauthorized},
		{name: "wrong audience", token: mutated(func(c *connect.Claims) { c.Audience = jwt.ClaimStrings{"https://evil.example.com"} }), status: http.StatusUnauthorized},
		{name: "unknown kid", token: withKid(t, mutated(nil), "no-such-key"), status: http.StatusUnauthorized},
		{name: "expired", token: mutated(func(c *connect.Claims) {
			c.ExpiresAt = jwt.NewNumericDate(env.clock.Now().Add(-time.Hour))
			c.IssuedAt = jwt.NewNumericDate(env.clock.Now().Add(-2 * time.Hour))
		}), status: http.StatusUnauthorized},
		{name: "qsh of another request", token: mutated(func(c *connect.Claims) { c.QSH = connect.QSH("POST", "/lifecycle/uninstalled", "", "") }), status: http.StatusUnauthorized},
		{name: "iss is not the body's clientKey", token: mutated(func(c *connect.Claims) { c.Issuer = "someone-else" }), status: http.StatusUnauthorized},
		// A kid not in the cache yet, while the key server is down.
		{name: "key server down", token: withKid(t, mutated(nil), "not-cached-yet"), down: true, status: http.StatusServiceUnavailable},
		{name: "body not JSON", token: "-", body: func([]byte) []byte { return []byte("not json") }, status: http.StatusBadRequest},
		{name: "no clientKey", token: "-", body: func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"clientKey"`), []byte(`"clientKeyX"`), 1)
		}, status: http.StatusBadRequest},
		{name: "no sharedSecret", token: "-", body: func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"sharedSecret"`), []byte(`"sharedSecretX"`), 1)
		}, status: http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env.keysDown.Store(tt.down)
			defer env.keysDown.Store(false)
			got := statusOf(t, sendInstall(t, site, tt.token, tt.body))
			if got != tt.status {
				t.Fatalf("status %d, want %d", got, tt.status)
			}
			if _, err := env.store.TenantByClientKey(context.Background(), site.ClientKey()); !errors.Is(err, models.ErrNotFound) {
				t.Fatalf("a rejected install was stored: %v", err)
			}
		})
	}
	// Audience with a trailing slash is the same app.
	tok := mutated(func(c *connect.Claims) { c.Audience = jwt.ClaimStrings{env.baseURL + "/"} })
	if got := statusOf(t, sendInstall(t, site, tok, nil)); got != http.StatusNoContent {
		t.Fatalf("audience with trailing slash: %d", got)
	}
	// The secrets and tokens never reach the logs.
	logs := env.logs.String()
	if strings.Contains(logs, string(site.SharedSecret())) || strings.Contains(logs, tok) {
		t.Fatal("a shared secret or a token was logged")
	}
}

// withKid re-signs an install token under another key id.
func withKid(t *testing.T, token, kid string) string {
	t.Helper()
	// The token's times are the test clock's, not the machine's.
	tok, err := jwt.NewParser(jwt.WithoutClaimsValidation()).ParseWithClaims(token, &connect.Claims{},
		func(*jwt.Token) (any, error) { return &installKey().PublicKey, nil })
	if err != nil {
		t.Fatal(err)
	}
	tok.Header["kid"] = kid
	s, err := tok.SignedString(installKey())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// lifecycleRequest builds a site's signed lifecycle callback (event
// "installed" or "uninstalled") as Jira would send it now, so that a test
// can send it again later: a captured request, token and body.
func lifecycleRequest(t *testing.T, site *jiratest.Site, event string) (token string, body []byte) {
	t.Helper()
	req, err := site.LifecycleRequest(context.Background(), event)
	if err != nil {
		t.Fatal(err)
	}
	body, err = io.ReadAll(req.Body)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(req.Header.Get("Authorization"), "JWT "), body
}

// sendLifecycle posts a lifecycle callback with the given token and body
// and answers the status and the error code.
func sendLifecycle(t *testing.T, env *harness, event, token string, body []byte) (int, string) {
	t.Helper()
	r := env.call(t, nil, "", "POST", "/lifecycle/"+event, string(body), "Authorization", "JWT "+token)
	if r.status == http.StatusNoContent {
		return r.status, ""
	}
	return r.status, r.errorCode(t)
}

// TestLifecycleReplayRefused: a signed lifecycle token is accepted once.
// Sent again (with the same or another body), or older than the tenant's
// last accepted signed callback, it is refused with 401 and a clear code,
// and the tenant's secret, base URL and state stay as they were. Abuse cases
// as a table; each starts from a fresh install.
func TestLifecycleReplayRefused(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		env := newHarness(t, on(dialect), served())
		ctx := context.Background()
		// evil rewrites a captured install body: the attacker's secret and
		// Jira, same client key.
		evil := func(b []byte) []byte {
			b = bytes.Replace(b, []byte(`"sharedSecret":"`), []byte(`"sharedSecret":"attacker-`), 1)
			return bytes.Replace(b, []byte(`"baseUrl":"`), []byte(`"baseUrl":"https://evil.example.com/`), 1)
		}
		tests := []struct {
			name string
			// attack runs after the site installed at the clock's now and
			// answers the callback that must be refused.
			attack        func(t *testing.T, site *jiratest.Site) (event, token string, body []byte)
			code          string
			wantInstalled bool
		}{
			{name: "install token replayed with another body", code: "token_replayed", wantInstalled: true,
				attack: func(t *testing.T, site *jiratest.Site) (string, string, []byte) {
					env.clock.Advance(time.Second)
					tok, body := lifecycleRequest(t, site, jiratest.EventInstalled)
					if err := sendInstall(t, site, tok, nil); err != nil {
						t.Fatalf("first use of the token: %v", err)
					}
					env.clock.Advance(30 * time.Second) // still within the token's life
					return jiratest.EventInstalled, tok, evil(body)
				}},
			{name: "install token replayed as is", code: "token_replayed", wantInstalled: true,
				attack: func(t *testing.T, site *jiratest.Site) (string, string, []byte) {
					env.clock.Advance(time.Second)
					tok, body := lifecycleRequest(t, site, jiratest.EventInstalled)
					if code, _ := sendLifecycle(t, env, jiratest.EventInstalled, tok, body); code != http.StatusNoContent {
						t.Fatalf("first use of the token: %d", code)
					}
					return jiratest.EventInstalled, tok, body
				}},
			{name: "install token issued in the same second as the last install", code: "token_stale", wantInstalled: true,
				attack: func(t *testing.T, site *jiratest.Site) (string, string, []byte) {
					tok, err := site.SignInstall("POST", env.baseURL+"/lifecycle/installed", func(c *connect.Claims) {
						c.ExpiresAt = jwt.NewNumericDate(c.ExpiresAt.Add(time.Second)) // another token, same iat
					})
					if err != nil {
						t.Fatal(err)
					}
					_, body := lifecycleRequest(t, site, jiratest.EventInstalled)
					return jiratest.EventInstalled, tok, evil(body)
				}},
			{name: "install token issued before the last install", code: "token_stale", wantInstalled: true,
				attack: func(t *testing.T, site *jiratest.Site) (string, string, []byte) {
					env.clock.Advance(time.Second)
					tok, body := lifecycleRequest(t, site, jiratest.EventInstalled) // captured, never delivered
					env.clock.Advance(time.Minute)
					if err := site.Install(ctx); err != nil {
						t.Fatal(err)
					}
					return jiratest.EventInstalled, tok, evil(body)
				}},
			{name: "install token without iat", code: "missing_iat", wantInstalled: true,
				attack: func(t *testing.T, site *jiratest.Site) (string, string, []byte) {
					env.clock.Advance(time.Second)
					tok, err := site.SignInstall("POST", env.baseURL+"/lifecycle/installed", func(c *connect.Claims) { c.IssuedAt = nil })
					if err != nil {
						t.Fatal(err)
					}
					_, body := lifecycleRequest(t, site, jiratest.EventInstalled)
					return jiratest.EventInstalled, tok, evil(body)
				}},
			{name: "uninstall token replayed after a reinstall", code: "token_replayed", wantInstalled: true,
				attack: func(t *testing.T, site *jiratest.Site) (string, string, []byte) {
					env.clock.Advance(time.Second)
					tok, body := lifecycleRequest(t, site, jiratest.EventUninstalled)
					if code, _ := sendLifecycle(t, env, jiratest.EventUninstalled, tok, body); code != http.StatusNoContent {
						t.Fatalf("uninstall: %d", code)
					}
					env.clock.Advance(time.Second)
					if err := site.Install(ctx); err != nil {
						t.Fatalf("reinstall: %v", err)
					}
					return jiratest.EventUninstalled, tok, body
				}},
			{name: "uninstall token issued before the last install", code: "token_stale", wantInstalled: true,
				attack: func(t *testing.T, site *jiratest.Site) (string, string, []byte) {
					env.clock.Advance(time.Second)
					tok, body := lifecycleRequest(t, site, jiratest.EventUninstalled) // captured, never delivered
					env.clock.Advance(time.Second)
					if err := site.Install(ctx); err != nil {
						t.Fatalf("reinstall: %v", err)
					}
					return jiratest.EventUninstalled, tok, body
				}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				site := env.newSite(t)
				env.install(t, site)
				event, tok, body := tt.attack(t, site)
				before, err := env.store.TenantByClientKey(ctx, site.ClientKey())
				if err != nil {
					t.Fatal(err)
				}
				status, code := sendLifecycle(t, env, event, tok, body)
				if status != http.StatusUnauthorized || code != tt.code {
					t.Fatalf("answer %d %q, want 401 %q", status, code, tt.code)
				}
				after, err := env.store.TenantByClientKey(ctx, site.ClientKey())
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(after.SharedSecret, before.SharedSecret) || after.BaseURL != before.BaseURL ||
					after.Installed != tt.wantInstalled || !bytes.Equal(after.SharedSecret, site.SharedSecret()) {
					t.Fatalf("the refused callback changed the tenant: %+v", after)
				}
				if r := env.call(t, site, "alice", "GET", "/api/v1/settings", ""); r.status != http.StatusOK {
					t.Fatalf("the site's own tokens after the refusal: %d %s", r.status, r.body)
				}
				env.clock.Advance(5 * time.Second)
			})
		}

		// Two replicas racing with one captured token: the database's
		// unique key lets exactly one of them through.
		t.Run("one token sent many times at once", func(t *testing.T) {
			site := env.newSite(t)
			env.install(t, site)
			env.clock.Advance(time.Second)
			tok, body := lifecycleRequest(t, site, jiratest.EventInstalled)
			const n = 8
			var wg sync.WaitGroup
			codes := make(chan int, n)
			for i := range n {
				b := body
				if i%2 == 1 {
					b = evil(body)
				}
				wg.Go(func() {
					status, _ := sendLifecycle(t, env, jiratest.EventInstalled, tok, b)
					codes <- status
				})
			}
			wg.Wait()
			close(codes)
			got := map[int]int{}
			for c := range codes {
				got[c]++
			}
			if got[http.StatusNoContent] != 1 || got[http.StatusUnauthorized] != n-1 {
				t.Fatalf("answers %v: want one 204 and %d 401", got, n-1)
			}
		})
	})
}
