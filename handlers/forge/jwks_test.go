package forge_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"agentpresence/handlers/forge"
	"agentpresence/handlers/forge/forgetest"
)

// forgedKid signs a FIT of the fixture with a key Forge never published,
// under kid.
func forgedKid(t *testing.T, f *fixture, kid string) string {
	t.Helper()
	tok, err := forgetest.SignRS256(f.stranger(t), kid, f.platform.Claims(f.inst, forgetest.Invocation{Principal: agent}))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestUnknownKidRefetchIsBounded: made-up kids cost one JWKS fetch per
// refresh interval, not one per request.
func TestUnknownKidRefetchIsBounded(t *testing.T) {
	f := newFixture(t)
	if _, err := f.verify(f.fit(t, agent)); err != nil {
		t.Fatal(err)
	}
	if got := f.platform.JWKSRequests(); got != 1 {
		t.Fatalf("JWKS fetched %d times for the first token, want 1", got)
	}
	f.clock.Advance(forge.DefaultRefreshInterval)
	for i := range 20 {
		_, err := f.verify(forgedKid(t, f, fmt.Sprintf("forge/invocation-token/made-up-%d", i)))
		if !errors.Is(err, forge.ErrUnknownKey) {
			t.Fatalf("made-up kid %d: error %v, want ErrUnknownKey", i, err)
		}
	}
	if got := f.platform.JWKSRequests(); got != 2 {
		t.Fatalf("JWKS fetched %d times after 20 made-up kids, want 2 (one refetch)", got)
	}
	f.clock.Advance(forge.DefaultRefreshInterval)
	if _, err := f.verify(forgedKid(t, f, "forge/invocation-token/later")); !errors.Is(err, forge.ErrUnknownKey) {
		t.Fatalf("error %v", err)
	}
	if got := f.platform.JWKSRequests(); got != 3 {
		t.Fatalf("JWKS fetched %d times after the interval, want 3", got)
	}
}

// TestUnknownKidRefetchIsCoalesced: concurrent unknown kids share one
// fetch.
func TestUnknownKidRefetchIsCoalesced(t *testing.T) {
	f := newFixture(t)
	if _, err := f.verify(f.fit(t, agent)); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(forge.DefaultRefreshInterval)
	tokens := make([]string, 32)
	for i := range tokens {
		tokens[i] = forgedKid(t, f, fmt.Sprintf("forge/invocation-token/burst-%d", i))
	}
	var wg sync.WaitGroup
	errs := make([]error, len(tokens))
	for i, tok := range tokens {
		wg.Go(func() { _, errs[i] = f.verify(tok) })
	}
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, forge.ErrUnknownKey) {
			t.Fatalf("token %d: %v", i, err)
		}
	}
	if got := f.platform.JWKSRequests(); got != 2 {
		t.Fatalf("JWKS fetched %d times for a burst of 32 unknown kids, want 2", got)
	}
}

// TestKeyRotation: a token signed with a newly published key verifies
// after one refetch; tokens of the old key keep verifying while it is
// published, and stop once it is retired and the set refreshed.
func TestKeyRotation(t *testing.T) {
	f := newFixture(t)
	oldKid := f.platform.Kid()
	if _, err := f.verify(f.fit(t, agent)); err != nil {
		t.Fatal(err)
	}
	oldClaims := f.platform.Claims(f.inst, forgetest.Invocation{Principal: agent})
	oldTok, err := f.platform.Sign(oldClaims)
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(forge.DefaultRefreshInterval)
	newKid, err := f.platform.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	inv, err := f.verify(f.fit(t, agent))
	if err != nil {
		t.Fatalf("token of the new key %s: %v", newKid, err)
	}
	if inv.Principal != agent || f.platform.JWKSRequests() != 2 {
		t.Fatalf("principal %q, JWKS fetched %d times, want 2", inv.Principal, f.platform.JWKSRequests())
	}
	if _, err := f.verify(oldTok); err != nil {
		t.Fatalf("token of the old key, still published: %v", err)
	}

	f.platform.Retire(oldKid)
	f.clock.Advance(forge.DefaultMaxAge)
	// The platform no longer holds the retired key, so a token under its
	// kid is signed by a stranger: refused as unknown, not as a bad
	// signature, once the set is refreshed.
	if _, err := f.verify(forgedKid(t, f, oldKid)); !errors.Is(err, forge.ErrUnknownKey) {
		t.Fatalf("retired kid: error %v, want ErrUnknownKey", err)
	}
}

// TestKeySetUnavailable: a JWKS that is down or garbled makes
// verification answer ErrKeysUnavailable (503), never acceptance, and
// the failures are retried at the bounded rate only.
func TestKeySetUnavailable(t *testing.T) {
	for _, mode := range []forgetest.Mode{forgetest.Down, forgetest.Garbage} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			f := newFixture(t)
			f.platform.SetMode(mode)
			tok := f.fit(t, agent)
			for range 5 {
				inv, err := f.verify(tok)
				if !errors.Is(err, forge.ErrKeysUnavailable) || inv != nil {
					t.Fatalf("error %v, invocation %v; want ErrKeysUnavailable", err, inv)
				}
				if forge.HTTPStatus(err) != http.StatusServiceUnavailable {
					t.Fatalf("status %d, want 503", forge.HTTPStatus(err))
				}
			}
			if got := f.platform.JWKSRequests(); got != 1 {
				t.Fatalf("JWKS asked %d times within one interval, want 1", got)
			}
			f.platform.SetMode(forgetest.Serving)
			f.clock.Advance(forge.DefaultRefreshInterval)
			if _, err := f.verify(tok); err != nil {
				t.Fatalf("after recovery: %v", err)
			}
		})
	}
}

// TestKeySetDownAfterFetch: known keys stay usable while the JWKS is
// down, up to MaxStale; a new kid meanwhile is unavailable, not unknown.
func TestKeySetDownAfterFetch(t *testing.T) {
	f := newFixture(t)
	if _, err := f.verify(f.fit(t, agent)); err != nil {
		t.Fatal(err)
	}
	f.platform.SetMode(forgetest.Down)
	f.clock.Advance(forge.DefaultMaxAge)
	if _, err := f.verify(f.fit(t, agent)); err != nil {
		t.Fatalf("known key, stale set: %v", err)
	}
	if _, err := f.verify(forgedKid(t, f, "forge/invocation-token/new")); !errors.Is(err, forge.ErrKeysUnavailable) {
		t.Fatalf("new kid while the set cannot be refreshed: %v, want ErrKeysUnavailable", err)
	}
	f.clock.Advance(forge.DefaultMaxStale)
	if _, err := f.verify(f.fit(t, agent)); !errors.Is(err, forge.ErrKeysUnavailable) {
		t.Fatalf("known key past MaxStale: %v, want ErrKeysUnavailable", err)
	}
}

// TestKeySetDocumentBounds: oversized, empty, weak-key and malformed
// documents are refused as unavailable.
func TestKeySetDocumentBounds(t *testing.T) {
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	weakJWK := forge.EncodeJWK("k", &weak.PublicKey)
	tests := []struct {
		name string
		body string
	}{
		{"oversized", `{"keys":[` + strings.Repeat(`{"kty":"oct"},`, forge.MaxJWKSBytes/12) + `{}]}`},
		{"no keys", `{"keys":[]}`},
		{"only symmetric keys", `{"keys":[{"kty":"oct","kid":"k","k":"c2VjcmV0"}]}`},
		{"1024-bit key", fmt.Sprintf(`{"keys":[{"kty":"RSA","kid":"k","n":%q,"e":%q}]}`, weakJWK["n"], weakJWK["e"])},
		{"even exponent", `{"keys":[{"kty":"RSA","kid":"k","n":"` + strings.Repeat("A", 342) + `","e":"Ag"}]}`},
		{"not json", `<html>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			keys := forge.NewKeySet(srv.URL)
			if _, err := keys.Key(context.Background(), "k"); !errors.Is(err, forge.ErrKeysUnavailable) {
				t.Fatalf("error %v, want ErrKeysUnavailable", err)
			}
		})
	}
}

// TestParseJWKSSkipsForeignKeys: encryption keys and other algorithms are
// ignored; duplicated kids are refused.
func TestParseJWKSSkipsForeignKeys(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	j := forge.EncodeJWK("sig", &key.PublicKey)
	doc := fmt.Sprintf(`{"keys":[{"kty":"RSA","kid":"enc","use":"enc","n":%[1]q,"e":%[2]q},`+
		`{"kty":"RSA","kid":"ps","alg":"PS256","n":%[1]q,"e":%[2]q},{"kty":"RSA","kid":"sig","n":%[1]q,"e":%[2]q}]}`, j["n"], j["e"])
	keys, err := forge.ParseJWKS([]byte(doc))
	if err != nil || len(keys) != 1 || keys["sig"] == nil {
		t.Fatalf("keys %v, error %v", keys, err)
	}
	dup := fmt.Sprintf(`{"keys":[{"kty":"RSA","kid":"a","n":%[1]q,"e":%[2]q},{"kty":"RSA","kid":"a","n":%[1]q,"e":%[2]q}]}`, j["n"], j["e"])
	if _, err := forge.ParseJWKS([]byte(dup)); err == nil {
		t.Fatal("duplicate kid accepted")
	}
}

// TestVerifiedTokenCache: a verified token is answered from the cache
// (even once the key set is unusable) until it expires; other tokens are
// verified in full.
func TestVerifiedTokenCache(t *testing.T) {
	f := newFixture(t)
	keys := forge.NewKeySet(f.platform.JWKSURL(), forge.WithKeySetClock(f.clock.Now),
		forge.WithRefreshInterval(time.Second), forge.WithMaxAge(time.Second), forge.WithMaxStale(2*time.Second))
	v, err := forge.NewVerifier(testAppID, keys, forge.WithClock(f.clock.Now), forge.WithLoopbackURLs())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tok := f.fit(t, agent)
	first, err := v.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	f.platform.SetMode(forgetest.Down)
	f.clock.Advance(5 * time.Second) // past MaxStale: keys are unusable
	if _, err := v.Verify(ctx, f.fit(t, agent)); !errors.Is(err, forge.ErrKeysUnavailable) {
		t.Fatalf("a new token: %v, want ErrKeysUnavailable", err)
	}
	again, err := v.Verify(ctx, tok)
	if err != nil || again != first {
		t.Fatalf("cached token: %v (same result: %v)", err, again == first)
	}
	f.platform.SetMode(forgetest.Serving)
	f.clock.Advance(25*time.Second + forge.DefaultLeeway) // past exp + leeway
	if _, err := v.Verify(ctx, tok); !errors.Is(err, forge.ErrExpired) {
		t.Fatalf("cached token past its exp: %v, want ErrExpired", err)
	}
}

// TestVerifiedTokenCacheHonoursTokenChanges: the cache is keyed by the
// whole token, so a token differing in one byte is verified afresh.
func TestVerifiedTokenCacheHonoursTokenChanges(t *testing.T) {
	f := newFixture(t)
	tok := f.fit(t, agent)
	if _, err := f.verify(tok); err != nil {
		t.Fatal(err)
	}
	c := f.platform.Claims(f.inst, forgetest.Invocation{Principal: agent})
	c["principal"] = "557058:someone-else"
	other, err := f.platform.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	parts, otherParts := strings.Split(tok, "."), strings.Split(other, ".")
	spliced := parts[0] + "." + otherParts[1] + "." + parts[2]
	if _, err := f.verify(spliced); !errors.Is(err, forge.ErrBadSignature) {
		t.Fatalf("spliced token: %v, want ErrBadSignature", err)
	}
}
