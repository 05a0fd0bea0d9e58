package forge_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"sync"
	"testing"
	"time"

	"agentpresence/handlers/forge"
	"agentpresence/handlers/forge/forgetest"
)

// testAppID is the app every test verifies tokens for.
const testAppID = "6c0a2e9b-1f4d-4c1e-9a57-0d7f3c2b8e11"

// clock is a settable test clock; nothing sleeps.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture is a platform, a key set reading its JWKS, and a verifier, all
// on one test clock.
type fixture struct {
	clock    *clock
	platform *forgetest.Platform
	keys     *forge.KeySet
	verifier *forge.Verifier
	inst     forgetest.Installation

	strangerKey *rsa.PrivateKey
}

// stranger returns a key Forge never published, made once per fixture
// (RSA key generation is slow).
func (f *fixture) stranger(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	if f.strangerKey == nil {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		f.strangerKey = key
	}
	return f.strangerKey
}

func newFixture(t testing.TB, opts ...forge.Option) *fixture {
	t.Helper()
	c := newClock()
	p, err := forgetest.New(testAppID, forgetest.WithClock(c.Now))
	if err != nil {
		t.Fatalf("platform: %v", err)
	}
	t.Cleanup(p.Close)
	keys := forge.NewKeySet(p.JWKSURL(), forge.WithKeySetClock(c.Now))
	v, err := forge.NewVerifier(testAppID, keys,
		append([]forge.Option{forge.WithClock(c.Now), forge.WithLoopbackURLs()}, opts...)...)
	if err != nil {
		t.Fatalf("verifier: %v", err)
	}
	inst := forgetest.NewInstallation("http://127.0.0.1:9/jira", "http://127.0.0.1:9")
	return &fixture{clock: c, platform: p, keys: keys, verifier: v, inst: inst}
}

// fit mints a UI FIT for principal.
func (f *fixture) fit(t testing.TB, principal string) string {
	t.Helper()
	tok, err := f.platform.FIT(f.inst, forgetest.Invocation{Principal: principal})
	if err != nil {
		t.Fatalf("mint: %v", err)
	}
	return tok
}

func (f *fixture) verify(tok string) (*forge.Invocation, error) {
	return f.verifier.Verify(context.Background(), tok)
}
