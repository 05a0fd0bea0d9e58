package connect

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// testNow is the fixed instant every test clock returns.
func testNow() time.Time {
	return time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
}

// fixedClock returns a clock stuck at t.
func fixedClock(t time.Time) func() time.Time {
	return func() time.Time { return t }
}

// signWith signs claims with method and key, adding extra header fields.
func signWith(t *testing.T, method jwt.SigningMethod, claims jwt.Claims, key any, extraHeader map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range extraHeader {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

// rawToken assembles a token from arbitrary header and claims JSON and a
// signature, bypassing the jwt library's checks.
func rawToken(t *testing.T, header, claims any, sig string) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(header) + "." + enc(claims) + "." + sig
}

// newRSAKey returns a fresh 2048-bit key.
func newRSAKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	return key
}

// expectErr checks err against a wanted sentinel (nil means success) and
// that the message leaks none of the secrets.
func expectErr(t *testing.T, err, want error, secrets ...string) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("error = %v, want %v", err, want)
	}
	if err == nil {
		return
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("error message leaks secret material: %v", err)
		}
	}
}
