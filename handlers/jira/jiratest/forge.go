package jiratest

import (
	"net/http"
	"strings"

	"agentpresence/handlers/connect"
	"agentpresence/handlers/forge/forgetest"
)

// How an app authenticated a REST call (Request.Auth).
const (
	AuthJWT         = "jwt"
	AuthForgeSystem = "forge-system"
	AuthForgeUser   = "forge-user"
)

// OAuthChecker verifies the OAuth tokens of a Forge app's calls, as
// Atlassian's API gateway does; *forgetest.Platform is one.
type OAuthChecker interface {
	CheckOAuthToken(token string) (forgetest.OAuthClaims, error)
}

// ForgeOptions describe the Forge app installed on the site.
type ForgeOptions struct {
	// Tokens verifies the Bearer tokens.
	Tokens OAuthChecker
	// InstallationID and CloudID are the installation's: a token minted
	// for another installation or site is refused.
	InstallationID, CloudID string
	// BotChecksUsers lets the app's bot (the system token) ask about any
	// user's permissions. Off by default: Connect apps may do that without
	// admin rights, and Atlassian documents the exemption for Connect only,
	// so a Forge app must ask as the user (the user token).
	BotChecksUsers bool
}

// forgeApp is the Forge app installed on the site.
type forgeApp struct {
	ForgeOptions
}

// caller is who a REST call came from.
type caller struct {
	// kind is AuthJWT, AuthForgeSystem or AuthForgeUser.
	kind string
	// accountID is the user of a user token.
	accountID string
}

// EnableForge installs a Forge app on the site: from now on calls with
// "Authorization: Bearer <token>" are taken when o.Tokens verifies the
// token for o's installation and site, besides the Connect app's JWTs.
// The site's base URL plays the installation's app.apiBaseUrl.
func (s *Site) EnableForge(o ForgeOptions) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forge = &forgeApp{ForgeOptions: o}
}

// authenticate returns who made a REST call, or why it was refused.
func (s *Site) authenticate(r *http.Request, basePath string, secret []byte) (caller, string) {
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	s.mu.Lock()
	app := s.forge
	s.mu.Unlock()
	if app == nil || !strings.EqualFold(scheme, "Bearer") {
		// Without a Forge app only the Connect app's JWT can pass.
		return caller{kind: AuthJWT}, s.verifyApp(r, basePath, secret)
	}
	claims, err := app.Tokens.CheckOAuthToken(strings.TrimSpace(tok))
	switch {
	case err != nil:
		return caller{kind: AuthForgeSystem}, "bearer token: " + connect.Reason(err)
	case claims.InstallationID != app.InstallationID || claims.CloudID != app.CloudID:
		return caller{kind: AuthForgeSystem}, "the bearer token is for another installation"
	case claims.AccountID != "":
		return caller{kind: AuthForgeUser, accountID: claims.AccountID}, ""
	}
	return caller{kind: AuthForgeSystem}, ""
}

// permissionSubjectLocked says whose permissions a check asks about, or
// why the caller may not ask: a user token asks about its user (an empty
// accountId is "the user logged in"); anyone else needs Administer Jira
// on Forge, where the Connect exemption does not apply.
func (s *Site) permissionSubjectLocked(who caller, accountID string) (string, string) {
	switch who.kind {
	case AuthForgeUser:
		if accountID == "" || accountID == who.accountID {
			return who.accountID, ""
		}
		if u, ok := s.users[who.accountID]; ok && u.JiraAdmin {
			return accountID, ""
		}
		return "", "checking another user's permissions needs Administer Jira"
	case AuthForgeSystem:
		if accountID != "" && (s.forge == nil || !s.forge.BotChecksUsers) {
			return "", "the app's bot needs Administer Jira to check another user's permissions"
		}
	}
	return accountID, ""
}
