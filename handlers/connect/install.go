package connect

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DefaultInstallKeysURL is where Atlassian publishes the public keys that
// sign lifecycle callbacks.
const DefaultInstallKeysURL = "https://connect-install-keys.atlassian.com"

// DefaultKeyFetchTimeout bounds one key fetch when InstallVerifier has no
// FetchTimeout; installs must not hang on a slow CDN.
const DefaultKeyFetchTimeout = 5 * time.Second

// DefaultKeyCacheSize bounds the key cache when InstallVerifier has no
// CacheSize; Atlassian rotates keys rarely, so a few dozen is plenty.
const DefaultKeyCacheSize = 64

// maxKeyResponse bounds the key server's answer; a PEM RSA public key is
// well under 2 KiB.
const maxKeyResponse = 16 << 10

// validKid reports whether kid matches ^[A-Za-z0-9._-]{1,128}$ and is not a
// dot segment: kids end up in the key URL, so nothing may change its meaning
// ("/", "?", "%", "..").
func validKid(kid string) bool {
	if len(kid) == 0 || len(kid) > 128 || kid == "." || kid == ".." {
		return false
	}
	for i := 0; i < len(kid); i++ {
		c := kid[i]
		if !isUnreserved(c) || c == '~' {
			return false
		}
	}
	return true
}

// InstallVerifier verifies the RS256 tokens Atlassian signs lifecycle
// callbacks (installed, uninstalled) with. Public keys are fetched from
// KeysURL + "/" + kid and cached by kid. Use it through a pointer; the zero
// value is usable and talks to DefaultInstallKeysURL.
type InstallVerifier struct {
	// KeysURL is the key server base URL; empty means DefaultInstallKeysURL.
	KeysURL string
	// Client fetches keys; nil means a client with DefaultKeyFetchTimeout.
	Client *http.Client
	// FetchTimeout bounds one key fetch; zero means DefaultKeyFetchTimeout.
	FetchTimeout time.Duration
	// Leeway tolerates clock skew for exp, iat and nbf.
	Leeway time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// CacheSize bounds the number of cached keys; zero means
	// DefaultKeyCacheSize.
	CacheSize int

	mu    sync.Mutex
	keys  map[string]*rsa.PublicKey
	order []string // insertion order, oldest first, for eviction
}

// Verify verifies a signed install token: alg RS256 with a kid whose key the
// key server knows, a valid signature, exp present and within Leeway, an aud
// containing audience (trailing slashes ignored), a qsh equal to wantQSH and
// an iss equal to clientKey. Key server failures wrap ErrKeyUnavailable so
// callers can answer 503 and let Jira retry.
func (v *InstallVerifier) Verify(ctx context.Context, token, audience, wantQSH, clientKey string) (*Claims, error) {
	hdr, err := peekHeader(token)
	if err != nil {
		return nil, fmt.Errorf("verify install: %w", err)
	}
	// Pinning RS256 here is what defeats HS/RS confusion (an HS256 token
	// "signed" with our public key) and unsigned tokens.
	if hdr.Alg != jwt.SigningMethodRS256.Alg() {
		return nil, fmt.Errorf("verify install: alg %.16q: %w", hdr.Alg, ErrAlgorithm)
	}
	if !validKid(hdr.Kid) {
		return nil, fmt.Errorf("verify install: missing or invalid kid: %w", ErrMalformed)
	}
	claims := &Claims{}
	_, err = jwt.ParseWithClaims(token, claims,
		func(*jwt.Token) (any, error) { return v.publicKey(ctx, hdr.Kid) },
		jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}),
		jwt.WithTimeFunc(clock(v.Now)),
		jwt.WithLeeway(max(v.Leeway, 0)),
		jwt.WithIssuedAt(),
		jwt.WithExpirationRequired(),
	)
	if err != nil {
		return nil, fmt.Errorf("verify install: %w", classify(err))
	}
	if !audienceContains(claims.Audience, audience) {
		return nil, fmt.Errorf("verify install: %w", ErrAudience)
	}
	if err := checkQSH(claims.QSH, wantQSH, false); err != nil {
		return nil, fmt.Errorf("verify install: %w", err)
	}
	if clientKey == "" || claims.Issuer != clientKey {
		return nil, fmt.Errorf("verify install: iss is not the installing client: %w", ErrIssuer)
	}
	return claims, nil
}

// audienceContains reports whether aud contains want, ignoring trailing
// slashes because Atlassian and app descriptors disagree on them.
func audienceContains(aud []string, want string) bool {
	want = strings.TrimRight(want, "/")
	if want == "" {
		return false
	}
	for _, a := range aud {
		if strings.TrimRight(a, "/") == want {
			return true
		}
	}
	return false
}

// publicKey returns the key for kid from the cache or the key server.
func (v *InstallVerifier) publicKey(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	v.mu.Lock()
	key, ok := v.keys[kid]
	v.mu.Unlock()
	if ok {
		return key, nil
	}
	// Fetched without holding the lock so a slow key server does not block
	// verifications that hit the cache; a concurrent duplicate fetch is
	// harmless.
	key, err := v.fetchKey(ctx, kid)
	if err != nil {
		return nil, err
	}
	v.store(kid, key)
	return key, nil
}

// store caches key under kid, evicting the oldest entry when full.
func (v *InstallVerifier) store(kid string, key *rsa.PublicKey) {
	size := v.CacheSize
	if size <= 0 {
		size = DefaultKeyCacheSize
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.keys == nil {
		v.keys = make(map[string]*rsa.PublicKey)
	}
	if _, ok := v.keys[kid]; ok {
		return
	}
	for len(v.order) >= size {
		delete(v.keys, v.order[0])
		v.order = v.order[1:]
	}
	v.keys[kid] = key
	v.order = append(v.order, kid)
}

// fetchKey downloads and parses the PEM public key for kid.
func (v *InstallVerifier) fetchKey(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	timeout := v.FetchTimeout
	if timeout <= 0 {
		timeout = DefaultKeyFetchTimeout
	}
	client := v.Client
	if client == nil {
		client = &http.Client{Timeout: timeout}
	}
	base := v.KeysURL
	if base == "" {
		base = DefaultInstallKeysURL
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/"+kid, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch install key: %w: %w", ErrKeyUnavailable, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch install key: %w: %w", ErrKeyUnavailable, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxKeyResponse))
	if err != nil {
		return nil, fmt.Errorf("fetch install key: read: %w: %w", ErrKeyUnavailable, err)
	}
	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests:
		return nil, fmt.Errorf("fetch install key: status %d: %w", resp.StatusCode, ErrKeyUnavailable)
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		// The CDN answers 404 (or 403 from the bucket) for kids it does
		// not have: the token is not one Atlassian signed.
		return nil, fmt.Errorf("fetch install key: status %d: %w", resp.StatusCode, ErrUnknownKey)
	default:
		return nil, fmt.Errorf("fetch install key: status %d: %w", resp.StatusCode, ErrKeyUnavailable)
	}
	key, err := parsePublicKeyPEM(body)
	if err != nil {
		// A garbled answer is the key server's fault, not the caller's.
		return nil, fmt.Errorf("fetch install key: %w: %w", ErrKeyUnavailable, err)
	}
	return key, nil
}

// parsePublicKeyPEM parses a PEM "PUBLIC KEY" (SPKI) block holding an RSA key.
func parsePublicKeyPEM(data []byte) (*rsa.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, errors.New("no PEM PUBLIC KEY block")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse public key: %w", err)
	}
	rsaPub, ok := pub.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("public key is %T, not RSA", pub)
	}
	return rsaPub, nil
}

// EncodePublicKeyPEM encodes pub as a PEM "PUBLIC KEY" (SPKI) block, the
// format the install key server serves.
func EncodePublicKeyPEM(pub *rsa.PublicKey) ([]byte, error) {
	if pub == nil {
		return nil, errors.New("encode public key: nil key")
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encode public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// SignInstallRS256 signs a lifecycle token the way Atlassian does: RS256
// with kid in the header, iss clientKey, aud audience (the app's base URL),
// the given qsh, issued at now and valid for ttl. Tests and the demo host use
// it to play Jira.
func SignInstallRS256(key *rsa.PrivateKey, kid, clientKey, audience, qsh string, now time.Time, ttl time.Duration) (string, error) {
	if key == nil {
		return "", errors.New("sign install token: nil key")
	}
	if !validKid(kid) {
		return "", errors.New("sign install token: invalid kid")
	}
	claims, err := newClaims(clientKey, "", qsh, now, ttl)
	if err != nil {
		return "", fmt.Errorf("sign install token: %w", err)
	}
	claims.Audience = jwt.ClaimStrings{audience}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = kid
	signed, err := tok.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("sign install token: %w", err)
	}
	return signed, nil
}
