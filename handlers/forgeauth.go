package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"agentpresence/handlers/forge"
	"agentpresence/handlers/jira"
	"agentpresence/models"
)

// ForgeStore is what Forge authentication needs of the store.
type ForgeStore interface {
	RegisterForge(ctx context.Context, in models.ForgeInstall, at time.Time) (models.ForgeRegistration, error)
	SaveForgeToken(ctx context.Context, t models.Tenant, token string, expiry, at time.Time) (bool, error)
}

// ForgeAuth verifies the Forge Invocation Tokens (FIT) of requests from
// Forge and turns them into the same tenant and user context a Connect JWT
// gives: the tenant is the FIT's installation (registered on first sight:
// Forge guarantees no install event), the user its principal. App builds
// it when FORGE_APP_ID is set; without it the Forge routes answer 404 and
// the agent API takes Connect JWTs only.
type ForgeAuth struct {
	Verifier *forge.Verifier
	Store    ForgeStore
	Log      *slog.Logger
	Now      func() time.Time
}

// ctxForge holds the verified *forge.Invocation of a Forge request.
const ctxForge = "presence.forge"

// forgeRoute says which invocations a route takes.
type forgeRoute struct {
	// backend routes take Forge's own calls only (events, lifecycle,
	// preUninstall, scheduled triggers: module core:endpoint, no user),
	// never a page's: a page's requestRemote FIT passes through the user's
	// browser, which could send it to any route with any headers. Only
	// these calls' system tokens are kept, for the same reason.
	backend bool
	// uninstalling lets the preUninstall call through for an installation
	// that is uninstalled already (a retry) or unknown, without
	// registering it.
	uninstalling bool
}

// backendModule is the module of every invocation Forge makes by itself.
const backendModule = "core:endpoint"

// RequireForge returns the middleware of the routes only Forge calls:
// a FIT of Forge's own invocations (events, lifecycle, triggers). With
// uninstalling, an installation that is uninstalled or unknown passes too
// (with no tenant when unknown).
func (a *Auth) RequireForge(uninstalling bool) echo.MiddlewareFunc {
	route := forgeRoute{backend: true, uninstalling: uninstalling}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if err := a.authenticateForge(c, route); err != nil {
				return err
			}
			return next(c)
		}
	}
}

// RequireForgeUI returns the middleware of routes only Forge pages call
// (the portal footer): a FIT of any UI module, the user optional.
func (a *Auth) RequireForgeUI() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if err := a.authenticateForge(c, forgeRoute{}); err != nil {
				return err
			}
			return next(c)
		}
	}
}

// bearerRequest reports whether r carries "Authorization: Bearer": the
// agent API then verifies a FIT instead of a Connect JWT.
func bearerRequest(r *http.Request) bool {
	_, err := forge.TokenFromRequest(r)
	return err == nil
}

// authenticateForge verifies the request's FIT and counts a refused one
// against its address, as refused Connect tokens are.
func (a *Auth) authenticateForge(c echo.Context, route forgeRoute) error {
	if a.Forge == nil {
		return apiError(http.StatusNotFound, "forge_disabled", "this service is not a Forge remote (FORGE_APP_ID is not set)")
	}
	err := a.Forge.authenticate(c, a.Tenants, route)
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusUnauthorized {
		if wait, over := a.Limits.authFailed(c.RealIP()); over {
			return tooManyFailures(wait)
		}
	}
	return err
}

func (f *ForgeAuth) authenticate(c echo.Context, tenants *TenantCache, route forgeRoute) error {
	r := c.Request()
	ctx := r.Context()
	inv, err := f.Verifier.VerifyRequest(r)
	if err != nil {
		return fitError(err)
	}
	if route.backend && (inv.Principal != "" || inv.ModuleType != backendModule) {
		return apiError(http.StatusForbidden, "not_a_forge_backend_call", "this route takes Forge's own event and trigger calls only")
	}
	t, err := tenants.Get(ctx, inv.InstallationID)
	switch {
	case errors.Is(err, models.ErrNotFound) && route.uninstalling:
		c.Set(ctxForge, inv) // nothing to stop, nothing to register
		return nil
	case errors.Is(err, models.ErrNotFound):
		if t, err = f.register(ctx, r, inv, route); err != nil {
			return err
		}
		tenants.Forget(inv.InstallationID)
	case err != nil:
		return fmt.Errorf("authenticate forge: %w", err)
	}
	if !t.IsForge() || t.Forge.CloudID != inv.CloudID {
		// An installation id is one site's: anything else is not ours.
		return unauthorizedFIT("unknown_tenant", "the token's installation is not one of this app's")
	}
	if !t.Installed && !route.uninstalling {
		// Uninstalled (preUninstall): its tokens stop at once.
		return unauthorizedFIT("unknown_tenant", "the app is not installed for this site")
	}
	if route.backend && t.Installed {
		t = f.keepSystemToken(ctx, r, t, tenants)
	}
	account := ""
	if !inv.Anonymous() {
		if !validAccountID(inv.Principal) {
			return badRequest("invalid_token_subject", "the token's principal is not an Atlassian account id")
		}
		account = inv.Principal
		// The user token serves this request's permission checks of its
		// user only (handlers/jira: WithUserToken), and is kept nowhere.
		if tok, err := forge.UserToken(r.Header); err == nil {
			c.SetRequest(r.WithContext(jira.WithUserToken(ctx, account, tok)))
		}
	}
	c.Set(ctxTenant, t)
	c.Set(ctxAccount, account)
	c.Set(ctxForge, inv)
	return nil
}

// register records an installation seen for the first time.
func (f *ForgeAuth) register(ctx context.Context, r *http.Request, inv *forge.Invocation, route forgeRoute) (models.Tenant, error) {
	in := forgeInstallOf(inv)
	if route.backend {
		if sys, err := forge.SystemToken(r.Header); err == nil {
			in.SystemToken, in.TokenExpiry = sys.Value(), sys.Expiry
		}
	}
	reg, err := f.Store.RegisterForge(ctx, in, f.Now())
	if err != nil {
		return models.Tenant{}, fmt.Errorf("register forge installation: %w", err)
	}
	if reg.Created {
		f.Log.InfoContext(ctx, "forge installation registered", "tenant", reg.Tenant.ID, "cloud_id", inv.CloudID,
			"environment", inv.EnvironmentType, "reattached_from", reg.ReattachedFrom)
	}
	return reg.Tenant, nil
}

// keepSystemToken stores the system token of a backend invocation when it
// outlives the one held, and returns the tenant as the request should see
// it. The token never reaches a log; a store failure keeps the old one.
func (f *ForgeAuth) keepSystemToken(ctx context.Context, r *http.Request, t models.Tenant, tenants *TenantCache) models.Tenant {
	raw := r.Header.Get(forge.SystemTokenHeader)
	if raw == "" || raw == string(t.SharedSecret) {
		return t
	}
	sys, err := forge.SystemToken(r.Header)
	if err != nil || (t.Forge.TokenExpiresAt != nil && !sys.Expiry.After(*t.Forge.TokenExpiresAt)) {
		return t
	}
	saved, err := f.Store.SaveForgeToken(ctx, t, sys.Value(), sys.Expiry, f.Now())
	if err != nil {
		f.Log.WarnContext(ctx, "forge system token not kept", "tenant", t.ID, "err", err)
		return t
	}
	tenants.Forget(t.ClientKey)
	if saved {
		exp := sys.Expiry
		t.SharedSecret, t.Forge.TokenExpiresAt = []byte(sys.Value()), &exp
	}
	return t
}

// forgeInstallOf is what an invocation tells about its installation.
func forgeInstallOf(inv *forge.Invocation) models.ForgeInstall {
	return models.ForgeInstall{InstallationID: inv.InstallationID, CloudID: inv.CloudID, SiteURL: inv.SiteURL,
		APIBaseURL: inv.APIBaseURL, Environment: inv.EnvironmentType, AppVersion: inv.AppVersion}
}

// invocationOf is the verified FIT of a Forge request; nil for Connect.
func invocationOf(c echo.Context) *forge.Invocation {
	inv, _ := c.Get(ctxForge).(*forge.Invocation)
	return inv
}

// fitError answers a FIT that did not verify: 401 with the reason (Forge
// reports it as INVALID_FORGE_INVOCATION_TOKEN), or 503 when the keys
// cannot be had, so that Forge retries: never an acceptance.
func fitError(err error) *APIError {
	if forge.HTTPStatus(err) == http.StatusServiceUnavailable {
		return &APIError{Status: http.StatusServiceUnavailable, Code: "forge_keys_unavailable",
			Message: "Forge's signing keys cannot be fetched now; try again", Header: map[string]string{"Retry-After": "30"}}
	}
	reason := forge.Reason(err)
	return unauthorizedFIT(reason, fitMessages[reason])
}

// fitMessages word the refusals of forge.Reason.
var fitMessages = map[string]string{
	"no_token":       "a Forge Invocation Token is required (Authorization: Bearer <token>)",
	"unknown_key":    "the token is signed with a key Forge does not publish",
	"malformed":      "the token cannot be read",
	"algorithm":      "the token's signing algorithm is not accepted (RS256 only)",
	"bad_signature":  "the token's signature does not verify",
	"expired":        "the token has expired",
	"not_yet_valid":  "the token is not valid yet",
	"issuer":         "the token was not issued by Forge",
	"audience":       "the token is not addressed to this app",
	"invalid_claims": "the token's claims are not those of a Forge invocation of this app",
	"invalid_token":  "the token is not valid",
}

func unauthorizedFIT(code, message string) *APIError {
	if message == "" {
		message = "the token is not valid"
	}
	return &APIError{Status: http.StatusUnauthorized, Code: code, Message: message,
		Header: map[string]string{"WWW-Authenticate": `Bearer realm="forge"`}}
}
