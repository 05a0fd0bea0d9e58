package forge

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Headers in which Forge passes OAuth tokens to a remote when the
// manifest's endpoint enables them (auth.appSystemToken / appUserToken).
const (
	// SystemTokenHeader carries the app system token: calls to Jira as the
	// app's bot user. Guaranteed valid for at least about 2 hours.
	SystemTokenHeader = "X-Forge-Oauth-System"
	// UserTokenHeader carries the app user token: calls as the user in
	// session. Only sent for invocations with a user (not requestRemote,
	// not events or triggers).
	UserTokenHeader = "X-Forge-Oauth-User"
)

// MaxOAuthTokenBytes bounds an OAuth token read from a header.
const MaxOAuthTokenBytes = 16 << 10

// ErrNoOAuthToken reports a request without the OAuth token asked for, or
// with one whose expiry cannot be read.
var ErrNoOAuthToken = errors.New("no forge oauth token")

// OAuthToken is an access token Forge handed to the remote, with the
// expiry read from its exp claim. Its String, GoString and LogValue never
// show the token, so it cannot leak into logs by accident; Value is for the
// Authorization header of calls to Jira and for sealing at rest only.
type OAuthToken struct {
	value  string
	Expiry time.Time
}

// Value returns the token itself.
func (t OAuthToken) Value() string { return t.value }

// String implements fmt.Stringer without the token.
func (t OAuthToken) String() string {
	return "forge-oauth-token(expires " + t.Expiry.UTC().Format(time.RFC3339) + ")"
}

// GoString implements fmt.GoStringer without the token.
func (t OAuthToken) GoString() string { return t.String() }

// LogValue implements slog.LogValuer without the token.
func (t OAuthToken) LogValue() slog.Value { return slog.StringValue(t.String()) }

// Valid reports whether the token can still be used at now, keeping margin
// for the call it is about to make.
func (t OAuthToken) Valid(now time.Time, margin time.Duration) bool {
	return t.value != "" && now.Add(margin).Before(t.Expiry)
}

// SystemToken reads the app system token of a request from Forge (header
// x-forge-oauth-system) and its expiry. Forge documents these tokens as
// opaque JWTs whose exp claim tells when they expire; the claim is read
// without verification, only to know when to stop using the token: Jira
// judges the token itself.
func SystemToken(h http.Header) (OAuthToken, error) {
	return oauthToken(h, SystemTokenHeader)
}

// UserToken reads the app user token (header x-forge-oauth-user) and its
// expiry, like SystemToken.
func UserToken(h http.Header) (OAuthToken, error) {
	return oauthToken(h, UserTokenHeader)
}

// oauthToken reads and checks the token in header name.
func oauthToken(h http.Header, name string) (OAuthToken, error) {
	raw := strings.TrimSpace(h.Get(name))
	if raw == "" {
		return OAuthToken{}, fmt.Errorf("read %s: %w", strings.ToLower(name), ErrNoOAuthToken)
	}
	if len(raw) > MaxOAuthTokenBytes {
		return OAuthToken{}, fmt.Errorf("read %s: longer than %d bytes: %w", strings.ToLower(name), MaxOAuthTokenBytes, ErrNoOAuthToken)
	}
	exp, err := unverifiedExpiry(raw)
	if err != nil {
		return OAuthToken{}, fmt.Errorf("read %s: %w: %w", strings.ToLower(name), ErrNoOAuthToken, err)
	}
	return OAuthToken{value: raw, Expiry: exp}, nil
}

// unverifiedExpiry returns the exp claim of a compact JWT without
// verifying it. Only printable token characters are accepted, so that the
// value is safe to put in a header again.
func unverifiedExpiry(tok string) (time.Time, error) {
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return time.Time{}, errors.New("not a compact JWT")
		}
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return time.Time{}, errors.New("not a compact JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, fmt.Errorf("payload: %w", err)
	}
	var claims struct {
		Exp json.Number `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return time.Time{}, fmt.Errorf("payload: %w", err)
	}
	sec, err := claims.Exp.Int64()
	if err != nil || sec <= 0 {
		return time.Time{}, errors.New("no exp claim")
	}
	return time.Unix(sec, 0), nil
}

// NewOAuthToken wraps a token and its expiry, for a store that unseals
// one.
func NewOAuthToken(value string, expiry time.Time) OAuthToken {
	return OAuthToken{value: value, Expiry: expiry}
}
