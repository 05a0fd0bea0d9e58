package forge

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/golang-jwt/jwt/v5"
)

// ErrNoToken reports a request that carries no FIT in an
// "Authorization: Bearer" header (a FIT in the Connect "JWT" scheme counts
// as none: the two paths never share a header form).
var ErrNoToken = errors.New("no forge invocation token")

// ErrMalformed reports a token that cannot be decoded, is too long, or
// lacks a required header field.
var ErrMalformed = errors.New("malformed token")

// ErrAlgorithm reports a token signed with anything but RS256 (none,
// HS256 with the public key as secret, ...).
var ErrAlgorithm = errors.New("unexpected signing algorithm")

// ErrBadSignature reports a token whose signature does not verify with the
// key its kid names.
var ErrBadSignature = errors.New("bad signature")

// ErrUnknownKey reports a kid that the key set does not hold, even after
// the refetch the rate limit allows.
var ErrUnknownKey = errors.New("unknown signing key")

// ErrKeysUnavailable reports that the key set could not be fetched or was
// not a usable JWKS. Callers answer 503: the token may well be good.
var ErrKeysUnavailable = errors.New("forge key set unavailable")

// ErrExpired reports a token whose exp lies in the past beyond the leeway.
var ErrExpired = errors.New("token expired")

// ErrNotYetValid reports a token whose nbf or iat lies in the future beyond
// the leeway.
var ErrNotYetValid = errors.New("token not yet valid")

// ErrIssuer reports an iss other than "forge/invocation-token".
var ErrIssuer = errors.New("wrong issuer")

// ErrAudience reports a token not addressed to this app.
var ErrAudience = errors.New("wrong audience")

// ErrClaims reports a verified token whose claims lack what the service
// needs or have the wrong shape (installation id, cloud id, API base URL,
// principal, ...).
var ErrClaims = errors.New("invalid claims")

// reasons maps the sentinels onto short, stable codes, in order of
// precedence: one error can match several.
var reasons = []struct {
	err    error
	reason string
}{
	{ErrNoToken, "no_token"},
	{ErrKeysUnavailable, "key_unavailable"},
	{ErrUnknownKey, "unknown_key"},
	{ErrMalformed, "malformed"},
	{ErrAlgorithm, "algorithm"},
	{ErrBadSignature, "bad_signature"},
	{ErrExpired, "expired"},
	{ErrNotYetValid, "not_yet_valid"},
	{ErrIssuer, "issuer"},
	{ErrAudience, "audience"},
	{ErrClaims, "invalid_claims"},
}

// Reason returns a short machine-readable class of err for JSON error
// bodies and logs; never token material. "" for nil, "invalid_token" for
// errors it does not know.
func Reason(err error) string {
	if err == nil {
		return ""
	}
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.reason
		}
	}
	return "invalid_token"
}

// HTTPStatus is the status a remote answers for a verification error: 503
// when the key set is unavailable (Forge retries events; the token was
// never judged), 401 otherwise (which Forge reads as "the remote could not
// verify the FIT"), 200 for nil.
func HTTPStatus(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrKeysUnavailable):
		return http.StatusServiceUnavailable
	default:
		return http.StatusUnauthorized
	}
}

// classify maps an error of the jwt library onto the sentinels above,
// keeping the library's error in the chain; its messages never hold the
// token.
func classify(err error) error {
	// Errors of our own key function come back wrapped by the library and
	// already carry their class.
	for _, own := range []error{ErrKeysUnavailable, ErrUnknownKey, ErrAlgorithm, ErrMalformed} {
		if errors.Is(err, own) {
			return err
		}
	}
	var class error
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed), errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		class = ErrMalformed
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		class = ErrBadSignature
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		class = ErrIssuer
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		class = ErrAudience
	case errors.Is(err, jwt.ErrTokenExpired):
		class = ErrExpired
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued), errors.Is(err, jwt.ErrTokenNotValidYet):
		class = ErrNotYetValid
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		class = ErrAlgorithm
	default:
		class = ErrMalformed
	}
	return fmt.Errorf("%w: %w", class, err)
}
