package jira

import (
	"context"
	"errors"
	"fmt"
	"time"

	"agentpresence/handlers/forge"
	"agentpresence/models"
)

// ErrNoSystemToken reports a call for a Forge installation whose app
// system token is missing or about to expire: Forge hands one over with
// each invocation that enables it (and the hourly trigger), and the app
// cannot ask for one. It comes wrapped with ErrUnavailable, so that
// callers treat it as Jira being away for a while.
var ErrNoSystemToken = errors.New("jira: no valid forge system token")

// tokenMargin is how long a Forge token must still be valid for a call to
// use it: a call may take up to DefaultTimeout.
const tokenMargin = time.Minute

// ForgeSite is the Site of a Forge installation: its app.apiBaseUrl
// (https://api.atlassian.com/ex/jira/<cloudId>) and its app system token,
// which every call carries as "Authorization: Bearer", never a Connect JWT.
func ForgeSite(apiBaseURL string, systemToken forge.OAuthToken) Site {
	return Site{BaseURL: apiBaseURL, Forge: true, SystemToken: systemToken}
}

// forgeSiteOf is the Site of a Forge tenant: its API base URL and its
// system token, which the store keeps sealed in the tenant's secret.
func forgeSiteOf(t models.Tenant) Site {
	var exp time.Time
	if t.Forge.TokenExpiresAt != nil {
		exp = *t.Forge.TokenExpiresAt
	}
	return ForgeSite(t.BaseURL, forge.NewOAuthToken(string(t.SharedSecret), exp))
}

// userTokenKey is the context key of the user token of a request.
type userTokenKey struct{}

type userToken struct {
	accountID string
	token     forge.OAuthToken
}

// WithUserToken returns ctx carrying the app user token Forge passed with
// a request of accountID (x-forge-oauth-user). Permission checks of that
// user for a Forge installation are then asked as the user: Connect's
// exemption that lets an app check any user does not apply to Forge apps,
// whose bot would need Administer Jira. The token lives as long as the
// request's context, never longer.
func WithUserToken(ctx context.Context, accountID string, token forge.OAuthToken) context.Context {
	return context.WithValue(ctx, userTokenKey{}, userToken{accountID: accountID, token: token})
}

// asUser returns site set to call as accountID, with the user token ctx
// carries for that user, when it is a Forge site and the token is still
// valid at now.
func asUser(ctx context.Context, site Site, accountID string, now time.Time) (Site, bool) {
	u, ok := ctx.Value(userTokenKey{}).(userToken)
	if !site.Forge || !ok || accountID == "" || u.accountID != accountID || !u.token.Valid(now, tokenMargin) {
		return site, false
	}
	site.bearer = u.token
	return site, true
}

// bearerHeader is the Authorization header of a call to a Forge site: the
// user token chosen for this call, else the system token.
func (s Site) bearerHeader(now time.Time) (string, error) {
	tok := s.SystemToken
	if s.bearer.Value() != "" {
		tok = s.bearer
	}
	if !tok.Valid(now, tokenMargin) {
		return "", fmt.Errorf("%w: %w", ErrUnavailable, ErrNoSystemToken)
	}
	return "Bearer " + tok.Value(), nil
}

// now is the client's clock.
func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}
