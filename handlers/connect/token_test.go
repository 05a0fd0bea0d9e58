package connect

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestVerifyHS256(t *testing.T) {
	now := testNow()
	secret := []byte("s3cret-shared-with-jira")
	const wantQSH = "c88caad15a1c1a900b8ac08aa9686f4e8184539bea1deda36e2f649430df3239"
	rsaKey := newRSAKey(t)

	claims := func(mod func(*Claims)) *Claims {
		c := &Claims{
			RegisteredClaims: jwt.RegisteredClaims{
				Issuer:    "client-key-1",
				Subject:   "557058:acc0unt",
				IssuedAt:  jwt.NewNumericDate(now.Add(-10 * time.Second)),
				ExpiresAt: jwt.NewNumericDate(now.Add(170 * time.Second)),
			},
			QSH: wantQSH,
		}
		if mod != nil {
			mod(c)
		}
		return c
	}
	hs := func(c *Claims) string { return signWith(t, jwt.SigningMethodHS256, c, secret, nil) }
	valid := hs(claims(nil))
	parts := strings.Split(valid, ".")

	tests := []struct {
		name         string
		given        string // token
		allowContext bool
		expect       error
	}{
		{name: "valid", given: valid},
		{name: "context qsh allowed", given: hs(claims(func(c *Claims) { c.QSH = ContextQSH })), allowContext: true},
		{name: "context qsh not allowed", given: hs(claims(func(c *Claims) { c.QSH = ContextQSH })), expect: ErrQSHMismatch},
		{name: "qsh mismatch", given: hs(claims(func(c *Claims) { c.QSH = strings.Repeat("0", 64) })), expect: ErrQSHMismatch},
		{name: "qsh missing", given: hs(claims(func(c *Claims) { c.QSH = "" })), expect: ErrQSHMismatch},
		{name: "qsh missing with context allowed", given: hs(claims(func(c *Claims) { c.QSH = "" })), allowContext: true, expect: ErrQSHMismatch},
		{name: "expired beyond leeway", given: hs(claims(func(c *Claims) { c.ExpiresAt = jwt.NewNumericDate(now.Add(-31 * time.Second)) })), expect: ErrExpired},
		{name: "expired within leeway", given: hs(claims(func(c *Claims) { c.ExpiresAt = jwt.NewNumericDate(now.Add(-29 * time.Second)) }))},
		{name: "iat in future beyond leeway", given: hs(claims(func(c *Claims) { c.IssuedAt = jwt.NewNumericDate(now.Add(31 * time.Second)) })), expect: ErrNotYetValid},
		{name: "iat in future within leeway", given: hs(claims(func(c *Claims) { c.IssuedAt = jwt.NewNumericDate(now.Add(29 * time.Second)) }))},
		{name: "nbf in future beyond leeway", given: hs(claims(func(c *Claims) { c.NotBefore = jwt.NewNumericDate(now.Add(time.Minute)) })), expect: ErrNotYetValid},
		{name: "missing exp", given: hs(claims(func(c *Claims) { c.ExpiresAt = nil })), expect: ErrMalformed},
		{name: "missing iat", given: hs(claims(func(c *Claims) { c.IssuedAt = nil })), expect: ErrMalformed},
		{name: "wrong secret", given: signWith(t, jwt.SigningMethodHS256, claims(nil), []byte("other"), nil), expect: ErrBadSignature},
		{name: "tampered claims", given: rawToken(t, map[string]any{"alg": "HS256", "typ": "JWT"}, claims(func(c *Claims) { c.Subject = "admin" }), parts[2]), expect: ErrBadSignature},
		{name: "signature stripped", given: parts[0] + "." + parts[1] + ".", expect: ErrBadSignature},
		{name: "alg none", given: signWith(t, jwt.SigningMethodNone, claims(nil), jwt.UnsafeAllowNoneSignatureType, nil), expect: ErrAlgorithm},
		{name: "alg none with hs256 signature", given: rawToken(t, map[string]any{"alg": "none", "typ": "JWT"}, claims(nil), parts[2]), expect: ErrAlgorithm},
		{name: "alg NONE upper", given: rawToken(t, map[string]any{"alg": "NONE"}, claims(nil), ""), expect: ErrAlgorithm},
		{name: "alg missing", given: rawToken(t, map[string]any{"typ": "JWT"}, claims(nil), parts[2]), expect: ErrAlgorithm},
		{name: "alg unknown", given: rawToken(t, map[string]any{"alg": "foo"}, claims(nil), parts[2]), expect: ErrAlgorithm},
		{name: "alg HS384", given: signWith(t, jwt.SigningMethodHS384, claims(nil), secret, nil), expect: ErrAlgorithm},
		{name: "alg HS512", given: signWith(t, jwt.SigningMethodHS512, claims(nil), secret, nil), expect: ErrAlgorithm},
		{name: "alg RS256", given: signWith(t, jwt.SigningMethodRS256, claims(nil), rsaKey, nil), expect: ErrAlgorithm},
		{name: "alg PS256", given: signWith(t, jwt.SigningMethodPS256, claims(nil), rsaKey, nil), expect: ErrAlgorithm},
		{name: "exp wrong type", given: rawToken(t, map[string]any{"alg": "HS256"}, map[string]any{"exp": "tomorrow", "iat": now.Unix(), "qsh": wantQSH}, parts[2]), expect: ErrMalformed},
		{name: "empty", given: "", expect: ErrMalformed},
		{name: "one dot", given: "a.b", expect: ErrMalformed},
		{name: "four segments", given: valid + ".x", expect: ErrMalformed},
		{name: "garbage segments", given: "!!.??.**", expect: ErrMalformed},
		{name: "header not json", given: "bm90LWpzb24.e30.", expect: ErrMalformed},
		{name: "claims not json", given: parts[0] + ".bm90LWpzb24." + parts[2], expect: ErrMalformed},
		{name: "claims array", given: parts[0] + ".W10." + parts[2], expect: ErrMalformed},
		{name: "huge token", given: parts[0] + "." + strings.Repeat("A", maxTokenLen) + "." + parts[2], expect: ErrMalformed},
	}
	v := Verifier{Leeway: 30 * time.Second, Now: fixedClock(now)}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v.VerifyHS256(tt.given, secret, wantQSH, tt.allowContext)
			expectErr(t, err, tt.expect, string(secret), tt.given)
			if tt.expect == nil && got.Issuer != "client-key-1" {
				t.Errorf("issuer = %q", got.Issuer)
			}
			if tt.expect != nil && got != nil {
				t.Errorf("claims returned alongside error")
			}
		})
	}
}

func TestVerifyHS256ClaimsAndEmptySecret(t *testing.T) {
	now := testNow()
	secret := []byte("k")
	ctxJSON := json.RawMessage(`{"user":{"accountId":"abc"}}`)
	tok := signWith(t, jwt.SigningMethodHS256, &Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: "iss", Subject: "abc",
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)),
		},
		QSH:     ContextQSH,
		Context: ctxJSON,
	}, secret, nil)

	v := Verifier{Now: fixedClock(now)}
	got, err := v.VerifyHS256(tok, secret, "", true)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if got.AccountID() != "abc" || string(got.Context) != string(ctxJSON) {
		t.Errorf("claims = %+v", got)
	}

	// An empty secret must never verify, even a token "signed" with it.
	empty := signWith(t, jwt.SigningMethodHS256, &got.RegisteredClaims, []byte{}, nil)
	_, err = v.VerifyHS256(empty, nil, "", true)
	expectErr(t, err, ErrBadSignature)
}

func TestSignedTokensRoundTrip(t *testing.T) {
	now := testNow()
	secret := []byte("secret")
	v := Verifier{Now: fixedClock(now.Add(time.Minute))}

	// given a context token
	ctxTok, err := NewContextToken("app-key", "acc-1", secret, now, 3*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// expect it to verify only where context tokens are allowed
	if c, err := v.VerifyHS256(ctxTok, secret, "whatever", true); err != nil || c.AccountID() != "acc-1" {
		t.Fatalf("context token: %v %+v", err, c)
	}
	_, err = v.VerifyHS256(ctxTok, secret, "whatever", false)
	expectErr(t, err, ErrQSHMismatch)

	// given a request token for a URL under a base path
	r := httptest.NewRequest("POST", "https://site.example/jira/rest/api/3/permissions/check?b=2&a=1", nil)
	reqTok, err := NewRequestToken("app-key", "", "POST", r.URL, "/jira", secret, now, 3*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// expect it to verify against the qsh the receiver computes
	c, err := v.VerifyHS256(reqTok, secret, RequestQSH(r, "/jira"), false)
	if err != nil {
		t.Fatalf("request token: %v", err)
	}
	if c.Subject != "" || c.ExpiresAt.Sub(c.IssuedAt.Time) != 3*time.Minute {
		t.Errorf("claims = %+v", c)
	}
	// and not against another request
	_, err = v.VerifyHS256(reqTok, secret, QSH("GET", "/rest/api/3/permissions/check", "a=1&b=2", ""), false)
	expectErr(t, err, ErrQSHMismatch)

	// bad inputs to the signers
	if _, err := NewContextToken("", "a", secret, now, time.Minute); err == nil {
		t.Error("empty issuer accepted")
	}
	if _, err := NewContextToken("i", "a", secret, now, 0); err == nil {
		t.Error("zero ttl accepted")
	}
	if _, err := NewRequestToken("i", "a", "GET", nil, "", secret, now, time.Minute); err == nil {
		t.Error("nil url accepted")
	}
	if _, err := SignHS256(jwt.RegisteredClaims{}, nil); err == nil {
		t.Error("empty secret accepted")
	}
}

func TestTokenFromRequest(t *testing.T) {
	tests := []struct {
		name   string
		given  func() (url string, header string)
		expect string
		err    error
	}{
		{name: "header", given: func() (string, string) { return "/x", "JWT a.b.c" }, expect: "a.b.c"},
		{name: "header lower-case scheme", given: func() (string, string) { return "/x", "jwt a.b.c" }, expect: "a.b.c"},
		{name: "header extra spaces", given: func() (string, string) { return "/x", "  JWT   a.b.c  " }, expect: "a.b.c"},
		{name: "query", given: func() (string, string) { return "/x?jwt=q.r.s&a=1", "" }, expect: "q.r.s"},
		{name: "header wins over query", given: func() (string, string) { return "/x?jwt=q.r.s", "JWT a.b.c" }, expect: "a.b.c"},
		{name: "bearer scheme falls back to query", given: func() (string, string) { return "/x?jwt=q.r.s", "Bearer a.b.c" }, expect: "q.r.s"},
		{name: "bearer only", given: func() (string, string) { return "/x", "Bearer a.b.c" }, err: ErrNoToken},
		{name: "empty jwt scheme", given: func() (string, string) { return "/x", "JWT " }, err: ErrNoToken},
		{name: "nothing", given: func() (string, string) { return "/x", "" }, err: ErrNoToken},
		{name: "empty query value", given: func() (string, string) { return "/x?jwt=", "" }, err: ErrNoToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target, h := tt.given()
			r := httptest.NewRequest("GET", target, nil)
			if h != "" {
				r.Header.Set("Authorization", h)
			}
			got, err := TokenFromRequest(r)
			expectErr(t, err, tt.err)
			if got != tt.expect {
				t.Errorf("token = %q, want %q", got, tt.expect)
			}
		})
	}
}

func TestUnverifiedIssuer(t *testing.T) {
	now := testNow()
	tok, err := NewContextToken("client-key-9", "acc", []byte("s"), now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		given  string
		expect string
		err    error
	}{
		{name: "signed token", given: tok, expect: "client-key-9"},
		{name: "unsigned token still yields iss", given: rawToken(t, map[string]any{"alg": "none"}, map[string]any{"iss": "x"}, ""), expect: "x"},
		{name: "missing iss", given: rawToken(t, map[string]any{"alg": "HS256"}, map[string]any{"sub": "x"}, ""), err: ErrMalformed},
		{name: "iss not a string", given: rawToken(t, map[string]any{"alg": "HS256"}, map[string]any{"iss": 5}, ""), err: ErrMalformed},
		{name: "empty", given: "", err: ErrMalformed},
		{name: "garbage", given: "%%%.%%%.%%%", err: ErrMalformed},
		{name: "two segments", given: "e30.e30", err: ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := UnverifiedIssuer(tt.given)
			expectErr(t, err, tt.err)
			if got != tt.expect {
				t.Errorf("iss = %q, want %q", got, tt.expect)
			}
		})
	}
}

func TestReason(t *testing.T) {
	tests := []struct {
		given  error
		expect string
	}{
		{nil, ""},
		{fmt.Errorf("x: %w", ErrNoToken), "no_token"},
		{fmt.Errorf("x: %w", ErrMalformed), "malformed"},
		{fmt.Errorf("x: %w", ErrAlgorithm), "algorithm"},
		{fmt.Errorf("x: %w", ErrBadSignature), "bad_signature"},
		{fmt.Errorf("x: %w: %w", ErrExpired, jwt.ErrTokenExpired), "expired"},
		{fmt.Errorf("x: %w", ErrNotYetValid), "not_yet_valid"},
		{fmt.Errorf("x: %w", ErrQSHMismatch), "qsh_mismatch"},
		{fmt.Errorf("x: %w", ErrKeyUnavailable), "key_unavailable"},
		{fmt.Errorf("x: %w", ErrUnknownKey), "unknown_key"},
		{fmt.Errorf("x: %w", ErrAudience), "audience"},
		{fmt.Errorf("x: %w", ErrIssuer), "issuer"},
		{errors.New("other"), "invalid_token"},
		{x509.ErrUnsupportedAlgorithm, "invalid_token"},
	}
	for _, tt := range tests {
		if got := Reason(tt.given); got != tt.expect {
			t.Errorf("Reason(%v) = %q, want %q", tt.given, got, tt.expect)
		}
	}
}
