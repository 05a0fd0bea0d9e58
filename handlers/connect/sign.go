package connect

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// SignHS256 signs claims with secret using HS256.
func SignHS256(claims jwt.Claims, secret []byte) (string, error) {
	if claims == nil {
		return "", errors.New("sign token: nil claims")
	}
	if len(secret) == 0 {
		return "", errors.New("sign token: empty secret")
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return tok, nil
}

// NewContextToken returns an HS256 token with qsh ContextQSH, issued by
// issuer for accountID (omitted when empty), valid from now for ttl.
func NewContextToken(issuer, accountID string, secret []byte, now time.Time, ttl time.Duration) (string, error) {
	claims, err := newClaims(issuer, accountID, ContextQSH, now, ttl)
	if err != nil {
		return "", fmt.Errorf("new context token: %w", err)
	}
	return SignHS256(claims, secret)
}

// NewRequestToken returns an HS256 token bound to one request: method on u,
// with the qsh computed relative to basePath (the path of the target's base
// URL). accountID is omitted when empty, which is how an app acts as itself.
func NewRequestToken(issuer, accountID, method string, u *url.URL, basePath string, secret []byte, now time.Time, ttl time.Duration) (string, error) {
	if u == nil {
		return "", errors.New("new request token: nil url")
	}
	claims, err := newClaims(issuer, accountID, URLQSH(method, u, basePath), now, ttl)
	if err != nil {
		return "", fmt.Errorf("new request token: %w", err)
	}
	return SignHS256(claims, secret)
}

// newClaims builds the claims shared by every token we issue.
func newClaims(issuer, accountID, qsh string, now time.Time, ttl time.Duration) (*Claims, error) {
	if issuer == "" {
		return nil, errors.New("empty issuer")
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("ttl %s must be positive", ttl)
	}
	return &Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    issuer,
			Subject:   accountID,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
		QSH: qsh,
	}, nil
}
