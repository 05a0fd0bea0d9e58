package forge_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"agentpresence/handlers/forge"
)

func TestSystemAndUserTokens(t *testing.T) {
	f := newFixture(t)
	sys, sysExp, err := f.platform.SystemToken(f.inst)
	if err != nil {
		t.Fatal(err)
	}
	user, _, err := f.platform.UserToken(f.inst, agent)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("x-forge-oauth-system", sys) // header names are case-insensitive
	h.Set(forge.UserTokenHeader, user)
	got, err := forge.SystemToken(h)
	if err != nil {
		t.Fatal(err)
	}
	if got.Value() != sys || !got.Expiry.Equal(sysExp) {
		t.Fatalf("system token expiry %v, want %v (same value: %v)", got.Expiry, sysExp, got.Value() == sys)
	}
	now := f.clock.Now()
	if !got.Valid(now, time.Minute) || got.Valid(sysExp, 0) || got.Valid(sysExp.Add(-30*time.Second), time.Minute) {
		t.Fatal("Valid does not follow the expiry and margin")
	}
	u, err := forge.UserToken(h)
	if err != nil || u.Value() != user {
		t.Fatalf("user token: %v", err)
	}
	claims, err := f.platform.CheckOAuthToken(u.Value())
	if err != nil || claims.AccountID != agent || claims.InstallationID != f.inst.ID {
		t.Fatalf("stand-in check: %+v, %v", claims, err)
	}
}

func TestOAuthTokenRefusals(t *testing.T) {
	tests := []struct {
		name  string
		given string
	}{
		{"missing", ""},
		{"not a JWT", "opaque-token"},
		{"no exp", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"},
		{"exp not a number", "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOiJzb29uIn0.c2ln"},
		{"header injection", "a.b.c\r\nX-Evil: 1"},
		{"oversized", "a." + strings.Repeat("b", forge.MaxOAuthTokenBytes) + ".c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{forge.SystemTokenHeader: {tt.given}}
			if tok, err := forge.SystemToken(h); !errors.Is(err, forge.ErrNoOAuthToken) || tok.Value() != "" {
				t.Fatalf("error %v, want ErrNoOAuthToken", err)
			}
		})
	}
}

// TestOAuthTokenNeverPrinted: formatting or logging a token shows its
// expiry, never the token.
func TestOAuthTokenNeverPrinted(t *testing.T) {
	f := newFixture(t)
	sys, _, err := f.platform.SystemToken(f.inst)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := forge.SystemToken(http.Header{forge.SystemTokenHeader: {sys}})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("token", "token", tok, "struct", struct{ T forge.OAuthToken }{tok})
	out := buf.String() + fmt.Sprintf("%v %+v %#v %s", tok, tok, tok, tok)
	if strings.Contains(out, sys) || strings.Contains(out, strings.Split(sys, ".")[2]) {
		t.Fatalf("the token leaked: %s", out)
	}
	if !strings.Contains(out, "forge-oauth-token(expires") {
		t.Fatalf("nothing printed: %s", out)
	}
}
