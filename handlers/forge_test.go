package handlers_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"agentpresence/handlers"
	"agentpresence/handlers/forge"
	"agentpresence/handlers/forge/forgetest"
	"agentpresence/models"
	"agentpresence/models/dbtest"
)

// TestFITAttacks is the FIT attack table, through the real router on each
// database: every token but the valid one is refused with its reason on
// the agent API, and none registers its installation. Each case names an
// installation never seen, so that a wrongful acceptance would show as a
// registered tenant.
func TestFITAttacks(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		env := newForgeHarness(t, on(dialect))
		site, _ := env.newForgeSite(t)
		p := env.platform
		strangerKey, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		now := env.clock.Now()

		tests := []struct {
			name string
			// token returns the token and the scheme it is sent in; claims
			// holds a fresh installation's valid claims to start from.
			token  func(claims jwt.MapClaims) (scheme, token string)
			status int
			code   string
		}{
			{"valid FIT (the table can pass)", func(c jwt.MapClaims) (string, string) {
				return "Bearer", mustSign(t, p, c)
			}, http.StatusOK, ""},
			{"alg none", func(c jwt.MapClaims) (string, string) {
				tok, err := jwt.NewWithClaims(jwt.SigningMethodNone, c).SignedString(jwt.UnsafeAllowNoneSignatureType)
				if err != nil {
					t.Fatal(err)
				}
				return "Bearer", tok
			}, http.StatusUnauthorized, "algorithm"},
			{"HS256 with the public key as secret", func(c jwt.MapClaims) (string, string) {
				der, err := x509.MarshalPKIXPublicKey(p.PublicKey(p.Kid()))
				if err != nil {
					t.Fatal(err)
				}
				pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
				tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
				tok.Header["kid"] = p.Kid()
				s, err := tok.SignedString(pemKey)
				if err != nil {
					t.Fatal(err)
				}
				return "Bearer", s
			}, http.StatusUnauthorized, "algorithm"},
			{"unknown key with a known kid", func(c jwt.MapClaims) (string, string) {
				s, err := forgetest.SignRS256(strangerKey, p.Kid(), c)
				if err != nil {
					t.Fatal(err)
				}
				return "Bearer", s
			}, http.StatusUnauthorized, "bad_signature"},
			{"unknown kid", func(c jwt.MapClaims) (string, string) {
				s, err := forgetest.SignRS256(strangerKey, "forge/invocation-token/stranger", c)
				if err != nil {
					t.Fatal(err)
				}
				return "Bearer", s
			}, http.StatusUnauthorized, "unknown_key"},
			{"wrong aud", func(c jwt.MapClaims) (string, string) {
				c["aud"] = "ari:cloud:ecosystem::app/00000000-0000-4000-8000-000000000000"
				return "Bearer", mustSign(t, p, c)
			}, http.StatusUnauthorized, "audience"},
			{"wrong iss", func(c jwt.MapClaims) (string, string) {
				c["iss"] = "forge/context-token"
				return "Bearer", mustSign(t, p, c)
			}, http.StatusUnauthorized, "issuer"},
			{"expired", func(c jwt.MapClaims) (string, string) {
				c["iat"], c["nbf"], c["exp"] = now.Add(-10*time.Minute).Unix(), now.Add(-10*time.Minute).Unix(), now.Add(-5*time.Minute).Unix()
				return "Bearer", mustSign(t, p, c)
			}, http.StatusUnauthorized, "expired"},
			{"nbf in the future", func(c jwt.MapClaims) (string, string) {
				c["nbf"], c["exp"] = now.Add(5*time.Minute).Unix(), now.Add(6*time.Minute).Unix()
				return "Bearer", mustSign(t, p, c)
			}, http.StatusUnauthorized, "not_yet_valid"},
			{"missing installation", func(c jwt.MapClaims) (string, string) {
				app := c["app"].(map[string]any)
				delete(app, "installationId")
				delete(app, "installation")
				return "Bearer", mustSign(t, p, c)
			}, http.StatusUnauthorized, "invalid_claims"},
			{"another app's id in app.id", func(c jwt.MapClaims) (string, string) {
				c["app"].(map[string]any)["id"] = "ari:cloud:ecosystem::app/00000000-0000-4000-8000-000000000000"
				return "Bearer", mustSign(t, p, c)
			}, http.StatusUnauthorized, "invalid_claims"},
			{"a FIT in the Connect JWT scheme", func(c jwt.MapClaims) (string, string) {
				return "JWT", mustSign(t, p, c)
			}, http.StatusUnauthorized, "unknown_tenant"},
			{"a Connect-style HS256 token in the Bearer scheme", func(c jwt.MapClaims) (string, string) {
				s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": "jirasim", "exp": now.Add(time.Minute).Unix()}).SignedString([]byte("secret"))
				if err != nil {
					t.Fatal(err)
				}
				return "Bearer", s
			}, http.StatusUnauthorized, "algorithm"},
			{"garbage", func(jwt.MapClaims) (string, string) { return "Bearer", "not.a.token" }, http.StatusUnauthorized, "malformed"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				inst := forgetest.NewInstallation(site.BaseURL(), site.BaseURL()+"/site")
				scheme, tok := tt.token(p.Claims(inst, forgetest.Invocation{Principal: "alice"}))
				// A route that asks nothing of Jira: only the token decides.
				r := env.withFIT(t, scheme, tok, "GET", "/api/v1/timezones")
				if r.status != tt.status {
					t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
				}
				if tt.code != "" {
					if got := r.errorCode(t); got != tt.code {
						t.Errorf("code %q, want %q", got, tt.code)
					}
					if env.registered(inst.ID) {
						t.Errorf("a refused token registered its installation")
					}
				} else if !env.registered(inst.ID) {
					t.Errorf("the valid FIT did not register its installation")
				}
			})
		}

		// Key rotation: a FIT signed with a key published after the JWKS
		// was fetched is accepted: its unknown kid makes the key set fetch
		// again. (A retired key is handlers/forge's TestKeyRotation.)
		if _, err := p.Rotate(); err != nil {
			t.Fatal(err)
		}
		env.clock.Advance(forge.DefaultRefreshInterval) // the unknown kids above spent the refetch
		inst := forgetest.NewInstallation(site.BaseURL(), site.BaseURL()+"/site")
		if r := env.withFIT(t, "Bearer", mustSign(t, p, p.Claims(inst, forgetest.Invocation{Principal: "alice"})), "GET", "/api/v1/timezones"); r.status != http.StatusOK {
			t.Fatalf("FIT of the rotated key: %d %s", r.status, r.body)
		}
	})
}

// TestFITKeysUnavailable: while the JWKS cannot be fetched, a FIT whose
// key is not known answers 503 (Forge retries), never acceptance; once
// the JWKS is back, the same installation's FITs pass.
func TestFITKeysUnavailable(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		env := newForgeHarness(t, on(dialect))
		_, inst := env.newForgeSite(t)
		env.platform.SetMode(forgetest.Down)
		r := env.requestRemote(t, inst, "alice", "GET", "/api/v1/me")
		if r.status != http.StatusServiceUnavailable || r.errorCode(t) != "forge_keys_unavailable" || r.header.Get("Retry-After") == "" {
			t.Fatalf("JWKS down: %d %s (Retry-After %q)", r.status, r.body, r.header.Get("Retry-After"))
		}
		if env.registered(inst.ID) {
			t.Fatal("a FIT was accepted while the keys could not be had")
		}
		env.platform.SetMode(forgetest.Serving)
		env.clock.Advance(forge.DefaultRefreshInterval + time.Second)
		env.installForge(t, inst)
		if r := env.invoke(t, inst, "alice", "GET", "/api/v1/me", ""); r.status != http.StatusOK {
			t.Fatalf("JWKS back: %d %s", r.status, r.body)
		}
	})
}

func mustSign(t *testing.T, p *forgetest.Platform, c jwt.MapClaims) string {
	t.Helper()
	s, err := p.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestFITAbuse: an oversized FIT is refused before any parsing, and an
// address that keeps sending bad FITs gets 429 for its further bad ones
// while a good FIT from it still passes, as with Connect tokens.
func TestFITAbuse(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		env := newForgeHarness(t, on(dialect), withLimits(handlers.Limits{AuthFailuresPerMinute: 3}))
		_, inst := env.newForgeSite(t)
		huge := strings.Repeat("A", forge.DefaultMaxTokenBytes) + ".e30.x"
		if r := env.withFIT(t, "Bearer", huge, "GET", "/api/v1/timezones"); r.status != http.StatusUnauthorized || r.errorCode(t) != "malformed" {
			t.Fatalf("oversized FIT: %d %s", r.status, r.body)
		}
		var last apiResult
		for range 5 {
			last = env.withFIT(t, "Bearer", "not.a.fit", "GET", "/api/v1/timezones")
		}
		if last.status != http.StatusTooManyRequests || last.errorCode(t) != "too_many_auth_failures" || last.header.Get("Retry-After") == "" {
			t.Fatalf("flood of bad FITs: %d %s", last.status, last.body)
		}
		if r := env.requestRemote(t, inst, "alice", "GET", "/api/v1/timezones"); r.status != http.StatusOK {
			t.Fatalf("a good FIT from the same address: %d %s", r.status, r.body)
		}
	})
}
