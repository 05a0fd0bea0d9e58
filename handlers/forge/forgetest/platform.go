// Package forgetest is a stand-in for the Atlassian Forge platform, for
// tests and the local demo, as httptest stands in for a network under
// net/http.
//
// A Platform publishes a JSON Web Key Set over HTTP on a loopback address
// (with key rotation, an outage and a garbled answer on demand), mints
// real RS256 Forge Invocation Tokens for an app and an installation, mints
// system and user tokens, and builds the requests Forge sends to a remote:
// invokeRemote and requestRemote calls from a page, product events,
// lifecycle events, the pre-uninstall call and scheduled triggers. It only
// ever addresses loopback hosts.
//
// Typical use:
//
//	p, err := forgetest.New(appID)
//	defer p.Close()
//	v, err := forge.NewVerifier(appID, forge.NewKeySet(p.JWKSURL()), forge.WithLoopbackURLs())
//	inst := forgetest.NewInstallation("http://127.0.0.1:9/jira", "http://127.0.0.1:9")
//	req, err := p.InvokeRemote(ctx, appURL, inst, "557058:agent", http.MethodGet, "/api/v1/me", nil)
package forgetest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"agentpresence/handlers/forge"
)

// JWKSPath is where the platform serves its key set.
const JWKSPath = "/.well-known/jwks.json"

// Mode is how the key set server answers.
type Mode int

// The key set server's modes.
const (
	// Serving answers the key set.
	Serving Mode = iota
	// Down answers 503, as an outage of Atlassian's CDN would.
	Down
	// Garbage answers 200 with a body that is no JWKS.
	Garbage
)

// Platform plays Forge towards one app. Build it with New and Close it.
type Platform struct {
	appID string
	srv   *httptest.Server
	now   func() time.Time
	// FITTTL is the lifetime of minted FITs (25 s, as in Forge's sample).
	FITTTL time.Duration
	// OAuthTTL is the lifetime of minted system and user tokens (Forge's
	// are valid 2 to 4 hours when delivered).
	OAuthTTL time.Duration

	tokenSecret []byte // signs the stand-in's system and user tokens
	requests    atomic.Int64

	mu   sync.Mutex
	keys []signingKey // published keys; the last one signs
	mode Mode
	seq  int
}

type signingKey struct {
	kid string
	key *rsa.PrivateKey
}

// Option configures a Platform.
type Option func(*Platform)

// WithClock injects the clock the platform mints tokens with.
func WithClock(now func() time.Time) Option { return func(p *Platform) { p.now = now } }

// New starts a platform for the app appID (a UUID or an app ARI) with one
// signing key, its key set served on 127.0.0.1.
func New(appID string, opts ...Option) (*Platform, error) {
	ari, err := forge.AppARI(appID)
	if err != nil {
		return nil, fmt.Errorf("forgetest: %w", err)
	}
	p := &Platform{appID: ari, now: time.Now, FITTTL: 25 * time.Second, OAuthTTL: 3 * time.Hour,
		tokenSecret: make([]byte, 32)}
	if _, err := rand.Read(p.tokenSecret); err != nil {
		return nil, fmt.Errorf("forgetest: %w", err)
	}
	for _, o := range opts {
		o(p)
	}
	if _, err := p.Rotate(); err != nil {
		return nil, err
	}
	// httptest listens on 127.0.0.1 only.
	p.srv = httptest.NewServer(http.HandlerFunc(p.serveJWKS))
	return p, nil
}

// Close stops the key set server.
func (p *Platform) Close() { p.srv.Close() }

// AppID returns the app's ARI, the aud of the minted FITs.
func (p *Platform) AppID() string { return p.appID }

// JWKSURL returns the URL of the key set, for forge.NewKeySet.
func (p *Platform) JWKSURL() string { return p.srv.URL + JWKSPath }

// JWKSRequests returns how many times the key set was asked for.
func (p *Platform) JWKSRequests() int { return int(p.requests.Load()) }

// SetMode switches how the key set server answers.
func (p *Platform) SetMode(m Mode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = m
}

// Rotate adds a new signing key, published beside the old ones, and signs
// with it from now on. It returns the new key's kid.
func (p *Platform) Rotate() (string, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", fmt.Errorf("forgetest: generate key: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seq++
	kid := fmt.Sprintf("forge/invocation-token/stand-in-%d", p.seq)
	p.keys = append(p.keys, signingKey{kid: kid, key: key})
	return kid, nil
}

// Retire stops publishing kid (the signing key stays the last one added
// unless that is the one retired, after which Sign fails).
func (p *Platform) Retire(kid string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys = slices.DeleteFunc(p.keys, func(k signingKey) bool { return k.kid == kid })
}

// Kid returns the kid of the current signing key.
func (p *Platform) Kid() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.keys) == 0 {
		return ""
	}
	return p.keys[len(p.keys)-1].kid
}

// PublicKey returns the public key of kid, or nil.
func (p *Platform) PublicKey(kid string) *rsa.PublicKey {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, k := range p.keys {
		if k.kid == kid {
			return &k.key.PublicKey
		}
	}
	return nil
}

// current returns the signing key.
func (p *Platform) current() (signingKey, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.keys) == 0 {
		return signingKey{}, errors.New("forgetest: no signing key")
	}
	return p.keys[len(p.keys)-1], nil
}

// serveJWKS answers the key set according to the mode.
func (p *Platform) serveJWKS(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	if r.URL.Path != JWKSPath || r.Method != http.MethodGet {
		http.NotFound(w, r)
		return
	}
	p.mu.Lock()
	mode := p.mode
	keys := make([]map[string]string, 0, len(p.keys))
	for _, k := range p.keys {
		keys = append(keys, forge.EncodeJWK(k.kid, &k.key.PublicKey))
	}
	p.mu.Unlock()
	switch mode {
	case Down:
		http.Error(w, "service unavailable", http.StatusServiceUnavailable)
	case Garbage:
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"keys":[{"kty":"RSA","kid":"x","n":"%%%","e":"AQAB"}`))
	default:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": keys})
	}
}
