package forge

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"regexp"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// DefaultJWKSURL is where Atlassian publishes the keys that sign Forge
// Invocation Tokens in the commercial cloud (Forge Remote essentials).
const DefaultJWKSURL = "https://forge.cdn.prod.atlassian-dev.net/.well-known/jwks.json"

// Defaults of a KeySet.
const (
	// DefaultFetchTimeout bounds one JWKS fetch.
	DefaultFetchTimeout = 5 * time.Second
	// DefaultRefreshInterval is the least time between two fetches caused
	// by unknown kids or failures: anyone can send a made-up kid, so each
	// may not cost a fetch.
	DefaultRefreshInterval = 30 * time.Second
	// DefaultMaxAge is how long a fetched set is used before it is fetched
	// again on the next verification (so that a retired key goes).
	DefaultMaxAge = time.Hour
	// DefaultMaxStale is how long a set that could not be refreshed keeps
	// being used; past it, verification answers ErrKeysUnavailable.
	DefaultMaxStale = 24 * time.Hour
	// MaxJWKSBytes bounds the JWKS document: a handful of RSA keys is a few
	// kilobytes.
	MaxJWKSBytes = 64 << 10
	// MaxKeys bounds the keys kept from one document.
	MaxKeys = 32
)

// Bounds of an acceptable RSA signing key.
const (
	minRSABits = 2048
	maxRSABits = 8192
)

// kidPattern is the shape of a key id we look up. Forge's kids look like
// "forge/invocation-token/<uuid>"; a kid is only a map key here, never part
// of a URL.
var kidPattern = regexp.MustCompile(`^[A-Za-z0-9._:/+=-]{1,256}$`)

// KeySet holds the public keys of a JWKS, fetched on first use, again when
// it is older than MaxAge, and again (at most once per RefreshInterval,
// concurrent callers sharing one fetch) when a token names a kid it does
// not hold. Use NewKeySet; a KeySet is safe for concurrent use.
type KeySet struct {
	url             string
	client          *http.Client
	timeout         time.Duration
	refreshInterval time.Duration
	maxAge          time.Duration
	maxStale        time.Duration
	now             func() time.Time

	group singleflight.Group

	mu        sync.RWMutex
	keys      map[string]*rsa.PublicKey
	fetchedAt time.Time // last successful fetch; zero before
	triedAt   time.Time // last attempt, successful or not
	lastErr   error     // error of the last attempt, nil after a success
	fetches   int       // attempts, for tests and metrics
}

// KeySetOption configures a KeySet.
type KeySetOption func(*KeySet)

// WithHTTPClient sets the client that fetches the JWKS (default: a client
// with the fetch timeout).
func WithHTTPClient(c *http.Client) KeySetOption { return func(k *KeySet) { k.client = c } }

// WithFetchTimeout bounds one fetch.
func WithFetchTimeout(d time.Duration) KeySetOption { return func(k *KeySet) { k.timeout = d } }

// WithRefreshInterval sets the least time between fetches caused by unknown
// kids or failures.
func WithRefreshInterval(d time.Duration) KeySetOption {
	return func(k *KeySet) { k.refreshInterval = d }
}

// WithMaxAge sets how long a fetched set is used before the next
// verification fetches it again.
func WithMaxAge(d time.Duration) KeySetOption { return func(k *KeySet) { k.maxAge = d } }

// WithMaxStale sets how long a set that cannot be refreshed is still used.
func WithMaxStale(d time.Duration) KeySetOption { return func(k *KeySet) { k.maxStale = d } }

// WithKeySetClock injects the clock.
func WithKeySetClock(now func() time.Time) KeySetOption { return func(k *KeySet) { k.now = now } }

// NewKeySet returns a key set read from url ("" means DefaultJWKSURL).
// Nothing is fetched until the first lookup.
func NewKeySet(url string, opts ...KeySetOption) *KeySet {
	if url == "" {
		url = DefaultJWKSURL
	}
	k := &KeySet{url: url, timeout: DefaultFetchTimeout, refreshInterval: DefaultRefreshInterval,
		maxAge: DefaultMaxAge, maxStale: DefaultMaxStale, now: time.Now}
	for _, o := range opts {
		o(k)
	}
	if k.client == nil {
		k.client = &http.Client{Timeout: k.timeout}
	}
	return k
}

// URL returns where the set is fetched from.
func (k *KeySet) URL() string { return k.url }

// Fetches returns how many fetches were attempted so far.
func (k *KeySet) Fetches() int {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.fetches
}

// Key returns the RSA public key of kid. An unknown kid causes one fetch
// when the last attempt is older than the refresh interval, and
// ErrUnknownKey if the fetched set lacks it too; a set that cannot be
// fetched (or is garbled) gives ErrKeysUnavailable.
func (k *KeySet) Key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	if !kidPattern.MatchString(kid) {
		return nil, fmt.Errorf("key %w: invalid kid", ErrMalformed)
	}
	now := k.now()
	k.mu.RLock()
	key, known := k.keys[kid]
	fetchedAt, triedAt, lastErr := k.fetchedAt, k.triedAt, k.lastErr
	k.mu.RUnlock()

	fresh := !fetchedAt.IsZero() && now.Sub(fetchedAt) < k.maxAge
	if known && fresh {
		return key, nil
	}
	// Past this point a fetch is wanted; the rate limit decides whether
	// this caller may cause one.
	if now.Sub(triedAt) >= k.refreshInterval || triedAt.IsZero() {
		if err := k.refresh(ctx); err != nil {
			lastErr = err
		} else {
			lastErr = nil
		}
		k.mu.RLock()
		key, known = k.keys[kid]
		fetchedAt = k.fetchedAt
		k.mu.RUnlock()
	}
	switch {
	case fetchedAt.IsZero() || now.Sub(fetchedAt) >= k.maxStale:
		// Never fetched, or the last good set is too old to trust.
		if lastErr == nil {
			lastErr = errors.New("no key set fetched yet")
		}
		return nil, fmt.Errorf("key %.64q: %w", kid, errorsJoinUnavailable(lastErr))
	case known:
		// Possibly stale (a failed refresh), but within MaxStale.
		return key, nil
	case lastErr != nil:
		// The kid may be new and the set could not be refreshed: the token
		// was not judged, so it is not refused as unknown.
		return nil, fmt.Errorf("key %.64q: %w", kid, errorsJoinUnavailable(lastErr))
	default:
		return nil, fmt.Errorf("key %.64q: %w", kid, ErrUnknownKey)
	}
}

// errorsJoinUnavailable makes sure err is classed ErrKeysUnavailable.
func errorsJoinUnavailable(err error) error {
	if errors.Is(err, ErrKeysUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrKeysUnavailable, err)
}

// refresh fetches the set once for all concurrent callers and records the
// outcome. A failed fetch keeps the keys already held.
func (k *KeySet) refresh(ctx context.Context) error {
	ch := k.group.DoChan("jwks", func() (any, error) {
		// A caller that read the state just before another flight ended
		// must not fetch again: the rate limit holds across flights.
		k.mu.RLock()
		recent := !k.triedAt.IsZero() && k.now().Sub(k.triedAt) < k.refreshInterval
		lastErr := k.lastErr
		k.mu.RUnlock()
		if recent {
			return nil, lastErr
		}
		// The fetch outlives a caller that gives up: it is shared.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), k.timeout)
		defer cancel()
		keys, err := k.fetch(fctx)
		k.mu.Lock()
		defer k.mu.Unlock()
		k.fetches++
		k.triedAt = k.now()
		k.lastErr = err
		if err == nil {
			k.keys = keys
			k.fetchedAt = k.triedAt
		}
		return nil, err
	})
	select {
	case r := <-ch:
		return r.Err
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrKeysUnavailable, ctx.Err())
	}
}

// jwk is one key of a JWKS; only RSA signing keys are used.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// fetch downloads and parses the JWKS.
func (k *KeySet) fetch(ctx context.Context) (map[string]*rsa.PublicKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch jwks: %w: %w", ErrKeysUnavailable, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch jwks: %w: %w", ErrKeysUnavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch jwks: status %d: %w", resp.StatusCode, ErrKeysUnavailable)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("fetch jwks: read: %w: %w", ErrKeysUnavailable, err)
	}
	if len(body) > MaxJWKSBytes {
		return nil, fmt.Errorf("fetch jwks: document over %d bytes: %w", MaxJWKSBytes, ErrKeysUnavailable)
	}
	keys, err := ParseJWKS(body)
	if err != nil {
		return nil, fmt.Errorf("fetch jwks: %w: %w", ErrKeysUnavailable, err)
	}
	return keys, nil
}

// ParseJWKS returns the RSA signing keys of a JWKS document by kid. Keys of
// other types or uses are skipped; a document without one usable key, a
// duplicated kid or a malformed RSA key is an error.
func ParseJWKS(doc []byte) (map[string]*rsa.PublicKey, error) {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(doc, &set); err != nil {
		return nil, fmt.Errorf("parse jwks: %w", err)
	}
	keys := make(map[string]*rsa.PublicKey)
	for _, j := range set.Keys {
		if j.Kty != "RSA" || (j.Use != "" && j.Use != "sig") || (j.Alg != "" && j.Alg != "RS256") {
			continue
		}
		if !kidPattern.MatchString(j.Kid) {
			return nil, fmt.Errorf("parse jwks: invalid kid")
		}
		if _, dup := keys[j.Kid]; dup {
			return nil, fmt.Errorf("parse jwks: duplicate kid %.64q", j.Kid)
		}
		if len(keys) == MaxKeys {
			return nil, fmt.Errorf("parse jwks: more than %d keys", MaxKeys)
		}
		pub, err := rsaKey(j)
		if err != nil {
			return nil, fmt.Errorf("parse jwks: key %.64q: %w", j.Kid, err)
		}
		keys[j.Kid] = pub
	}
	if len(keys) == 0 {
		return nil, errors.New("parse jwks: no RSA signing key")
	}
	return keys, nil
}

// rsaKey decodes the modulus and exponent of an RSA JWK.
func rsaKey(j jwk) (*rsa.PublicKey, error) {
	n, err := base64.RawURLEncoding.DecodeString(j.N)
	if err != nil {
		return nil, fmt.Errorf("modulus: %w", err)
	}
	e, err := base64.RawURLEncoding.DecodeString(j.E)
	if err != nil {
		return nil, fmt.Errorf("exponent: %w", err)
	}
	if len(e) == 0 || len(e) > 4 {
		return nil, errors.New("exponent out of range")
	}
	exp := 0
	for _, b := range e {
		exp = exp<<8 | int(b)
	}
	mod := new(big.Int).SetBytes(n)
	if bits := mod.BitLen(); bits < minRSABits || bits > maxRSABits {
		return nil, fmt.Errorf("modulus of %d bits", bits)
	}
	if exp < 3 || exp%2 == 0 {
		return nil, errors.New("exponent out of range")
	}
	return &rsa.PublicKey{N: mod, E: exp}, nil
}

// EncodeJWK returns the JWK of an RSA public key, for stand-ins that
// publish a key set.
func EncodeJWK(kid string, pub *rsa.PublicKey) map[string]string {
	return map[string]string{
		"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
		"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}
}
