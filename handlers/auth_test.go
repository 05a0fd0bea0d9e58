package handlers_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"agentpresence/handlers/connect"
	"agentpresence/models"
)

// claimsFor builds Connect claims as Jira would for a request.
func claimsFor(iss, sub, qsh string, now time.Time) *connect.Claims {
	return &connect.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Issuer: iss, Subject: sub,
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(3 * time.Minute))},
		QSH: qsh,
	}
}

func sign(t *testing.T, method jwt.SigningMethod, claims jwt.Claims, key any) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestAuthTamperMatrix: every forged, stale or misdirected token is refused
// with 401 and a reason class, on a page route and on an API route, and the
// answer never echoes the token or the secret.
func TestAuthTamperMatrix(t *testing.T) {
	env := newHarness(t)
	ctx := context.Background()
	secret := []byte("tenant-secret-0123456789abcdef")
	if _, err := env.store.SaveInstall(ctx, models.Install{ClientKey: "ck-a", SharedSecret: secret, BaseURL: "https://a.atlassian.net"}, env.clock.Now()); err != nil {
		t.Fatal(err)
	}
	gone, err := env.store.SaveInstall(ctx, models.Install{ClientKey: "ck-gone", SharedSecret: secret, BaseURL: "https://g.atlassian.net"}, env.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := env.store.MarkUninstalled(ctx, gone.ID, env.clock.Now()); err != nil {
		t.Fatal(err)
	}
	rsaKey := installKey() // any RSA key: the algorithm is what is refused
	now := env.clock.Now()
	pagePath := "/pages/presence?project=HELP"
	pageQSH := connect.QSH("GET", "/pages/presence", "project=HELP", "")
	apiPath := "/api/v1/settings"

	tests := []struct {
		name   string
		target string
		token  string
		reason string
	}{
		{"no token", apiPath, "", "no_token"},
		{"alg none", apiPath, sign(t, jwt.SigningMethodNone, claimsFor("ck-a", "u", connect.ContextQSH, now), jwt.UnsafeAllowNoneSignatureType), "algorithm"},
		{"RS256 instead of HS256", apiPath, sign(t, jwt.SigningMethodRS256, claimsFor("ck-a", "u", connect.ContextQSH, now), rsaKey), "algorithm"},
		{"HS512", apiPath, sign(t, jwt.SigningMethodHS512, claimsFor("ck-a", "u", connect.ContextQSH, now), secret), "algorithm"},
		{"wrong secret", apiPath, sign(t, jwt.SigningMethodHS256, claimsFor("ck-a", "u", connect.ContextQSH, now), []byte("not-the-secret")), "bad_signature"},
		{"expired beyond leeway", apiPath, sign(t, jwt.SigningMethodHS256, claimsFor("ck-a", "u", connect.ContextQSH, now.Add(-4*time.Minute)), secret), "expired"},
		{"iat in the future", apiPath, sign(t, jwt.SigningMethodHS256, claimsFor("ck-a", "u", connect.ContextQSH, now.Add(2*time.Minute)), secret), "not_yet_valid"},
		{"qsh of another request", pagePath, sign(t, jwt.SigningMethodHS256, claimsFor("ck-a", "u", connect.QSH("GET", "/pages/admin", "", ""), now), secret), "qsh_mismatch"},
		{"context-qsh on a page route", pagePath, sign(t, jwt.SigningMethodHS256, claimsFor("ck-a", "u", connect.ContextQSH, now), secret), "qsh_mismatch"},
		{"missing qsh", apiPath, sign(t, jwt.SigningMethodHS256, claimsFor("ck-a", "u", "", now), secret), "qsh_mismatch"},
		{"unknown tenant", apiPath, sign(t, jwt.SigningMethodHS256, claimsFor("ck-nobody", "u", connect.ContextQSH, now), secret), "unknown_tenant"},
		{"uninstalled tenant", apiPath, sign(t, jwt.SigningMethodHS256, claimsFor("ck-gone", "u", connect.ContextQSH, now), secret), "unknown_tenant"},
		{"garbage", apiPath, "not.a.jwt", "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := env.request(t, http.MethodGet, tt.target, tt.token, "")
			if rec.status != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401; body %s", rec.status, rec.body)
			}
			var body errorJSON
			if err := json.Unmarshal(rec.body, &body); err != nil {
				t.Fatalf("body is not the JSON error shape: %s", rec.body)
			}
			if body.Error.Code != tt.reason {
				t.Errorf("reason %q, want %q", body.Error.Code, tt.reason)
			}
			if tt.token != "" && strings.Contains(string(rec.body), tt.token) || strings.Contains(string(rec.body), string(secret)) {
				t.Error("the answer echoes the token or the secret")
			}
		})
	}

	t.Run("valid tokens pass", func(t *testing.T) {
		page := sign(t, jwt.SigningMethodHS256, claimsFor("ck-a", "u", pageQSH, now), secret)
		if rec := env.request(t, http.MethodGet, pagePath+"&jwt="+url.QueryEscape(page), "", ""); rec.status != http.StatusOK {
			t.Fatalf("page with its own qsh: %d %s", rec.status, rec.body)
		}
		api := sign(t, jwt.SigningMethodHS256, claimsFor("ck-a", "u", connect.ContextQSH, now), secret)
		if rec := env.request(t, http.MethodGet, apiPath, api, ""); rec.status != http.StatusOK {
			t.Fatalf("API with a context token: %d %s", rec.status, rec.body)
		}
		within := sign(t, jwt.SigningMethodHS256, claimsFor("ck-a", "u", connect.ContextQSH, now.Add(-3*time.Minute-20*time.Second)), secret)
		if rec := env.request(t, http.MethodGet, apiPath, within, ""); rec.status != http.StatusOK {
			t.Fatalf("expired within the leeway: %d %s", rec.status, rec.body)
		}
	})
}

func TestDisabledTenantIsForbidden(t *testing.T) {
	env := newHarness(t)
	ctx := context.Background()
	secret := []byte("s3cret")
	tn, err := env.store.SaveInstall(ctx, models.Install{ClientKey: "ck-d", SharedSecret: secret, BaseURL: "https://d.atlassian.net"}, env.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := env.store.SetEnabled(ctx, tn.ID, false, env.clock.Now()); err != nil {
		t.Fatal(err)
	}
	tok := sign(t, jwt.SigningMethodHS256, claimsFor("ck-d", "u", connect.ContextQSH, env.clock.Now()), secret)
	rec := env.request(t, http.MethodGet, "/api/v1/settings", tok, "")
	if rec.status != http.StatusForbidden || rec.errorCode(t) != "tenant_disabled" {
		t.Fatalf("disabled tenant: %d %s", rec.status, rec.body)
	}
}
