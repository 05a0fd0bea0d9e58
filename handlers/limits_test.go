package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"agentpresence/handlers"
	"agentpresence/handlers/connect"
	"agentpresence/models"
)

func TestPublicRateLimitPerIP(t *testing.T) {
	env := newHarness(t, withLimits(handlers.Limits{PublicPerIP: 1, PublicPerIPBurst: 3}))
	codes := map[int]int{}
	var last apiResult
	for range 5 {
		last = env.request(t, http.MethodGet, "/public/v1/widgets/w_unknown/status", "", "")
		codes[last.status]++
	}
	if codes[http.StatusNotFound] != 3 || codes[http.StatusTooManyRequests] != 2 {
		t.Fatalf("codes %v: want 3 answers then 2 refusals", codes)
	}
	if last.header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
}

// TestAuthFailureLimiterThrottlesOnlyFailures: an address (or IPv6 /64)
// that sent more bad tokens than its budget gets 429 with Retry-After for
// further bad tokens, but every request whose token verifies (agent API,
// page, Jira webhook) passes: a hostile page's <img> tags must not lock out
// a NAT's users or Atlassian's webhook addresses. Abuse cases as a table.
func TestAuthFailureLimiterThrottlesOnlyFailures(t *testing.T) {
	const budget = 5
	env := newHarness(t, withLimits(handlers.Limits{AuthFailuresPerMinute: budget}))
	secret := []byte("s")
	if _, err := env.store.SaveInstall(context.Background(), models.Install{ClientKey: "ck", SharedSecret: secret, BaseURL: "https://x.atlassian.net"}, env.clock.Now()); err != nil {
		t.Fatal(err)
	}
	now := env.clock.Now()
	bad := sign(t, jwt.SigningMethodHS256, claimsFor("ck", "u", connect.ContextQSH, now), []byte("wrong"))
	unknown := sign(t, jwt.SigningMethodHS256, claimsFor("ck-nobody", "u", connect.ContextQSH, now), secret)
	good := sign(t, jwt.SigningMethodHS256, claimsFor("ck", "u", connect.ContextQSH, now), secret)
	page := sign(t, jwt.SigningMethodHS256, claimsFor("ck", "u", connect.QSH("GET", "/pages/presence", "project=HELP", ""), now), secret)
	hook := sign(t, jwt.SigningMethodHS256, claimsFor("ck", "", connect.QSH("POST", "/webhooks/activity", "", ""), now), secret)

	// Each attacker spends the budget and one more with bad tokens (the
	// hostile page), then the rows below are sent from the addresses given.
	for _, attacker := range []string{"198.51.100.7", "2001:db8:1:2::1"} {
		for i := range budget + 3 {
			rec := env.from(t, attacker, http.MethodGet, "/api/v1/settings", bad, "")
			if want := http.StatusUnauthorized; i < budget && rec.status != want {
				t.Fatalf("bad token %d from %s within the budget: %d, want %d", i, attacker, rec.status, want)
			}
		}
	}
	tests := []struct {
		name, addr, method, target, token, body string
		status                                  int
	}{
		{"a valid API call from the address", "198.51.100.7", "GET", "/api/v1/settings", good, "", http.StatusOK},
		{"a valid page load from the address", "198.51.100.7", "GET", "/pages/presence?project=HELP", page, "", http.StatusOK},
		{"a Jira webhook from the address", "198.51.100.7", "POST", "/webhooks/activity", hook, `{"webhookEvent":"comment_created","user":{"accountId":"u"}}`, http.StatusNoContent},
		{"a bad token from the address", "198.51.100.7", "GET", "/api/v1/settings", bad, "", http.StatusTooManyRequests},
		{"an unknown issuer from the address", "198.51.100.7", "GET", "/api/v1/settings", unknown, "", http.StatusTooManyRequests},
		{"no token from the address", "198.51.100.7", "GET", "/api/v1/settings", "", "", http.StatusTooManyRequests},
		{"a bad token from another address", "198.51.100.8", "GET", "/api/v1/settings", bad, "", http.StatusUnauthorized},
		{"a bad token from another address of the /64", "2001:db8:1:2:ffff::9", "GET", "/api/v1/settings", bad, "", http.StatusTooManyRequests},
		{"a valid call from another address of the /64", "2001:db8:1:2:ffff::9", "GET", "/api/v1/settings", good, "", http.StatusOK},
		{"a bad token from the next /64", "2001:db8:1:3::1", "GET", "/api/v1/settings", bad, "", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := env.from(t, tt.addr, tt.method, tt.target, tt.token, tt.body)
			if rec.status != tt.status {
				t.Fatalf("status %d, want %d; body %s", rec.status, tt.status, rec.body)
			}
			if rec.status == http.StatusTooManyRequests && rec.header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
		})
	}
	// One bad request a second does not keep a valid one out, and once the
	// budget refills the address gets 401s again.
	for range 10 {
		env.clock.Advance(time.Second)
		env.from(t, "198.51.100.7", http.MethodGet, "/api/v1/settings", bad, "")
		good := sign(t, jwt.SigningMethodHS256, claimsFor("ck", "u", connect.ContextQSH, env.clock.Now()), secret)
		if rec := env.from(t, "198.51.100.7", http.MethodGet, "/api/v1/settings", good, ""); rec.status != http.StatusOK {
			t.Fatalf("a valid call between bad ones: %d", rec.status)
		}
	}
	env.clock.Advance(2 * time.Minute)
	bad = sign(t, jwt.SigningMethodHS256, claimsFor("ck", "u", connect.ContextQSH, env.clock.Now()), []byte("wrong"))
	if rec := env.from(t, "198.51.100.7", http.MethodGet, "/api/v1/settings", bad, ""); rec.status != http.StatusUnauthorized {
		t.Fatalf("a bad token after the budget refilled: %d, want 401", rec.status)
	}
}

// countingTenants counts the store lookups behind the tenant cache.
type countingTenants struct {
	handlers.TenantStore
	lookups atomic.Int64
}

func (c *countingTenants) TenantByClientKey(ctx context.Context, clientKey string) (models.Tenant, error) {
	c.lookups.Add(1)
	return c.TenantStore.TenantByClientKey(ctx, clientKey)
}

// TestUnknownIssuerCostsOneLookup: a flood of tokens naming one unknown
// issuer costs one database lookup per cache period, not one per request;
// an issuer that installs is known at once (the install's change drops the
// remembered misses).
func TestUnknownIssuerCostsOneLookup(t *testing.T) {
	counting := &countingTenants{}
	env := newHarness(t, withDeps(func(d *handlers.Deps) {
		counting.TenantStore = d.Store
		d.Tenants = handlers.NewTenantCache(counting, 10*time.Second, d.Now)
		t.Cleanup(d.Store.Watch(d.Tenants.Invalidate))
	}))
	secret := []byte("s")
	tok := sign(t, jwt.SigningMethodHS256, claimsFor("ck-later", "u", connect.ContextQSH, env.clock.Now()), secret)
	for i := range 100 {
		if rec := env.from(t, fmt.Sprintf("203.0.113.%d", i), http.MethodGet, "/api/v1/settings", tok, ""); rec.status != http.StatusUnauthorized {
			t.Fatalf("unknown issuer: %d", rec.status)
		}
	}
	if n := counting.lookups.Load(); n != 1 {
		t.Fatalf("%d lookups for 100 tokens of one unknown issuer, want 1", n)
	}
	if _, err := env.store.SaveInstall(context.Background(), models.Install{ClientKey: "ck-later", SharedSecret: secret, BaseURL: "https://l.atlassian.net"}, env.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if rec := env.from(t, "203.0.113.1", http.MethodGet, "/api/v1/settings", tok, ""); rec.status != http.StatusOK {
		t.Fatalf("just installed issuer: %d %s", rec.status, rec.body)
	}
}
