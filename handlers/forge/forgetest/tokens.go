package forgetest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"agentpresence/handlers/forge"
)

// Installation is one installation of the app on a site, as a FIT
// describes it.
type Installation struct {
	// ID is the installation ARI, "ari:cloud:ecosystem::installation/<uuid>".
	ID string
	// CloudID is the site's UUID.
	CloudID string
	// SiteURL is the site's URL (context.siteUrl).
	SiteURL string
	// APIBaseURL is where the app calls the site (app.apiBaseUrl); for the
	// stand-in, a loopback Jira simulator.
	APIBaseURL string
	// EnvironmentType is DEVELOPMENT, STAGING or PRODUCTION.
	EnvironmentType string
	// License, when set, is the FIT's app.license.active: Forge sends a
	// license for paid apps in production only (nil: none).
	License *bool
}

// NewInstallation returns an installation with fresh ids on a site whose
// REST API answers at apiBaseURL.
func NewInstallation(apiBaseURL, siteURL string) Installation {
	return Installation{
		ID:              "ari:cloud:ecosystem::installation/" + newUUID(),
		CloudID:         newUUID(),
		SiteURL:         siteURL,
		APIBaseURL:      apiBaseURL,
		EnvironmentType: "DEVELOPMENT",
	}
}

// Invocation says who and what a FIT is for. A zero Module means a UI
// invocation of the "presence" global page.
type Invocation struct {
	// Principal is the user in session; "" for events and triggers.
	Principal string
	// ModuleType and ModuleKey name the invoking module ("core:endpoint"
	// for triggers).
	ModuleType, ModuleKey string
	// Backend leaves out the context claim, as Forge does for events and
	// triggers.
	Backend bool
}

// Claims returns the full claim set of a FIT for inst and inv, issued now:
// tests change it to build attack tokens before Sign.
func (p *Platform) Claims(inst Installation, inv Invocation) jwt.MapClaims {
	now := p.now()
	appUUID := strings.TrimPrefix(p.appID, "ari:cloud:ecosystem::app/")
	if inv.ModuleType == "" {
		inv.ModuleType, inv.ModuleKey = "jira:globalPage", "presence"
	}
	envType := inst.EnvironmentType
	if envType == "" {
		envType = "DEVELOPMENT"
	}
	claims := jwt.MapClaims{
		"iss": forge.Issuer,
		"aud": p.appID,
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"exp": now.Add(p.FITTTL).Unix(),
		"jti": newID(),
		"app": map[string]any{
			"id":             p.appID,
			"version":        "1",
			"appVersion":     "1.0.0",
			"installationId": inst.ID,
			"apiBaseUrl":     inst.APIBaseURL,
			"installation": map[string]any{
				"id": inst.ID,
				"contexts": []any{map[string]any{
					"name": "jira", "apiBaseUrl": inst.APIBaseURL, "cloudId": inst.CloudID,
				}},
			},
			"environment": map[string]any{
				"type": envType,
				"id":   "ari:cloud:ecosystem::environment/" + appUUID + "/" + newUUID(),
			},
			"module": map[string]any{"type": inv.ModuleType, "key": inv.ModuleKey},
		},
	}
	if inst.License != nil {
		claims["app"].(map[string]any)["license"] = map[string]any{"active": *inst.License, "type": "commercial", "isEvaluation": false}
	}
	if !inv.Backend {
		claims["context"] = map[string]any{
			"localId": newUUID(), "cloudId": inst.CloudID, "moduleKey": inv.ModuleKey,
			"siteUrl": inst.SiteURL, "extension": map[string]any{"type": inv.ModuleType},
		}
	}
	if inv.Principal != "" {
		claims["principal"] = inv.Principal
	}
	return claims
}

// Sign signs claims as Forge does: RS256 with the current key, its kid in
// the header.
func (p *Platform) Sign(claims jwt.MapClaims) (string, error) {
	k, err := p.current()
	if err != nil {
		return "", err
	}
	return SignRS256(k.key, k.kid, claims)
}

// FIT mints a valid FIT for inst and inv.
func (p *Platform) FIT(inst Installation, inv Invocation) (string, error) {
	return p.Sign(p.Claims(inst, inv))
}

// SystemToken mints the stand-in's app system token for inst: a JWT whose
// exp Forge's consumers read, signed with a secret of the platform so that
// a Jira stand-in can check it with CheckOAuthToken.
func (p *Platform) SystemToken(inst Installation) (string, time.Time, error) {
	return p.oauthToken(inst, "")
}

// UserToken mints the stand-in's app user token for inst and accountID.
func (p *Platform) UserToken(inst Installation, accountID string) (string, time.Time, error) {
	if accountID == "" {
		return "", time.Time{}, errors.New("forgetest: user token without a user")
	}
	return p.oauthToken(inst, accountID)
}

func (p *Platform) oauthToken(inst Installation, accountID string) (string, time.Time, error) {
	now := p.now()
	exp := now.Add(p.OAuthTTL)
	claims := jwt.MapClaims{
		"iss": "forgetest/oauth", "aud": "api.atlassian.com", "iat": now.Unix(), "exp": exp.Unix(),
		"installationId": inst.ID, "cloudId": inst.CloudID, "jti": newID(),
	}
	if accountID != "" {
		claims["sub"] = accountID
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(p.tokenSecret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("forgetest: oauth token: %w", err)
	}
	return tok, time.Unix(exp.Unix(), 0), nil
}

// OAuthClaims is what a stand-in OAuth token says.
type OAuthClaims struct {
	InstallationID string
	CloudID        string
	// AccountID is the user of a user token, "" for the system token.
	AccountID string
}

// CheckOAuthToken verifies a token minted by SystemToken or UserToken, as
// Atlassian's API gateway would: a Jira stand-in calls it on every
// "Authorization: Bearer" request.
func (p *Platform) CheckOAuthToken(token string) (OAuthClaims, error) {
	var c struct {
		jwt.RegisteredClaims
		InstallationID string `json:"installationId"`
		CloudID        string `json:"cloudId"`
	}
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return p.tokenSecret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithTimeFunc(p.now),
		jwt.WithExpirationRequired(), jwt.WithIssuer("forgetest/oauth"))
	if err != nil {
		return OAuthClaims{}, fmt.Errorf("forgetest: check oauth token: %w", err)
	}
	return OAuthClaims{InstallationID: c.InstallationID, CloudID: c.CloudID, AccountID: c.Subject}, nil
}

// SignRS256 signs claims with key under kid: attack tables use it to sign
// with keys Forge never published.
func SignRS256(key any, kid string, claims jwt.Claims) (string, error) {
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("forgetest: sign: %w", err)
	}
	return s, nil
}

// newUUID returns a random version 4 UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics instead)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// newID returns a random 20-byte hex id, the shape of Forge's jti.
func newID() string {
	var b [20]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
