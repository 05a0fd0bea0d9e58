package handlers_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"agentpresence/handlers"
	"agentpresence/handlers/connect"
	"agentpresence/models"
)

func TestPublicRateLimitPerIP(t *testing.T) {
	env := newTestEnvWith(t, models.DialectSQLite, func(d *handlers.Deps) {
		d.Limits = handlers.Limits{PublicPerIP: 1, PublicPerIPBurst: 3}
	})
	codes := map[int]int{}
	var last *http.Response
	for range 5 {
		rec := do(t, env, http.MethodGet, "/public/v1/widgets/w_unknown/status", "", "")
		codes[rec.Code]++
		last = rec.Result()
	}
	if codes[http.StatusNotFound] != 3 || codes[http.StatusTooManyRequests] != 2 {
		t.Fatalf("codes %v: want 3 answers then 2 refusals", codes)
	}
	if last.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
}

func TestAuthFailuresTurnASourceAway(t *testing.T) {
	env := newTestEnvWith(t, models.DialectSQLite, func(d *handlers.Deps) {
		d.Limits = handlers.Limits{AuthFailuresPerMinute: 3}
	})
	secret := []byte("s")
	if _, err := env.store.SaveInstall(context.Background(), models.Install{ClientKey: "ck", SharedSecret: secret, BaseURL: "https://x"}); err != nil {
		t.Fatal(err)
	}
	bad := sign(t, jwt.SigningMethodHS256, claimsFor("ck", "u", connect.ContextQSH, env.clock.Now()), []byte("wrong"))
	for i := range 3 {
		if rec := do(t, env, http.MethodGet, "/api/v1/settings", bad, ""); rec.Code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i, rec.Code)
		}
	}
	good := sign(t, jwt.SigningMethodHS256, claimsFor("ck", "u", connect.ContextQSH, env.clock.Now()), secret)
	rec := do(t, env, http.MethodGet, "/api/v1/settings", good, "")
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("after 3 failures even a good token should wait: %d", rec.Code)
	}
}
