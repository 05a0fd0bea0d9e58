package bench

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Forge plays the Forge platform towards the app for the load harness:
// it signs Forge Invocation Tokens (RS256) with a key of its own and
// serves that key as a JWKS, which the app is pointed at with
// FORGE_JWKS_URL. An installation per seeded tenant, with the tenant's
// agents as principals.
type Forge struct {
	// AppID is the app's id, a UUID; the tokens' aud is its ARI.
	AppID string
	key   *rsa.PrivateKey
	kid   string
}

// NewForge makes a signing key (RSA 2048, as Forge uses).
func NewForge() (*Forge, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("forge key: %w", err)
	}
	return &Forge{AppID: randomUUID(), key: key, kid: "bench-" + randomUUID()[:8]}, nil
}

// Env is what the app needs to verify the tokens: its app id and where the
// keys are.
func (f *Forge) Env(jwksURL string) []string {
	return []string{"FORGE_APP_ID=" + f.AppID, "FORGE_JWKS_URL=" + jwksURL}
}

// ServeHTTP answers the JWKS.
func (f *Forge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b64 := base64.RawURLEncoding.EncodeToString
	body, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": f.kid,
		"n": b64(f.key.N.Bytes()), "e": b64(big.NewInt(int64(f.key.E)).Bytes()),
	}}})
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

// fitClaims are the claims of a Forge Invocation Token, as Forge sends
// them to a remote.
type fitClaims struct {
	jwt.RegisteredClaims
	App       fitApp     `json:"app"`
	Context   fitContext `json:"context"`
	Principal string     `json:"principal,omitempty"`
}

type fitApp struct {
	InstallationID string         `json:"installationId"`
	APIBaseURL     string         `json:"apiBaseUrl"`
	ID             string         `json:"id"`
	AppVersion     string         `json:"appVersion"`
	Environment    map[string]any `json:"environment"`
	Module         map[string]any `json:"module"`
}

type fitContext struct {
	CloudID   string `json:"cloudId"`
	SiteURL   string `json:"siteUrl"`
	ModuleKey string `json:"moduleKey"`
}

// Installation is the Forge identity the harness gives a seeded tenant.
type Installation struct {
	ID, CloudID, SiteURL, APIBaseURL string
}

// InstallationOf derives a stable installation from the tenant's index
// (seeded beside it with Spec.ForgeTwins). Its Jira API base is https on a
// closed loopback port: a FIT names https URLs, and the service's Jira
// client refuses loopback targets outside development, so nothing is
// dialled.
func InstallationOf(i int) Installation {
	cloud := fmt.Sprintf("00000000-0000-4000-8000-%012d", i+1)
	return Installation{
		ID:         fmt.Sprintf("ari:cloud:ecosystem::installation/10000000-0000-4000-8000-%012d", i+1),
		CloudID:    cloud,
		SiteURL:    fmt.Sprintf("https://127.0.0.1:9/site-%d", i+1),
		APIBaseURL: "https://127.0.0.1:9/ex/jira/" + cloud,
	}
}

// Token signs a FIT of the installation for principal, valid from now for
// ttl.
func (f *Forge) Token(in Installation, principal string, now time.Time, ttl time.Duration) (string, error) {
	appARI := "ari:cloud:ecosystem::app/" + f.AppID
	c := fitClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: "forge/invocation-token", Audience: jwt.ClaimStrings{appARI}, ID: randomUUID(),
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
		App: fitApp{InstallationID: in.ID, APIBaseURL: in.APIBaseURL, ID: appARI, AppVersion: "1.0.0",
			Environment: map[string]any{"type": "DEVELOPMENT", "id": "ari:cloud:ecosystem::environment/" + f.AppID + "/bench"},
			Module:      map[string]any{"type": "jira:globalPage", "key": "agent-status"}},
		Context:   fitContext{CloudID: in.CloudID, SiteURL: in.SiteURL, ModuleKey: "agent-status"},
		Principal: principal,
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	tok.Header["kid"] = f.kid
	s, err := tok.SignedString(f.key)
	if err != nil {
		return "", fmt.Errorf("sign FIT: %w", err)
	}
	return s, nil
}

func randomUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
