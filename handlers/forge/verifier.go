package forge

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Defaults of a Verifier.
const (
	// DefaultLeeway tolerates clock skew on exp, nbf and iat.
	DefaultLeeway = 30 * time.Second
	// MaxLeeway bounds the configurable leeway.
	MaxLeeway = 5 * time.Minute
	// DefaultMaxTokenBytes bounds a FIT: Forge's are 1–3 KB (more with a
	// license and several contexts).
	DefaultMaxTokenBytes = 16 << 10
	// DefaultCacheSize bounds the verified-token cache.
	DefaultCacheSize = 16384
	// DefaultMaxCacheTTL bounds how long one verified token is reused,
	// whatever its exp, so that a retired key stops working soon.
	DefaultMaxCacheTTL = 5 * time.Minute
)

// Verifier verifies Forge Invocation Tokens for one app. Build it with
// NewVerifier; it is safe for concurrent use.
type Verifier struct {
	appID         string
	keys          *KeySet
	leeway        time.Duration
	now           func() time.Time
	maxTokenBytes int
	allowLoopback bool
	maxCacheTTL   time.Duration
	cache         *tokenCache
}

// Option configures a Verifier.
type Option func(*Verifier)

// WithLeeway sets the clock skew tolerated on exp, nbf and iat (at most
// MaxLeeway; negative means none).
func WithLeeway(d time.Duration) Option { return func(v *Verifier) { v.leeway = d } }

// WithClock injects the clock.
func WithClock(now func() time.Time) Option { return func(v *Verifier) { v.now = now } }

// WithMaxTokenBytes bounds the accepted token length.
func WithMaxTokenBytes(n int) Option { return func(v *Verifier) { v.maxTokenBytes = n } }

// WithCacheSize bounds the verified-token cache (0 disables it).
func WithCacheSize(n int) Option { return func(v *Verifier) { v.cache = newTokenCache(n) } }

// WithMaxCacheTTL bounds how long one verified token is reused.
func WithMaxCacheTTL(d time.Duration) Option { return func(v *Verifier) { v.maxCacheTTL = d } }

// WithLoopbackURLs accepts http API base and site URLs on loopback hosts:
// for the test and demo platform only, never in production.
func WithLoopbackURLs() Option { return func(v *Verifier) { v.allowLoopback = true } }

// NewVerifier returns a verifier of FITs addressed to appID (a UUID or an
// app ARI), signed by a key of keys.
func NewVerifier(appID string, keys *KeySet, opts ...Option) (*Verifier, error) {
	ari, err := AppARI(appID)
	if err != nil {
		return nil, fmt.Errorf("new forge verifier: %w", err)
	}
	if keys == nil {
		return nil, errors.New("new forge verifier: nil key set")
	}
	v := &Verifier{appID: ari, keys: keys, leeway: DefaultLeeway, now: time.Now,
		maxTokenBytes: DefaultMaxTokenBytes, maxCacheTTL: DefaultMaxCacheTTL, cache: newTokenCache(DefaultCacheSize)}
	for _, o := range opts {
		o(v)
	}
	v.leeway = min(max(v.leeway, 0), MaxLeeway)
	return v, nil
}

// AppID returns the app ARI tokens must be addressed to.
func (v *Verifier) AppID() string { return v.appID }

// VerifyRequest reads the FIT of r (see TokenFromRequest) and verifies it.
func (v *Verifier) VerifyRequest(r *http.Request) (*Invocation, error) {
	tok, err := TokenFromRequest(r)
	if err != nil {
		return nil, err
	}
	return v.Verify(r.Context(), tok)
}

// Verify verifies one FIT and returns its invocation. A token verified
// before is answered from the cache until it expires (or MaxCacheTTL
// passes); the returned Invocation must not be modified.
func (v *Verifier) Verify(ctx context.Context, token string) (*Invocation, error) {
	if len(token) > v.maxTokenBytes {
		return nil, fmt.Errorf("verify fit: longer than %d bytes: %w", v.maxTokenBytes, ErrMalformed)
	}
	now := v.now()
	digest := sha256.Sum256([]byte(token))
	if inv, ok := v.cache.get(digest, now); ok {
		return inv, nil
	}
	inv, err := v.verify(ctx, token, now)
	if err != nil {
		return nil, fmt.Errorf("verify fit: %w", err)
	}
	// Reuse ends at exp plus the leeway the verification itself grants,
	// capped by maxCacheTTL.
	until := inv.ExpiresAt.Add(v.leeway)
	if limit := now.Add(v.maxCacheTTL); until.After(limit) {
		until = limit
	}
	v.cache.put(digest, inv, until)
	return inv, nil
}

// verify does the full, uncached verification.
func (v *Verifier) verify(ctx context.Context, token string, now time.Time) (*Invocation, error) {
	hdr, err := peekHeader(token)
	if err != nil {
		return nil, err
	}
	// Pinning RS256 before anything else defeats "none" and HS/RS
	// confusion (HS256 "signed" with the public key).
	if hdr.Alg != jwt.SigningMethodRS256.Alg() {
		return nil, fmt.Errorf("alg %.16q: %w", hdr.Alg, ErrAlgorithm)
	}
	if !kidPattern.MatchString(hdr.Kid) {
		return nil, fmt.Errorf("missing or invalid kid: %w", ErrMalformed)
	}
	claims := &Claims{}
	_, err = jwt.ParseWithClaims(token, claims,
		func(*jwt.Token) (any, error) { return v.keys.Key(ctx, hdr.Kid) },
		jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}),
		jwt.WithIssuer(Issuer),
		jwt.WithAudience(v.appID),
		jwt.WithLeeway(v.leeway),
		jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithIssuedAt(),
		jwt.WithExpirationRequired(),
	)
	if err != nil {
		return nil, classify(err)
	}
	// WithIssuedAt checks iat only when present; Forge always sends it.
	if claims.IssuedAt == nil {
		return nil, fmt.Errorf("missing iat: %w", ErrMalformed)
	}
	return claims.invocation(v.appID, v.allowLoopback)
}

// TokenFromRequest returns the FIT of an "Authorization: Bearer <token>"
// header (scheme case-insensitive). Any other form, the Connect "JWT"
// scheme included, is ErrNoToken: a FIT is never read from the query
// string or another scheme.
func TokenFromRequest(r *http.Request) (string, error) {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", fmt.Errorf("fit from request: %w", ErrNoToken)
	}
	if tok = strings.TrimSpace(tok); tok == "" {
		return "", fmt.Errorf("fit from request: %w", ErrNoToken)
	}
	return tok, nil
}

// header holds the JOSE header fields looked at before verification.
type header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

// peekHeader decodes a token's header without verifying anything.
func peekHeader(token string) (header, error) {
	var h header
	seg, _, ok := strings.Cut(token, ".")
	if !ok || strings.Count(token, ".") != 2 {
		return h, fmt.Errorf("not three segments: %w", ErrMalformed)
	}
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return h, fmt.Errorf("header: %w: %w", ErrMalformed, err)
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return h, fmt.Errorf("header: %w: %w", ErrMalformed, err)
	}
	return h, nil
}

// tokenCache keeps verified invocations by token digest until their
// reuse ends, bounded in size: when full, the oldest entries go (FITs live
// about as long as one another, so the oldest are the first to expire).
type tokenCache struct {
	size int

	mu      sync.RWMutex
	entries map[[32]byte]cacheEntry
	order   [][32]byte // insertion order, oldest first
}

type cacheEntry struct {
	inv   *Invocation
	until time.Time
}

func newTokenCache(size int) *tokenCache {
	return &tokenCache{size: max(size, 0), entries: make(map[[32]byte]cacheEntry)}
}

// get returns the invocation of digest if it may still be reused at now.
func (c *tokenCache) get(digest [32]byte, now time.Time) (*Invocation, bool) {
	if c.size == 0 {
		return nil, false
	}
	c.mu.RLock()
	e, ok := c.entries[digest]
	c.mu.RUnlock()
	if !ok || !now.Before(e.until) {
		return nil, false
	}
	return e.inv, true
}

// put stores inv under digest until until.
func (c *tokenCache) put(digest [32]byte, inv *Invocation, until time.Time) {
	if c.size == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[digest]; ok {
		c.entries[digest] = cacheEntry{inv: inv, until: until}
		return
	}
	if len(c.entries) >= c.size {
		c.evict()
	}
	c.entries[digest] = cacheEntry{inv: inv, until: until}
	c.order = append(c.order, digest)
}

// evict makes room for one entry; the order slice is copied now and then
// so that its dropped head is released.
func (c *tokenCache) evict() {
	for len(c.entries) >= c.size && len(c.order) > 0 {
		delete(c.entries, c.order[0])
		c.order = c.order[1:]
	}
	if cap(c.order) > 4*c.size {
		c.order = append([][32]byte(nil), c.order...)
	}
}

// cacheLen returns the number of cached tokens (for tests).
func (v *Verifier) cacheLen() int {
	v.cache.mu.RLock()
	defer v.cache.mu.RUnlock()
	return len(v.cache.entries)
}
