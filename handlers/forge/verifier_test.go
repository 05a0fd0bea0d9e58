package forge_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"agentpresence/handlers/forge"
	"agentpresence/handlers/forge/forgetest"
)

const agent = "557058:f58131cb-b67d-43c7-b30d-6b58d40bd077"

// TestVerifyAttacks is the table of tokens a remote must refuse, beside the
// ones it must accept. Each case builds its token from a valid claim set.
func TestVerifyAttacks(t *testing.T) {
	f := newFixture(t)
	now := f.clock.Now()
	kid := f.platform.Kid()
	pub := f.platform.PublicKey(kid)
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})

	ui := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		c := f.platform.Claims(f.inst, forgetest.Invocation{Principal: agent})
		if mod != nil {
			mod(c)
		}
		return c
	}
	app := func(c jwt.MapClaims) map[string]any { return c["app"].(map[string]any) }
	ctxClaim := func(c jwt.MapClaims) map[string]any { return c["context"].(map[string]any) }
	sign := func(c jwt.MapClaims) string {
		tok, err := f.platform.Sign(c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	withHeader := func(method jwt.SigningMethod, key any, header map[string]any, c jwt.MapClaims) string {
		tok := jwt.NewWithClaims(method, c)
		for k, v := range header {
			tok.Header[k] = v
		}
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	raw := func(header, claims any, sig string) string {
		enc := func(v any) string {
			b, _ := json.Marshal(v)
			return base64.RawURLEncoding.EncodeToString(b)
		}
		return enc(header) + "." + enc(claims) + "." + sig
	}
	valid := sign(ui(nil))
	parts := strings.Split(valid, ".")

	tests := []struct {
		name   string
		given  string
		expect error
	}{
		{name: "valid page invocation", given: valid},
		{name: "exp within the leeway", given: sign(ui(func(c jwt.MapClaims) { c["exp"] = now.Add(-20 * time.Second).Unix() }))},
		{name: "alg none", given: raw(map[string]any{"alg": "none", "kid": kid}, ui(nil), ""), expect: forge.ErrAlgorithm},
		{name: "alg none, upper case", given: raw(map[string]any{"alg": "NONE", "kid": kid}, ui(nil), ""), expect: forge.ErrAlgorithm},
		{name: "HS256 with the public key as secret", given: withHeader(jwt.SigningMethodHS256, pubPEM, map[string]any{"kid": kid}, ui(nil)), expect: forge.ErrAlgorithm},
		{name: "RS512", given: withHeader(jwt.SigningMethodRS512, otherKey, map[string]any{"kid": kid}, ui(nil)), expect: forge.ErrAlgorithm},
		{name: "unknown key with a known kid", given: withHeader(jwt.SigningMethodRS256, otherKey, map[string]any{"kid": kid}, ui(nil)), expect: forge.ErrBadSignature},
		{name: "unknown kid", given: withHeader(jwt.SigningMethodRS256, otherKey, map[string]any{"kid": "forge/invocation-token/forged"}, ui(nil)), expect: forge.ErrUnknownKey},
		{name: "no kid", given: withHeader(jwt.SigningMethodRS256, otherKey, nil, ui(nil)), expect: forge.ErrMalformed},
		{name: "kid with a path trick", given: withHeader(jwt.SigningMethodRS256, otherKey, map[string]any{"kid": "../../x?y"}, ui(nil)), expect: forge.ErrMalformed},
		{name: "tampered claims", given: parts[0] + "." + strings.Split(sign(ui(func(c jwt.MapClaims) { c["principal"] = "557058:admin" })), ".")[1] + "." + parts[2], expect: forge.ErrBadSignature},
		{name: "wrong aud", given: sign(ui(func(c jwt.MapClaims) { c["aud"] = "ari:cloud:ecosystem::app/00000000-0000-4000-8000-000000000000" })), expect: forge.ErrAudience},
		{name: "bare uuid as aud", given: sign(ui(func(c jwt.MapClaims) { c["aud"] = testAppID })), expect: forge.ErrAudience},
		{name: "no aud", given: sign(ui(func(c jwt.MapClaims) { delete(c, "aud") })), expect: forge.ErrMalformed},
		{name: "app.id of another app", given: sign(ui(func(c jwt.MapClaims) { app(c)["id"] = "ari:cloud:ecosystem::app/00000000-0000-4000-8000-000000000000" })), expect: forge.ErrClaims},
		{name: "wrong iss", given: sign(ui(func(c jwt.MapClaims) { c["iss"] = "forge/context-token" })), expect: forge.ErrIssuer},
		{name: "no iss", given: sign(ui(func(c jwt.MapClaims) { delete(c, "iss") })), expect: forge.ErrMalformed},
		{name: "expired", given: sign(ui(func(c jwt.MapClaims) { c["exp"] = now.Add(-31 * time.Second).Unix() })), expect: forge.ErrExpired},
		{name: "no exp", given: sign(ui(func(c jwt.MapClaims) { delete(c, "exp") })), expect: forge.ErrMalformed},
		{name: "nbf in the future", given: sign(ui(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Minute).Unix() })), expect: forge.ErrNotYetValid},
		{name: "iat in the future beyond the leeway", given: sign(ui(func(c jwt.MapClaims) { c["iat"] = now.Add(31 * time.Second).Unix() })), expect: forge.ErrNotYetValid},
		{name: "iat in the future within the leeway", given: sign(ui(func(c jwt.MapClaims) { c["iat"] = now.Add(29 * time.Second).Unix() }))},
		{name: "no iat", given: sign(ui(func(c jwt.MapClaims) { delete(c, "iat") })), expect: forge.ErrMalformed},
		{name: "missing installation id", given: sign(ui(func(c jwt.MapClaims) {
			delete(app(c), "installationId")
			delete(app(c), "installation")
		})), expect: forge.ErrClaims},
		{name: "installation id not an ARI", given: sign(ui(func(c jwt.MapClaims) { app(c)["installationId"] = "../other-tenant" })), expect: forge.ErrClaims},
		{name: "two installation ids", given: sign(ui(func(c jwt.MapClaims) {
			app(c)["installation"].(map[string]any)["id"] = "ari:cloud:ecosystem::installation/00000000-0000-4000-8000-000000000000"
		})), expect: forge.ErrClaims},
		{name: "api base url over plain http", given: sign(ui(func(c jwt.MapClaims) { app(c)["apiBaseUrl"] = "http://api.atlassian.com/ex/jira/x" })), expect: forge.ErrClaims},
		{name: "api base url with credentials", given: sign(ui(func(c jwt.MapClaims) { app(c)["apiBaseUrl"] = "https://u:p@api.atlassian.com/ex/jira/x" })), expect: forge.ErrClaims},
		{name: "api base url missing", given: sign(ui(func(c jwt.MapClaims) { delete(app(c), "apiBaseUrl") })), expect: forge.ErrClaims},
		{name: "api base url relative", given: sign(ui(func(c jwt.MapClaims) { app(c)["apiBaseUrl"] = "/ex/jira" })), expect: forge.ErrClaims},
		{name: "site url javascript", given: sign(ui(func(c jwt.MapClaims) { ctxClaim(c)["siteUrl"] = "javascript:alert(1)" })), expect: forge.ErrClaims},
		{name: "cloud id not a uuid", given: sign(ui(func(c jwt.MapClaims) { ctxClaim(c)["cloudId"] = "x'; drop table" })), expect: forge.ErrClaims},
		{name: "cloud id of another site", given: sign(ui(func(c jwt.MapClaims) { ctxClaim(c)["cloudId"] = "00000000-0000-4000-8000-000000000000" })), expect: forge.ErrClaims},
		{name: "no cloud id anywhere", given: sign(ui(func(c jwt.MapClaims) {
			delete(c, "context")
			delete(app(c)["installation"].(map[string]any), "contexts")
		})), expect: forge.ErrClaims},
		{name: "principal not an account id", given: sign(ui(func(c jwt.MapClaims) { c["principal"] = "<script>" })), expect: forge.ErrClaims},
		{name: "principal too long", given: sign(ui(func(c jwt.MapClaims) { c["principal"] = strings.Repeat("a", 129) })), expect: forge.ErrClaims},
		{name: "oversized token", given: sign(ui(func(c jwt.MapClaims) { c["pad"] = strings.Repeat("x", forge.DefaultMaxTokenBytes) })), expect: forge.ErrMalformed},
		{name: "two segments", given: parts[0] + "." + parts[1], expect: forge.ErrMalformed},
		{name: "header not base64", given: "%%%." + parts[1] + "." + parts[2], expect: forge.ErrMalformed},
		{name: "empty", given: "", expect: forge.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := f.verify(tt.given)
			if tt.expect == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if inv.InstallationID != f.inst.ID || inv.CloudID != f.inst.CloudID || inv.Principal != agent {
					t.Fatalf("invocation = %+v", inv)
				}
				return
			}
			if !errors.Is(err, tt.expect) {
				t.Fatalf("error = %v, want %v", err, tt.expect)
			}
			if inv != nil {
				t.Fatalf("an invocation came back with the error: %+v", inv)
			}
			if forge.HTTPStatus(err) != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", forge.HTTPStatus(err))
			}
			if tt.given != "" && strings.Contains(err.Error(), tt.given) {
				t.Fatalf("the error quotes the token")
			}
		})
	}
}

// TestVerifyInvocationFields checks what a verified token hands the
// service, for a page and for an event without context or user.
func TestVerifyInvocationFields(t *testing.T) {
	f := newFixture(t)
	inv, err := f.verify(f.fit(t, agent))
	if err != nil {
		t.Fatal(err)
	}
	appARI, _ := forge.AppARI(testAppID)
	want := forge.Invocation{AppID: appARI, InstallationID: f.inst.ID, CloudID: f.inst.CloudID,
		SiteURL: f.inst.SiteURL, APIBaseURL: f.inst.APIBaseURL, Principal: agent, EnvironmentType: "DEVELOPMENT",
		ModuleKey: "presence", ModuleType: "jira:globalPage", AppVersion: "1.0.0"}
	got := *inv
	got.TokenID, got.IssuedAt, got.ExpiresAt = "", time.Time{}, time.Time{}
	if got != want {
		t.Fatalf("invocation\n got %+v\nwant %+v", got, want)
	}
	if inv.Anonymous() || inv.ExpiresAt.Sub(inv.IssuedAt) != 25*time.Second || inv.TokenID == "" {
		t.Fatalf("anonymous=%v lifetime=%v jti=%q", inv.Anonymous(), inv.ExpiresAt.Sub(inv.IssuedAt), inv.TokenID)
	}

	event, err := f.platform.Sign(f.platform.Claims(f.inst, forgetest.Invocation{ModuleType: "core:endpoint", ModuleKey: "events", Backend: true}))
	if err != nil {
		t.Fatal(err)
	}
	inv, err = f.verify(event)
	if err != nil {
		t.Fatal(err)
	}
	if inv.CloudID != f.inst.CloudID || inv.SiteURL != "" || !inv.Anonymous() || inv.ModuleType != "core:endpoint" {
		t.Fatalf("event invocation = %+v", inv)
	}
}

// TestVerifyRefusesLoopbackURLsByDefault: the loopback exception is the
// stand-in's, never production's.
func TestVerifyRefusesLoopbackURLsByDefault(t *testing.T) {
	f := newFixture(t)
	strict, err := forge.NewVerifier(testAppID, f.keys, forge.WithClock(f.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := strict.Verify(context.Background(), f.fit(t, agent)); !errors.Is(err, forge.ErrClaims) {
		t.Fatalf("error = %v, want ErrClaims for an http API base URL", err)
	}
	https := forgetest.NewInstallation("https://api.atlassian.com/ex/jira/x", "https://example.atlassian.net")
	tok, err := f.platform.FIT(https, forgetest.Invocation{Principal: agent})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := strict.Verify(context.Background(), tok); err != nil {
		t.Fatalf("https installation: %v", err)
	}
}

func TestTokenFromRequest(t *testing.T) {
	tests := []struct {
		name   string
		header string
		query  string
		expect error
	}{
		{name: "bearer", header: "Bearer a.b.c"},
		{name: "bearer lower case", header: "bearer a.b.c"},
		{name: "connect JWT scheme", header: "JWT a.b.c", expect: forge.ErrNoToken},
		{name: "no scheme", header: "a.b.c", expect: forge.ErrNoToken},
		{name: "empty bearer", header: "Bearer   ", expect: forge.ErrNoToken},
		{name: "basic", header: "Basic dXNlcjpwYXNz", expect: forge.ErrNoToken},
		{name: "query string only", query: "?jwt=a.b.c", expect: forge.ErrNoToken},
		{name: "none", expect: forge.ErrNoToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/api/v1/me"+tt.query, nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			tok, err := forge.TokenFromRequest(r)
			if !errors.Is(err, tt.expect) || (tt.expect == nil && tok != "a.b.c") {
				t.Fatalf("token %q, error %v; want error %v", tok, err, tt.expect)
			}
		})
	}
}

// TestVerifyRequestRefusesJWTScheme: a real FIT sent the Connect way is
// not read, so no request can be half Connect, half Forge.
func TestVerifyRequestRefusesJWTScheme(t *testing.T) {
	f := newFixture(t)
	tok := f.fit(t, agent)
	r := httptest.NewRequest(http.MethodGet, "/api/v1/me", nil)
	r.Header.Set("Authorization", "JWT "+tok)
	if _, err := f.verifier.VerifyRequest(r); !errors.Is(err, forge.ErrNoToken) {
		t.Fatalf("error = %v, want ErrNoToken", err)
	}
	r.Header.Set("Authorization", "Bearer "+tok)
	if _, err := f.verifier.VerifyRequest(r); err != nil {
		t.Fatalf("bearer: %v", err)
	}
}

func TestNewVerifierAppID(t *testing.T) {
	keys := forge.NewKeySet("http://127.0.0.1:9/jwks")
	for _, given := range []string{testAppID, strings.ToUpper(testAppID), "ari:cloud:ecosystem::app/" + testAppID} {
		v, err := forge.NewVerifier(given, keys)
		if err != nil || v.AppID() != "ari:cloud:ecosystem::app/"+testAppID {
			t.Fatalf("%q: app %q, error %v", given, v.AppID(), err)
		}
	}
	for _, given := range []string{"", "my-app", "ari:cloud:ecosystem::installation/" + testAppID, testAppID + "x"} {
		if _, err := forge.NewVerifier(given, keys); !errors.Is(err, forge.ErrAppID) {
			t.Fatalf("%q: error %v, want ErrAppID", given, err)
		}
	}
}

func TestReasonAndStatus(t *testing.T) {
	tests := []struct {
		given  error
		reason string
		status int
	}{
		{nil, "", http.StatusOK},
		{forge.ErrNoToken, "no_token", http.StatusUnauthorized},
		{forge.ErrKeysUnavailable, "key_unavailable", http.StatusServiceUnavailable},
		{errors.Join(forge.ErrExpired, forge.ErrIssuer), "expired", http.StatusUnauthorized},
		{forge.ErrClaims, "invalid_claims", http.StatusUnauthorized},
		{errors.New("other"), "invalid_token", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		if r, s := forge.Reason(tt.given), forge.HTTPStatus(tt.given); r != tt.reason || s != tt.status {
			t.Errorf("%v: reason %q status %d, want %q %d", tt.given, r, s, tt.reason, tt.status)
		}
	}
}
