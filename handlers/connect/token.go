package connect

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// maxTokenLen bounds the tokens we are willing to decode. Real Connect tokens
// are a few hundred bytes to a couple of kilobytes; the bound keeps hostile
// input from costing more than a cheap length check.
const maxTokenLen = 16 << 10

// Claims are the claims of a Connect JWT: the registered claims plus the
// query string hash and Jira's optional context object.
type Claims struct {
	jwt.RegisteredClaims
	// QSH binds the token to one request (or is ContextQSH).
	QSH string `json:"qsh"`
	// Context is Jira's context claim, kept raw because its shape varies
	// between products and token kinds.
	Context json.RawMessage `json:"context,omitempty"`
}

// AccountID returns the Atlassian account id of the user the token acts for
// (the sub claim); it is empty for tokens acting as the app itself.
func (c *Claims) AccountID() string {
	return c.Subject
}

// TokenFromRequest extracts the Connect JWT from the "Authorization: JWT
// <token>" header (scheme matched case-insensitively) or, failing that, from
// the jwt query parameter. It returns an error wrapping ErrNoToken when the
// request carries neither.
func TokenFromRequest(r *http.Request) (string, error) {
	if h := strings.TrimSpace(r.Header.Get("Authorization")); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "JWT") {
			if tok = strings.TrimSpace(tok); tok != "" {
				return tok, nil
			}
		}
	}
	// Page loads (iframes) carry the token in the query string.
	if tok := r.URL.Query().Get("jwt"); tok != "" {
		return tok, nil
	}
	return "", fmt.Errorf("token from request: %w", ErrNoToken)
}

// UnverifiedIssuer returns the iss claim (the tenant's clientKey) of token
// without verifying anything, so the caller can look up the shared secret
// to verify it with. Never trust the result before verification succeeds.
func UnverifiedIssuer(token string) (string, error) {
	parts, err := splitToken(token)
	if err != nil {
		return "", fmt.Errorf("unverified issuer: %w", err)
	}
	var claims Claims
	if err := decodeSegment(parts[1], &claims); err != nil {
		return "", fmt.Errorf("unverified issuer: claims: %w", err)
	}
	if claims.Issuer == "" {
		return "", fmt.Errorf("unverified issuer: missing iss: %w", ErrMalformed)
	}
	return claims.Issuer, nil
}

// Verifier verifies HS256 tokens Jira sends to the app. The zero value is
// usable: no leeway and the wall clock.
type Verifier struct {
	// Leeway tolerates clock skew between Jira and us for exp and iat.
	Leeway time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// VerifyHS256 verifies token with the tenant's shared secret: the alg must be
// HS256, the signature valid, exp and iat present and within Leeway of Now,
// and the qsh equal to wantQSH — or to ContextQSH when allowContextQSH is set
// (page loads and context tokens).
func (v Verifier) VerifyHS256(token string, secret []byte, wantQSH string, allowContextQSH bool) (*Claims, error) {
	t, err := Parse(token)
	if err != nil {
		return nil, fmt.Errorf("verify token: %w", err)
	}
	return v.VerifyParsedHS256(t, secret, wantQSH, allowContextQSH)
}

// Token is a Connect JWT decoded once (header and claims) and not yet
// verified: the issuer picks the secret to verify it with. Nothing in it
// may be trusted before VerifyParsedHS256 succeeds.
type Token struct {
	header       header
	claims       Claims
	signingInput string
	signature    string
}

// Parse splits and decodes a token's header and claims, once, checking
// its shape and that it names an issuer; it verifies nothing.
func Parse(token string) (*Token, error) {
	parts, err := splitToken(token)
	if err != nil {
		return nil, fmt.Errorf("parse token: %w", err)
	}
	t := &Token{signingInput: token[:len(parts[0])+1+len(parts[1])], signature: parts[2]}
	if err := decodeSegment(parts[0], &t.header); err != nil {
		return nil, fmt.Errorf("parse token: header: %w", err)
	}
	if err := decodeSegment(parts[1], &t.claims); err != nil {
		return nil, fmt.Errorf("parse token: claims: %w", err)
	}
	if t.claims.Issuer == "" {
		return nil, fmt.Errorf("parse token: missing iss: %w", ErrMalformed)
	}
	return t, nil
}

// UnverifiedIssuer is the token's iss (the tenant's clientKey), to look
// the secret up with; never trust it before verification succeeds.
func (t *Token) UnverifiedIssuer() string { return t.claims.Issuer }

// VerifyParsedHS256 is VerifyHS256 on a token already parsed: the same
// checks, in the same order (alg, signature, exp/iat with leeway, qsh),
// without decoding it again.
func (v Verifier) VerifyParsedHS256(t *Token, secret []byte, wantQSH string, allowContextQSH bool) (*Claims, error) {
	if len(secret) == 0 {
		// An empty HMAC key would let anyone forge tokens.
		return nil, fmt.Errorf("verify token: empty secret: %w", ErrBadSignature)
	}
	// Checked before the signature so the failure is classed as an
	// algorithm problem rather than a bad signature.
	if t.header.Alg != jwt.SigningMethodHS256.Alg() {
		return nil, fmt.Errorf("verify token: alg %.16q: %w", t.header.Alg, ErrAlgorithm)
	}
	sig, err := base64.RawURLEncoding.DecodeString(t.signature)
	if err != nil {
		return nil, fmt.Errorf("verify token: signature: %w: %w", ErrMalformed, err)
	}
	if err := jwt.SigningMethodHS256.Verify(t.signingInput, sig, secret); err != nil {
		return nil, fmt.Errorf("verify token: %w: %w", ErrBadSignature, err)
	}
	claims := t.claims
	if err := v.CheckVerified(&claims, wantQSH, allowContextQSH); err != nil {
		return nil, err
	}
	return &claims, nil
}

// CheckVerified checks what a verified token's claims must meet at every
// use: exp and iat (required) within Leeway of Now, and the qsh against
// this request. A token whose signature verified once (the same bytes,
// known by their digest) needs only this on its next uses.
func (v Verifier) CheckVerified(claims *Claims, wantQSH string, allowContextQSH bool) error {
	validator := jwt.NewValidator(jwt.WithTimeFunc(clock(v.Now)), jwt.WithLeeway(max(v.Leeway, 0)),
		jwt.WithIssuedAt(), jwt.WithExpirationRequired())
	if err := validator.Validate(claims); err != nil {
		return fmt.Errorf("verify token: %w", classify(err))
	}
	// WithIssuedAt only checks iat when present; Connect requires it.
	if claims.IssuedAt == nil {
		return fmt.Errorf("verify token: missing iat: %w", ErrMalformed)
	}
	if err := checkQSH(claims.QSH, wantQSH, allowContextQSH); err != nil {
		return fmt.Errorf("verify token: %w", err)
	}
	return nil
}

// checkQSH compares a token's qsh with the expected one.
func checkQSH(got, want string, allowContext bool) error {
	switch {
	case got == "":
		return fmt.Errorf("missing qsh: %w", ErrQSHMismatch)
	case got == ContextQSH && allowContext:
		return nil
	case got == ContextQSH:
		return fmt.Errorf("context qsh not allowed here: %w", ErrQSHMismatch)
	case got != want:
		return ErrQSHMismatch
	}
	return nil
}

// header holds the JOSE header fields we look at before verification.
type header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

// peekHeader decodes a token's header without verifying anything.
func peekHeader(token string) (header, error) {
	var h header
	parts, err := splitToken(token)
	if err != nil {
		return h, err
	}
	if err := decodeSegment(parts[0], &h); err != nil {
		return h, fmt.Errorf("header: %w", err)
	}
	return h, nil
}

// splitToken splits a compact JWS into its three segments.
func splitToken(token string) ([]string, error) {
	if len(token) > maxTokenLen {
		return nil, fmt.Errorf("token longer than %d bytes: %w", maxTokenLen, ErrMalformed)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("want 3 segments, got %d: %w", len(parts), ErrMalformed)
	}
	return parts, nil
}

// decodeSegment base64url-decodes a segment and unmarshals its JSON into v.
func decodeSegment(seg string, v any) error {
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return fmt.Errorf("%w: base64: %w", ErrMalformed, err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%w: json: %w", ErrMalformed, err)
	}
	return nil
}

// clock returns now, or time.Now when no clock was injected.
func clock(now func() time.Time) func() time.Time {
	if now != nil {
		return now
	}
	return time.Now
}
