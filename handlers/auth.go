package handlers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"agentpresence/handlers/bounded"
	"agentpresence/handlers/connect"
	"agentpresence/models"
)

// TenantStore is what authentication needs of the store.
type TenantStore interface {
	TenantByClientKey(ctx context.Context, clientKey string) (models.Tenant, error)
}

// TenantCache keeps recently used tenants in memory so that an authenticated
// request costs no database round trip. Lifecycle callbacks on this replica
// forget a tenant at once; other replicas forget it when the change bus
// delivers the change (Invalidate), and within its TTL at worst.
type TenantCache struct {
	store TenantStore
	// entries holds tenants by client key, bounded by their bytes; keys
	// maps a tenant id to its client key, for ForgetTenant.
	entries *bounded.Cache[string, models.Tenant]
	keys    *bounded.Cache[models.TenantID, string]
	// unknown remembers client keys the store did not know, so that a
	// flood of tokens naming one unknown issuer costs one lookup per TTL.
	// Any tenant change (an install, here or on another replica) clears
	// it, so a new tenant is known at once.
	unknown *bounded.Cache[string, struct{}]
	// verified remembers Connect tokens whose signature verified, by their
	// SHA-256, with the secret they verified with: a page's context token
	// is sent again and again for its 15 minutes. Each use still checks
	// exp/iat and the qsh, and the tenant as it is now (installed, enabled,
	// the same secret); only the decoding and the HMAC are spared.
	verified *bounded.Cache[[sha256.Size]byte, verifiedToken]
}

// verifiedToken is a Connect token that verified with secret.
type verifiedToken struct {
	claims *connect.Claims
	secret []byte
}

// Bounds of the tenant cache: tenants by their bytes (a tenant is about
// 0.5–2.5 KB: some 40,000 or more), and remembered unknown issuers, at most
// maxUnknownIssuerLen bytes each: about 2.5 MB. A longer key (no tenant has
// one: the column holds 255) is looked up each time, like any issuer an
// attacker makes up anew for each request.
const (
	maxTenantBytes      = 64 << 20
	maxUnknownIssuers   = 10_000
	maxUnknownIssuerLen = 255
	// tenantOverhead is what a cached tenant costs besides its strings.
	tenantOverhead = 256
	// maxVerifiedTokens bounds the remembered tokens (a few hundred bytes
	// each: some 20 MB at most); maxVerifiedTokenLen the tokens remembered
	// (a context token is 300–2,000 bytes), so that no one makes us hash a
	// long one.
	maxVerifiedTokens   = 50_000
	maxVerifiedTokenLen = 4096
	// verifiedTokenTTL is a context token's life; exp is checked on every
	// use anyway, this only bounds how long memory holds a token.
	verifiedTokenTTL = 15 * time.Minute
)

// NewTenantCache keeps the tenants store finds for ttl.
func NewTenantCache(store TenantStore, ttl time.Duration, now func() time.Time) *TenantCache {
	weigh := func(key string, t models.Tenant) uint32 {
		n := len(key) + len(t.SharedSecret) + len(t.SecretSealed) + len(t.BaseURL) + len(t.DisplayURL) + len(t.ProductType) +
			len(t.OAuthClientID) + len(t.Description) + len(t.ServerVersion) + len(t.PluginsVersion) + tenantOverhead
		return uint32(min(n, maxTenantBytes))
	}
	return &TenantCache{store: store,
		entries: bounded.New(bounded.Config[string, models.Tenant]{MaxWeight: maxTenantBytes, Weigh: weigh, TTL: ttl, Now: now}),
		// One id per cached tenant at most: a tenant weighs more than 1,600
		// bytes only rarely, so this bound is never the one that bites.
		keys:    bounded.New(bounded.Config[models.TenantID, string]{MaxWeight: maxTenantBytes / tenantOverhead, TTL: ttl, Now: now}),
		unknown: bounded.New(bounded.Config[string, struct{}]{MaxWeight: maxUnknownIssuers, TTL: ttl, Now: now}),
		verified: bounded.New(bounded.Config[[sha256.Size]byte, verifiedToken]{MaxWeight: maxVerifiedTokens,
			TTL: verifiedTokenTTL, Now: now}),
	}
}

// Get returns the tenant of a client key, installed or not.
func (tc *TenantCache) Get(ctx context.Context, clientKey string) (models.Tenant, error) {
	if t, ok := tc.entries.Get(clientKey); ok {
		return t, nil
	}
	if _, miss := tc.unknown.Get(clientKey); miss {
		return models.Tenant{}, fmt.Errorf("find tenant: %w", models.ErrNotFound)
	}
	t, err := tc.store.TenantByClientKey(ctx, clientKey)
	if errors.Is(err, models.ErrNotFound) && len(clientKey) <= maxUnknownIssuerLen {
		tc.unknown.Set(clientKey, struct{}{})
	}
	if err != nil {
		return models.Tenant{}, err
	}
	tc.entries.Set(clientKey, t)
	tc.keys.Set(t.ID, clientKey)
	return t, nil
}

// Forget drops a tenant so that the next request reads it afresh.
func (tc *TenantCache) Forget(clientKey string) {
	tc.unknown.Delete(clientKey)
	if t, ok := tc.entries.Get(clientKey); ok {
		tc.keys.Delete(t.ID)
	}
	tc.entries.Delete(clientKey)
}

// ForgetTenant drops a tenant by id.
func (tc *TenantCache) ForgetTenant(id models.TenantID) {
	if key, ok := tc.keys.Get(id); ok {
		tc.entries.Delete(key)
		tc.keys.Delete(id)
	}
}

// Invalidate is a models.ChangeFunc: it forgets a tenant that changed
// (installed, uninstalled, enabled, disabled, its settings), here or on
// another replica, and everything after a resync.
func (tc *TenantCache) Invalidate(_ context.Context, ch models.Change) {
	switch {
	case ch.Resync:
		tc.verified.Clear()
		tc.entries.Clear()
		tc.keys.Clear()
		tc.unknown.Clear()
	case ch.TenantChanged:
		// The change names the tenant by id, which a remembered miss does
		// not have; installs are rare, so every miss goes.
		tc.unknown.Clear()
		tc.ForgetTenant(ch.Tenant)
	case ch.SettingsChanged:
		tc.ForgetTenant(ch.Tenant)
	}
}

// TokenKind says which qsh a route accepts.
type TokenKind int

// The kinds of Connect token a route may require.
const (
	// RequestToken: iframe loads, webhooks and lifecycle callbacks, signed
	// by Jira for exactly that request (real qsh).
	RequestToken TokenKind = iota
	// ContextToken: our own pages calling our API with
	// AP.context.getToken(); qsh is "context-qsh".
	ContextToken
)

// Auth verifies the Connect JWT of incoming requests.
type Auth struct {
	Tenants  *TenantCache
	Verifier connect.Verifier
	// BasePath is BASE_URL's path; qsh paths are relative to it.
	BasePath string
	// Limits turn away an address that keeps sending bad tokens; nil: no
	// limit.
	Limits *Limiters
	// Forge verifies Forge Invocation Tokens (forgeauth.go); nil when the
	// service is not a Forge remote.
	Forge *ForgeAuth
}

const (
	ctxTenant  = "presence.tenant"
	ctxAccount = "presence.account"
)

// Require returns a middleware that lets a request through only with a
// valid token of the kind; it puts the tenant and account into the context.
// allowDisabled lets lifecycle callbacks reach a disabled tenant.
func (a *Auth) Require(kind TokenKind, allowDisabled bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			// The work is apart from this closure, which stays on the stack
			// while the request runs: a small frame lets a long-lived
			// stream's stack shrink.
			if err := a.authenticate(c, kind, allowDisabled); err != nil {
				return err
			}
			return next(c)
		}
	}
}

func (a *Auth) authenticate(c echo.Context, kind TokenKind, allowDisabled bool) error {
	if kind == ContextToken && a.Forge != nil && bearerRequest(c.Request()) {
		// The agent API takes a Forge Invocation Token too (forgeauth.go).
		return a.authenticateForge(c, forgeRoute{})
	}
	// Verified first, throttled after: a good token passes whatever else
	// its address sent. Verifying costs an HMAC and, for an issuer not in
	// the tenant cache, one lookup, which the cache remembers either way.
	t, claims, err := a.verify(c.Request(), kind)
	if err != nil {
		var apiErr *APIError
		if errors.As(err, &apiErr) && apiErr.Status == http.StatusUnauthorized {
			if wait, over := a.Limits.authFailed(c.RealIP()); over {
				return tooManyFailures(wait)
			}
		}
		return err
	}
	if sub := claims.AccountID(); sub != "" && !validAccountID(sub) {
		// Signed by the tenant, yet not an account id: it must reach no
		// cache, log or query (a 300-character sub was a 500).
		return badRequest("invalid_token_subject", "the token's sub is not an Atlassian account id")
	}
	if !t.Installed {
		// An uninstalled tenant's tokens stop working at once.
		return unauthorized("unknown_tenant", "the app is not installed for this site")
	}
	if !t.Enabled && !allowDisabled {
		return apiError(http.StatusForbidden, "tenant_disabled", "the app is disabled for this site")
	}
	c.Set(ctxTenant, t)
	c.Set(ctxAccount, claims.AccountID())
	return nil
}

func (a *Auth) verify(r *http.Request, kind TokenKind) (models.Tenant, *connect.Claims, error) {
	token, err := connect.TokenFromRequest(r)
	if err != nil {
		return models.Tenant{}, nil, unauthorized("no_token", "a Connect JWT is required (Authorization: JWT <token>)")
	}
	wantQSH := connect.RequestQSH(r, a.BasePath)
	var digest [sha256.Size]byte
	cacheable := len(token) <= maxVerifiedTokenLen
	if cacheable {
		digest = sha256.Sum256([]byte(token))
		if t, claims, ok, err := a.reverify(r.Context(), digest, wantQSH, kind); ok {
			return t, claims, err
		}
	}
	// Decoded once: the issuer picks the secret, then the same decoded
	// token is verified.
	parsed, err := connect.Parse(token)
	if err != nil {
		return models.Tenant{}, nil, unauthorized(connect.Reason(err), "the token cannot be read")
	}
	t, err := a.Tenants.Get(r.Context(), parsed.UnverifiedIssuer())
	switch {
	case errors.Is(err, models.ErrNotFound):
		return models.Tenant{}, nil, unauthorized("unknown_tenant", "the token's issuer is not an installed site")
	case err != nil:
		return models.Tenant{}, nil, fmt.Errorf("authenticate: %w", err)
	case t.IsForge():
		// A Forge installation has no shared secret to sign Connect tokens.
		return models.Tenant{}, nil, unauthorized("unknown_tenant", "the token's issuer is not an installed site")
	}
	claims, err := a.Verifier.VerifyParsedHS256(parsed, t.SharedSecret, wantQSH, kind == ContextToken)
	if err != nil {
		return models.Tenant{}, nil, unauthorized(connect.Reason(err), authMessage(err))
	}
	if cacheable {
		a.Tenants.verified.Set(digest, verifiedToken{claims: claims, secret: bytes.Clone(t.SharedSecret)})
	}
	return t, claims, nil
}

// reverify answers a token that verified before (ok), from its claims and
// the tenant as it is now; not ok: verify it afresh (unknown, or its
// tenant's secret changed since).
func (a *Auth) reverify(ctx context.Context, digest [sha256.Size]byte, wantQSH string, kind TokenKind) (models.Tenant, *connect.Claims, bool, error) {
	e, ok := a.Tenants.verified.Get(digest)
	if !ok {
		return models.Tenant{}, nil, false, nil
	}
	t, err := a.Tenants.Get(ctx, e.claims.Issuer)
	if err != nil || t.IsForge() || subtle.ConstantTimeCompare(t.SharedSecret, e.secret) != 1 {
		a.Tenants.verified.Delete(digest)
		return models.Tenant{}, nil, false, nil
	}
	if err := a.Verifier.CheckVerified(e.claims, wantQSH, kind == ContextToken); err != nil {
		return models.Tenant{}, nil, true, unauthorized(connect.Reason(err), authMessage(err))
	}
	return t, e.claims, true, nil
}

func authMessage(err error) string {
	switch {
	case errors.Is(err, connect.ErrExpired):
		return "the token has expired"
	case errors.Is(err, connect.ErrNotYetValid):
		return "the token is not valid yet (issued in the future)"
	case errors.Is(err, connect.ErrQSHMismatch):
		return "the token was not issued for this request (qsh)"
	case errors.Is(err, connect.ErrAlgorithm):
		return "the token's signing algorithm is not accepted"
	case errors.Is(err, connect.ErrBadSignature):
		return "the token's signature does not verify"
	}
	return "the token is not valid"
}

// tooManyFailures answers a refused token from an address that has spent
// its budget of refused tokens.
func tooManyFailures(retryAfter time.Duration) *APIError {
	e := tooManyRequests(retryAfter)
	e.Code, e.Message = "too_many_auth_failures", "too many refused tokens from this address; try again later"
	return e
}

func unauthorized(code, message string) *APIError {
	return &APIError{Status: http.StatusUnauthorized, Code: code, Message: message,
		Header: map[string]string{"WWW-Authenticate": `JWT realm="atlassian-connect"`}}
}

// tenantOf is the tenant the verified token belongs to: the only source of
// the tenant for any query a request makes.
func tenantOf(c echo.Context) models.Tenant {
	t, _ := c.Get(ctxTenant).(models.Tenant)
	return t
}

// accountOf is the verified token's user (sub); empty for app-level calls.
func accountOf(c echo.Context) string {
	a, _ := c.Get(ctxAccount).(string)
	return a
}
