package connect

import (
	"errors"
	"fmt"

	"github.com/golang-jwt/jwt/v5"
)

// ErrNoToken reports that a request carried no Connect JWT at all.
var ErrNoToken = errors.New("no token")

// ErrMalformed reports a token that cannot be decoded or lacks a required
// claim or header.
var ErrMalformed = errors.New("malformed token")

// ErrAlgorithm reports a token signed with an algorithm other than the one
// the verifier expects (none, HS/RS confusion, HS384, ...).
var ErrAlgorithm = errors.New("unexpected signing algorithm")

// ErrBadSignature reports a token whose signature does not verify.
var ErrBadSignature = errors.New("bad signature")

// ErrExpired reports a token whose exp lies in the past beyond the leeway.
var ErrExpired = errors.New("token expired")

// ErrNotYetValid reports a token whose iat or nbf lies in the future beyond
// the leeway.
var ErrNotYetValid = errors.New("token not yet valid")

// ErrQSHMismatch reports a token whose qsh claim is missing or does not match
// the request it came with.
var ErrQSHMismatch = errors.New("qsh mismatch")

// ErrKeyUnavailable reports that the install key server could not be reached
// or answered with an error; callers should answer 503 so Jira retries.
var ErrKeyUnavailable = errors.New("install key unavailable")

// ErrUnknownKey reports that the install key server does not know the kid of
// a signed install token.
var ErrUnknownKey = errors.New("unknown install key")

// ErrAudience reports a signed install token not addressed to this app.
var ErrAudience = errors.New("wrong audience")

// ErrIssuer reports a token whose issuer is not the expected tenant.
var ErrIssuer = errors.New("wrong issuer")

// Reason returns a short, stable machine-readable class for err, suitable for
// JSON error bodies and metrics. It never contains token material. It returns
// "" for a nil error and "invalid_token" for errors it does not recognise.
func Reason(err error) string {
	if err == nil {
		return ""
	}
	// Order matters: one error can match several classes (a joined jwt
	// error may say both "expired" and "used before issued"), and the first
	// match is the one reported.
	reasons := []struct {
		err    error
		reason string
	}{
		{ErrNoToken, "no_token"},
		{ErrKeyUnavailable, "key_unavailable"},
		{ErrUnknownKey, "unknown_key"},
		{ErrMalformed, "malformed"},
		{ErrAlgorithm, "algorithm"},
		{ErrBadSignature, "bad_signature"},
		{ErrExpired, "expired"},
		{ErrNotYetValid, "not_yet_valid"},
		{ErrQSHMismatch, "qsh_mismatch"},
		{ErrAudience, "audience"},
		{ErrIssuer, "issuer"},
	}
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.reason
		}
	}
	return "invalid_token"
}

// classify maps an error from the jwt library onto this package's sentinel
// errors. The jwt error is kept in the chain for debugging; its messages
// never echo the token itself.
func classify(err error) error {
	// Errors produced by our own key functions come back wrapped by the jwt
	// library; they already carry the right class.
	for _, own := range []error{ErrKeyUnavailable, ErrUnknownKey, ErrAlgorithm, ErrMalformed} {
		if errors.Is(err, own) {
			return err
		}
	}
	var class error
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed),
		errors.Is(err, jwt.ErrTokenRequiredClaimMissing),
		errors.Is(err, jwt.ErrInvalidType):
		class = ErrMalformed
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		class = ErrBadSignature
	case errors.Is(err, jwt.ErrTokenExpired):
		class = ErrExpired
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued),
		errors.Is(err, jwt.ErrTokenNotValidYet):
		class = ErrNotYetValid
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		// Raised for unknown or missing alg headers.
		class = ErrAlgorithm
	default:
		class = ErrMalformed
	}
	return fmt.Errorf("%w: %w", class, err)
}
