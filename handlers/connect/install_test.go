package connect

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// keyServer is a fake connect-install-keys server.
type keyServer struct {
	*httptest.Server
	hits atomic.Int32
}

// newKeyServer serves pems by kid and answers 404 for anything else.
func newKeyServer(t *testing.T, pems map[string][]byte) *keyServer {
	t.Helper()
	ks := &keyServer{}
	ks.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ks.hits.Add(1)
		body, ok := pems[strings.TrimPrefix(r.URL.Path, "/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(body)
	}))
	t.Cleanup(ks.Close)
	return ks
}

// installFixture bundles what an install test needs.
type installFixture struct {
	now       time.Time
	key       *rsa.PrivateKey
	pubPEM    []byte
	audience  string
	clientKey string
	qsh       string
}

func newInstallFixture(t *testing.T) installFixture {
	t.Helper()
	key := newRSAKey(t)
	pubPEM, err := EncodePublicKeyPEM(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return installFixture{
		now:       testNow(),
		key:       key,
		pubPEM:    pubPEM,
		audience:  "https://presence.example.com",
		clientKey: "3f2a1b9c-client",
		qsh:       QSH("POST", "/installed", "", ""),
	}
}

// claims returns valid install claims, modified by mod.
func (f installFixture) claims(mod func(*Claims)) *Claims {
	c := &Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    f.clientKey,
			Audience:  jwt.ClaimStrings{f.audience},
			IssuedAt:  jwt.NewNumericDate(f.now),
			ExpiresAt: jwt.NewNumericDate(f.now.Add(3 * time.Minute)),
		},
		QSH: f.qsh,
	}
	if mod != nil {
		mod(c)
	}
	return c
}

func TestInstallVerifier(t *testing.T) {
	f := newInstallFixture(t)
	other := newRSAKey(t)
	ks := newKeyServer(t, map[string][]byte{"kid-1": f.pubPEM, "bad-pem": []byte("not a pem")})

	rs := func(kid string, c *Claims) string {
		return signWith(t, jwt.SigningMethodRS256, c, f.key, map[string]any{"kid": kid})
	}
	good, err := SignInstallRS256(f.key, "kid-1", f.clientKey, f.audience, f.qsh, f.now, 3*time.Minute)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		given    string // token
		audience string // defaults to the fixture's
		expect   error
	}{
		{name: "ok", given: good},
		{name: "aud with trailing slash in token", given: rs("kid-1", f.claims(func(c *Claims) { c.Audience = jwt.ClaimStrings{f.audience + "/"} }))},
		{name: "aud with trailing slash expected", given: good, audience: f.audience + "/"},
		{name: "aud among several", given: rs("kid-1", f.claims(func(c *Claims) { c.Audience = jwt.ClaimStrings{"https://other", f.audience} }))},
		{name: "wrong aud", given: rs("kid-1", f.claims(func(c *Claims) { c.Audience = jwt.ClaimStrings{"https://evil.example.com"} })), expect: ErrAudience},
		{name: "aud prefix is not enough", given: rs("kid-1", f.claims(func(c *Claims) { c.Audience = jwt.ClaimStrings{f.audience + ".evil"} })), expect: ErrAudience},
		{name: "missing aud", given: rs("kid-1", f.claims(func(c *Claims) { c.Audience = nil })), expect: ErrAudience},
		{name: "iss is not client key", given: rs("kid-1", f.claims(func(c *Claims) { c.Issuer = "other-client" })), expect: ErrIssuer},
		{name: "qsh mismatch", given: rs("kid-1", f.claims(func(c *Claims) { c.QSH = QSH("POST", "/uninstalled", "", "") })), expect: ErrQSHMismatch},
		{name: "context qsh never allowed", given: rs("kid-1", f.claims(func(c *Claims) { c.QSH = ContextQSH })), expect: ErrQSHMismatch},
		{name: "expired", given: rs("kid-1", f.claims(func(c *Claims) { c.ExpiresAt = jwt.NewNumericDate(f.now.Add(-time.Minute)) })), expect: ErrExpired},
		{name: "expired within leeway", given: rs("kid-1", f.claims(func(c *Claims) { c.ExpiresAt = jwt.NewNumericDate(f.now.Add(-5 * time.Second)) }))},
		{name: "missing exp", given: rs("kid-1", f.claims(func(c *Claims) { c.ExpiresAt = nil })), expect: ErrMalformed},
		{name: "signed by another key", given: signWith(t, jwt.SigningMethodRS256, f.claims(nil), other, map[string]any{"kid": "kid-1"}), expect: ErrBadSignature},
		{name: "unknown kid", given: rs("kid-2", f.claims(nil)), expect: ErrUnknownKey},
		{name: "garbled key", given: rs("bad-pem", f.claims(nil)), expect: ErrKeyUnavailable},
		{name: "missing kid", given: signWith(t, jwt.SigningMethodRS256, f.claims(nil), f.key, nil), expect: ErrMalformed},
		{name: "kid path traversal", given: rs("../kid-1", f.claims(nil)), expect: ErrMalformed},
		{name: "kid with query", given: rs("kid-1?x", f.claims(nil)), expect: ErrMalformed},
		{name: "kid dot-dot", given: rs("..", f.claims(nil)), expect: ErrMalformed},
		{name: "kid not a string", given: signWith(t, jwt.SigningMethodRS256, f.claims(nil), f.key, map[string]any{"kid": 7}), expect: ErrMalformed},
		{name: "unsigned", given: signWith(t, jwt.SigningMethodNone, f.claims(nil), jwt.UnsafeAllowNoneSignatureType, map[string]any{"kid": "kid-1"}), expect: ErrAlgorithm},
		{name: "HS256 signed with the public key PEM", given: signWith(t, jwt.SigningMethodHS256, f.claims(nil), f.pubPEM, map[string]any{"kid": "kid-1"}), expect: ErrAlgorithm},
		{name: "RS512", given: signWith(t, jwt.SigningMethodRS512, f.claims(nil), f.key, map[string]any{"kid": "kid-1"}), expect: ErrAlgorithm},
		{name: "PS256", given: signWith(t, jwt.SigningMethodPS256, f.claims(nil), f.key, map[string]any{"kid": "kid-1"}), expect: ErrAlgorithm},
		{name: "garbage", given: "not.a.token", expect: ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := &InstallVerifier{KeysURL: ks.URL, Leeway: 10 * time.Second, Now: fixedClock(f.now)}
			aud := tt.audience
			if aud == "" {
				aud = f.audience
			}
			got, err := v.Verify(context.Background(), tt.given, aud, f.qsh, f.clientKey)
			expectErr(t, err, tt.expect, tt.given)
			if tt.expect == nil && got.Issuer != f.clientKey {
				t.Errorf("iss = %q", got.Issuer)
			}
		})
	}
}

func TestInstallVerifierKidNeverReachesServer(t *testing.T) {
	f := newInstallFixture(t)
	ks := newKeyServer(t, map[string][]byte{"kid-1": f.pubPEM})
	v := &InstallVerifier{KeysURL: ks.URL, Now: fixedClock(f.now)}
	for _, kid := range []string{"../kid-1", "a/b", "a%2Fb", "", strings.Repeat("k", 129), "k id"} {
		tok := signWith(t, jwt.SigningMethodRS256, f.claims(nil), f.key, map[string]any{"kid": kid})
		_, err := v.Verify(context.Background(), tok, f.audience, f.qsh, f.clientKey)
		expectErr(t, err, ErrMalformed)
	}
	if n := ks.hits.Load(); n != 0 {
		t.Errorf("key server called %d times for unsafe kids", n)
	}
}

func TestInstallVerifierKeyServerFailures(t *testing.T) {
	f := newInstallFixture(t)
	tok, err := SignInstallRS256(f.key, "kid-1", f.clientKey, f.audience, f.qsh, f.now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	verify := func(t *testing.T, ctx context.Context, v *InstallVerifier) error {
		t.Helper()
		v.Now = fixedClock(f.now)
		_, err := v.Verify(ctx, tok, f.audience, f.qsh, f.clientKey)
		return err
	}

	t.Run("server down", func(t *testing.T) {
		// given a key server that is no longer listening
		ks := newKeyServer(t, nil)
		ks.Close()
		// when verifying, expect the key to be unavailable (503, retry)
		err := verify(t, context.Background(), &InstallVerifier{KeysURL: ks.URL})
		expectErr(t, err, ErrKeyUnavailable)
		if Reason(err) != "key_unavailable" {
			t.Errorf("reason = %q", Reason(err))
		}
	})
	t.Run("server error", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "boom", http.StatusBadGateway)
		}))
		defer srv.Close()
		expectErr(t, verify(t, context.Background(), &InstallVerifier{KeysURL: srv.URL}), ErrKeyUnavailable)
	})
	t.Run("rate limited", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusTooManyRequests)
		}))
		defer srv.Close()
		expectErr(t, verify(t, context.Background(), &InstallVerifier{KeysURL: srv.URL}), ErrKeyUnavailable)
	})
	t.Run("slow server times out", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}))
		defer srv.Close()
		defer close(release)
		start := time.Now()
		err := verify(t, context.Background(), &InstallVerifier{KeysURL: srv.URL, FetchTimeout: 50 * time.Millisecond})
		expectErr(t, err, ErrKeyUnavailable)
		if elapsed := time.Since(start); elapsed > 2*time.Second {
			t.Errorf("fetch took %s despite the timeout", elapsed)
		}
	})
	t.Run("caller context cancelled", func(t *testing.T) {
		ks := newKeyServer(t, map[string][]byte{"kid-1": f.pubPEM})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		expectErr(t, verify(t, ctx, &InstallVerifier{KeysURL: ks.URL}), ErrKeyUnavailable)
	})
	t.Run("non RSA key", func(t *testing.T) {
		pub, _, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		edPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		ks := newKeyServer(t, map[string][]byte{"kid-1": edPEM})
		err = verify(t, context.Background(), &InstallVerifier{KeysURL: ks.URL})
		expectErr(t, err, ErrKeyUnavailable)
		if !strings.Contains(err.Error(), "not RSA") {
			t.Errorf("error = %v, want a non-RSA key complaint", err)
		}
	})
}

func TestInstallVerifierCache(t *testing.T) {
	f := newInstallFixture(t)
	ks := newKeyServer(t, map[string][]byte{"kid-1": f.pubPEM, "kid-2": f.pubPEM, "kid-3": f.pubPEM})
	v := &InstallVerifier{KeysURL: ks.URL, Now: fixedClock(f.now), CacheSize: 2}

	verify := func(kid string) {
		t.Helper()
		tok, err := SignInstallRS256(f.key, kid, f.clientKey, f.audience, f.qsh, f.now, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(context.Background(), tok, f.audience, f.qsh, f.clientKey); err != nil {
			t.Fatalf("verify %s: %v", kid, err)
		}
	}

	// given two verifications with the same kid
	verify("kid-1")
	verify("kid-1")
	// expect one fetch
	if n := ks.hits.Load(); n != 1 {
		t.Fatalf("key server called %d times, want 1", n)
	}

	// given more kids than the cache holds
	verify("kid-2")
	verify("kid-3")
	// expect the cache to stay bounded and the oldest kid to be refetched
	v.mu.Lock()
	size := len(v.keys)
	v.mu.Unlock()
	if size > 2 {
		t.Errorf("cache holds %d keys, want <= 2", size)
	}
	verify("kid-1")
	if n := ks.hits.Load(); n != 4 {
		t.Errorf("key server called %d times, want 4", n)
	}
}

func TestSignInstallRS256Rejects(t *testing.T) {
	f := newInstallFixture(t)
	if _, err := SignInstallRS256(nil, "k", "c", "a", "q", f.now, time.Minute); err == nil {
		t.Error("nil key accepted")
	}
	if _, err := SignInstallRS256(f.key, "../k", "c", "a", "q", f.now, time.Minute); err == nil {
		t.Error("unsafe kid accepted")
	}
	if _, err := EncodePublicKeyPEM(nil); err == nil {
		t.Error("nil public key accepted")
	}
}
